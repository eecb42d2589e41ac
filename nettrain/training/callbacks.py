"""Training callbacks: the `Callback` base class and the ones every fit uses: best-epoch
tracking, early stopping, the history record and the checkpoint writer.

A callback subclasses `Callback` and overrides the hooks it needs (the others do nothing).
The trainer calls them in list order, except that the best-epoch tracker (the first
`EarlyStopping` or `Best` among them) runs first, so the others see the updated best.
Printing lives in `nettrain.training.output`.
"""

import math

from nettrain.nn.metrics import metric_mode
from nettrain.store import rundir


class Callback:
    """The base of every callback: hooks the trainer calls, each doing nothing here.

    Hooks:
        on_train_begin(trainer): before the first epoch.
        on_epoch_begin(trainer, epoch): before an epoch's first batch (epoch counts from 1).
        on_after_backward(trainer, batch): the gradients are ready, before clipping and the
            optimizer step (batch counts from 0).
        on_batch_end(trainer, batch): after the optimizer step.
        on_epoch_end(trainer, logs): after validation; `logs` holds the epoch's values.
        on_train_end(trainer): in a `finally`, so a crash still closes a live display.

    The per-batch hooks cost nothing when no callback overrides them.
    """

    def on_train_begin(self, trainer):
        pass

    def on_epoch_begin(self, trainer, epoch):
        pass

    def on_after_backward(self, trainer, batch):
        pass

    def on_batch_end(self, trainer, batch):
        pass

    def on_epoch_end(self, trainer, logs):
        pass

    def on_train_end(self, trainer):
        pass

    @classmethod
    def overrides(cls, hook):
        """Whether this class does something in `hook`."""
        return getattr(cls, hook) is not getattr(Callback, hook)


def history_columns(metrics, has_val):
    """history.csv columns: epoch, train_loss, val_loss, each metric and its val_ twin, lr, seconds."""
    columns = ["epoch", "train_loss"] + (["val_loss"] if has_val else [])
    for name in metrics:
        columns += [name] + ([f"val_{name}"] if has_val else [])
    return columns + ["lr", "seconds"]


def monitor_mode(monitor, mode=None):
    """'min' or 'max' for a logged value; `mode` wins when given ('auto' infers)."""
    if mode in ("min", "max"):
        return mode
    return metric_mode("loss" if monitor == "train_loss" else monitor, "training.early_stopping.monitor")


# ---------------------------------------------------------------- recording


class History(Callback):
    """Keeps one logs dict per epoch and appends each as a row of history.csv.

    A column a row lacks (val_* without a val split) is written empty.

    Args:
        columns: the history.csv header (see `history_columns`).
        path: the history.csv to append to, or None to keep rows in memory only.
        rows: earlier epochs' logs, when a run is resumed.
    """

    def __init__(self, columns, path=None, rows=()):
        self.columns = list(columns)
        self.path = path
        self.rows = list(rows)

    def on_epoch_end(self, trainer, logs):
        self.rows.append(dict(logs))
        if self.path is not None:
            rundir.append_csv_row(self.path, self.columns, [logs.get(c, "") for c in self.columns])

    def rewrite(self):
        """Write all rows afresh (a resumed run drops epochs its checkpoint does not have)."""
        rundir.write_csv(self.path, self.columns, [[r.get(c, "") for c in self.columns] for r in self.rows])


class Checkpoint(Callback):
    """Writes checkpoint.npz after every epoch, and on demand when a run is interrupted."""

    def __init__(self, path):
        self.path = path

    def on_epoch_end(self, trainer, logs):
        self.save(trainer)

    def save(self, trainer):
        rundir.save_checkpoint(self.path, *trainer.state_dict())


class Best(Callback):
    """Tracks the best value of one logged quantity (the trainer's `best`).

    Improvement means `value < best - min_delta` in "min" mode and `value > best + min_delta`
    in "max" mode (Keras's and Lightning's definition).
    """

    def __init__(self, monitor="val_loss", mode=None, min_delta=0.0):
        self.monitor = monitor
        self.mode = monitor_mode(monitor, mode)
        self.min_delta = abs(float(min_delta))
        self.value = math.inf if self.mode == "min" else -math.inf
        self.epoch = None

    def on_epoch_end(self, trainer, logs):
        self.update(logs)

    def update(self, logs):
        """Record `logs` if it improves on the best; return whether it did."""
        value = float(logs[self.monitor])
        if self.mode == "min":
            improved = value < self.value - self.min_delta
        else:
            improved = value > self.value + self.min_delta
        if improved:
            self.value, self.epoch = value, int(logs["epoch"])
        return improved

    def state_dict(self):
        return {"monitor": self.monitor, "value": self.value, "epoch": self.epoch}

    def load_state_dict(self, state):
        self.value, self.epoch = float(state["value"]), state["epoch"]


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved for `patience` epochs; keep the best weights.

    Args:
        monitor: a logged value such as val_loss or val_accuracy.
        mode: "min", "max" or "auto" (inferred from the metric).
        patience: epochs without improvement before stopping; None never stops (the
            best weights are still kept: `training.save: best` without early stopping).
        min_delta: the smallest change that counts as an improvement.
        restore_best: give the model the best epoch's weights when training ends, however it ends.
    """

    def __init__(self, monitor="val_loss", mode="auto", patience=10, min_delta=0.0, restore_best=True):
        self.best = Best(monitor, mode, min_delta)
        self.patience = None if patience is None else int(patience)
        self.restore_best = bool(restore_best)
        self.wait = 0
        self.best_weights = None

    @property
    def monitor(self):
        return self.best.monitor

    def on_epoch_end(self, trainer, logs):
        if self.best.update(logs):
            self.wait = 0
            if self.restore_best:
                self.best_weights = trainer.model.state_dict()  # copies
        else:
            self.wait += 1
            if self.patience is not None and self.wait >= self.patience:
                trainer.request_stop(
                    "early_stopping",
                    f"early stopping: {self.monitor} did not improve for {self.patience} epochs",
                )

    def restore(self, model):
        """Load the best weights into `model`; return the epoch they come from, or None."""
        if not self.restore_best or self.best_weights is None:
            return None
        model.load_state_dict(self.best_weights)
        return self.best.epoch

    def state_dict(self):
        """(arrays, meta): the best weights as arrays, the counters as JSON-able values."""
        meta = {"best": self.best.state_dict(), "wait": self.wait}
        return (self.best_weights or {}), meta

    def load_state_dict(self, arrays, meta):
        self.best.load_state_dict(meta["best"])
        self.wait = int(meta["wait"])
        self.best_weights = dict(arrays) or None
