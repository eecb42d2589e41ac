"""The training loop: epochs of mini-batches, validation, callbacks, divergence checks, state."""

import math
import time

from nettrain.backend import blas_threads, default_rng, is_array, quiet_overflow, take_rows, xp
from nettrain.errors import DivergenceError
from nettrain.nn.metrics import LoggedMetrics
from nettrain.nn.model import flat_buffers
from nettrain.training.callbacks import Best, Callback, EarlyStopping

# Rows evaluated per forward pass in evaluation mode: bounds memory on large splits.
EVAL_CHUNK = 8192
# An epoch whose train loss is this many times the run's first batch loss has diverged, even
# if every number is still finite (Adam with an absurd learning rate "completes" that way).
DIVERGED_RATIO = 1e6


# ---------------------------------------------------------------- the position inside an epoch


class EpochState:
    """Where an epoch stands: its sample order, the next batch and the running sums.

    An interrupted run saves this in its checkpoint, so a resumed run finishes the epoch on
    the same batches and reports the same train loss and metrics as an uninterrupted one.
    """

    def __init__(self, order, outputs, batch=0, loss_sum=0.0, seconds=0.0):
        self.order = order
        self.outputs = outputs
        self.batch = batch
        self.loss_sum = loss_sum
        self.seconds = seconds

    def arrays(self):
        out = {"order": self.order}
        if self.outputs is not None:
            out["outputs"] = self.outputs
        return out

    def meta(self):
        return {"batch": self.batch, "loss_sum": self.loss_sum, "seconds": self.seconds}

    @classmethod
    def restore(cls, arrays, meta):
        return cls(arrays["order"], arrays.get("outputs"), int(meta["batch"]),
                   float(meta["loss_sum"]), float(meta["seconds"]))


# ---------------------------------------------------------------- the trainer


class Trainer:
    """Trains a model on (X, y) for a number of epochs of mini-batches.

    Batches are consecutive slices of the train split, in a fresh random order each epoch
    when `shuffle` is true. The train loss of an epoch is the mean of its batch losses
    weighted by batch size (the data loss; the regularization penalty is left out so it
    compares with val_loss); validation runs in evaluation mode after the epoch.

    Args:
        model, loss, optimizer: the core objects (see docs/architecture.md).
        epochs: the epoch to train up to; batch_size, shuffle: how batches are made.
        schedule: sets the optimizer's lr each epoch and steps on the epoch's logs.
        metrics: a `LoggedMetrics` (names, the link, the binary decision, the target's
            units), logged on train and (with a `val_` prefix) on val; None logs none.
        rng: the Generator that shuffles.
        callbacks: `Callback` instances (see nettrain.training.callbacks). The first
            `EarlyStopping` or `Best` among them tracks the best epoch (`trainer.best`) and
            runs before the others, so they see it updated; without one, `fit` adds a
            `Best` of val_loss when there is a val split, else of train_loss.
    """

    def __init__(self, model, loss, optimizer, *, epochs, batch_size=32, shuffle=True,
                 schedule=None, metrics=None, rng=None, callbacks=()):
        self.model, self.loss, self.optimizer, self.schedule = model, loss, optimizer, schedule
        self.epochs, self.batch_size, self.shuffle = int(epochs), int(batch_size), bool(shuffle)
        self.metrics = metrics if metrics is not None else LoggedMetrics()
        self.rng = default_rng(rng if rng is not None else 0)
        self.callbacks = list(callbacks)  # `_all_callbacks` puts the best-epoch tracker first
        self.epoch = 0  # epochs completed
        self.position = None  # an EpochState while an epoch is under way
        self.stopped, self.stopped_text = None, None
        self.n_batches = 0
        self.first_loss = None  # the loss of the run's first batch, before any update

    # -------------------------------------------------------------- the loop

    def train(self, train, val=None):
        """Train until `epochs` or a stop request; return the stopped reason."""
        X, y = train
        self.n_batches = math.ceil(len(X) / self.batch_size)
        if self._tracker() is None:
            self.callbacks.insert(0, Best("val_loss" if val is not None else "train_loss"))
        callbacks = self._all_callbacks()
        self._batch_hooks = {hook: [c for c in callbacks if c.overrides(hook)]
                             for hook in ("on_after_backward", "on_batch_end")}
        self._allocate(X, y)
        if self.schedule is not None:  # a per-batch schedule (one_cycle) needs the run's length
            self.schedule.start(self.optimizer, self.n_batches, self.epochs)
        # Non-finite values are caught and explained by the divergence checks, so overflow
        # warnings would only repeat them, in the middle of the table.
        errstate = quiet_overflow()
        try:
            self._call("on_train_begin")
            with errstate, blas_threads(self.batch_size):
                while self.stopped is None and self.epoch < self.epochs:
                    self._run_epoch(X, y, val)
            if self.stopped is None:
                self.stopped, self.stopped_text = "completed", f"completed {self.epochs} epochs"
        finally:
            self._call("on_train_end")
        return self.stopped

    def request_stop(self, reason, text):
        """Stop training at the next batch boundary, or once the epoch ends when its batches
        are done; the first request wins (`stopped`, `stopped_text`).

        A stop inside an epoch leaves `position` where it stopped, so a checkpoint resumes
        the epoch there. An interrupted fit calls it from its signal handlers (see
        nettrain.training.signals), callbacks from their hooks (early stopping at an epoch's end).
        """
        if self.stopped is None:
            self.stopped, self.stopped_text = reason, text

    @property
    def early_stopping(self):
        """The EarlyStopping that tracks the best epoch, or None."""
        tracker = self._tracker()
        return tracker if isinstance(tracker, EarlyStopping) else None

    @property
    def best(self):
        """The best epoch so far, a `Best` (early stopping's own when it tracks), or None."""
        tracker = self._tracker()
        return tracker.best if isinstance(tracker, EarlyStopping) else tracker

    def _tracker(self):
        return next((c for c in self.callbacks if isinstance(c, (EarlyStopping, Best))), None)

    def _all_callbacks(self):
        """The best-epoch tracker first, then the other callbacks in their order."""
        tracker = self._tracker()
        callbacks = ([tracker] if tracker is not None else []) + [c for c in self.callbacks
                                                                  if c is not tracker]
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"{type(callback).__name__} is not a Callback: subclass "
                                "nettrain.training.callbacks.Callback and override its hooks.")
        return callbacks

    def _call(self, hook, *args):
        for callback in self._all_callbacks():
            getattr(callback, hook)(self, *args)

    def _allocate(self, X, y):
        # Batch buffers are filled with take_rows(..., out=) so no batch allocates new arrays.
        self._x_buffer = xp.empty((self.batch_size,) + X.shape[1:], X.dtype) if self.shuffle else None
        self._y_buffer = xp.empty((self.batch_size,) + y.shape[1:], y.dtype) if self.shuffle else None

    def _new_epoch_state(self, X):
        n = len(X)
        return EpochState(self.rng.permutation(n) if self.shuffle else xp.arange(n), None)

    def _run_epoch(self, X, y, val):
        epoch = self.epoch + 1
        if self.position is None:
            self.position = self._new_epoch_state(X)
        state = self.position
        lr = self.schedule.lr if self.schedule is not None else self.optimizer.lr
        self.optimizer.lr = lr
        self._call("on_epoch_begin", epoch)
        started = time.perf_counter()
        if not self._train_batches(X, y, state, epoch):
            state.seconds += time.perf_counter() - started
            return
        logs = self._epoch_logs(epoch, state, y, val, lr)
        logs["seconds"] = state.seconds + time.perf_counter() - started
        self._end_epoch(logs)

    def _train_batches(self, X, y, state, epoch):
        """Run the epoch's remaining batches; False when a stop request cut it short."""
        n = len(X)
        for b in range(state.batch, self.n_batches):
            start, stop = b * self.batch_size, min(n, (b + 1) * self.batch_size)
            x_batch, y_batch = self._batch(X, y, state.order, start, stop)
            output, loss = self._step(x_batch, y_batch, epoch, b)
            state.loss_sum += loss * (stop - start)
            if self.metrics.names:
                if state.outputs is None:  # the epoch's outputs, for train metrics
                    state.outputs = xp.empty((n,) + output.shape[1:], output.dtype)
                state.outputs[start:stop] = output
            state.batch = b + 1
            if self.stopped is not None and state.batch < self.n_batches:
                return False
        return True

    def _batch(self, X, y, order, start, stop):
        if not self.shuffle:
            return X[start:stop], y[start:stop]
        m = stop - start
        index = order[start:stop]
        x_batch = take_rows(X, index, self._x_buffer[:m])
        y_batch = take_rows(y, index, self._y_buffer[:m])
        return x_batch, y_batch

    def _step(self, x_batch, y_batch, epoch, batch):
        """One forward, backward and optimizer step; (output, loss)."""
        output = self.model.forward(x_batch, training=True)
        loss = float(self.loss.forward(output, y_batch))
        if not math.isfinite(loss):
            raise self._diverged(epoch, batch, f"the loss is {loss}", self._first_bad_output(x_batch))
        if self.first_loss is None:
            self.first_loss = loss
        self.model.backward(self.loss.backward())
        if self.schedule is not None:  # a per-batch schedule (one_cycle) sets this step's lr
            self.schedule.before_step(batch)
        # The optimizer adds the L1/L2 penalties' gradients, shows the result to `inspect`,
        # clips it, then updates (see nettrain.nn.optimizer_hooks).
        self.optimizer.step(self.model.named_params(),
                            inspect=lambda named: self._inspect_gradients(named, epoch, batch))
        for callback in self._batch_hooks["on_batch_end"]:
            callback.on_batch_end(self, batch)
        return output, loss

    def _inspect_gradients(self, named, epoch, batch):
        """The complete gradient, before clipping: the divergence check, then the callbacks."""
        self._check_gradients(named, epoch, batch)
        for callback in self._batch_hooks["on_after_backward"]:
            callback.on_after_backward(self, batch)

    def _end_epoch(self, logs):
        self._check_growth(logs)
        self.position = None
        self.epoch = logs["epoch"]
        if self.schedule is not None:
            self.schedule.step(logs)
        self._call("on_epoch_end", logs)  # the best-epoch tracker first

    # -------------------------------------------------------------- logs and evaluation

    def _epoch_logs(self, epoch, state, y, val, lr):
        n = len(state.order)
        logs = {"epoch": epoch, "train_loss": state.loss_sum / n}
        train_scores = {}
        if self.metrics.names:
            y_seen = y if not self.shuffle else xp.take(y, state.order, axis=0)
            train_scores = self.metrics(y_seen, state.outputs)
        val_scores = self.evaluate(*val) if val is not None else {}
        if val is not None:
            logs["val_loss"] = val_scores["loss"]
        for name in self.metrics.names:
            logs[name] = train_scores[name]
            if val is not None:
                logs[f"val_{name}"] = val_scores[name]
        logs["lr"] = float(lr)
        logs["loss"] = logs["train_loss"]  # the name schedules and early stopping may monitor
        return logs

    def predict_outputs(self, X):
        """The model's raw outputs on X in evaluation mode, computed in chunks."""
        result = None
        for start in range(0, len(X), EVAL_CHUNK):
            out = self.model.forward(X[start:start + EVAL_CHUNK], training=False)
            if result is None:
                result = xp.empty((len(X),) + out.shape[1:], out.dtype)
            result[start:start + len(out)] = out
        return result

    def evaluate(self, X, y):
        """{"loss": ..., metric: ...} on one split, in evaluation mode."""
        outputs = self.predict_outputs(X)
        return {"loss": float(self.loss.forward(outputs, y)), **self.metrics(y, outputs)}

    # -------------------------------------------------------------- divergence

    def _check_gradients(self, named, epoch, batch):
        # One BLAS dot product over the model's flat gradient buffer on the healthy path (a
        # third of the time of a sum): the squared norm is non-finite iff some entry is (or
        # a gradient exceeds 1e19, divergence too); only then look layer by layer.
        flat = flat_buffers(named)
        grads = [flat[1]] if flat is not None else [grad for _, _, grad in named]
        if math.isfinite(sum(float(xp.vdot(g, g)) for g in grads)):
            return
        key = next((key for key, _, grad in reversed(named) if not xp.isfinite(grad).all()), None)
        where = ""
        if key is not None:
            _, index, name = key.split(".", 2)
            where = (f" Going back from the output, the first non-finite gradient is {name} "
                     f"of model.layers[{index}].")
        what = "a gradient is not finite" if key is not None else "the gradient norm overflows"
        raise self._diverged(epoch, batch, what, where)

    def _check_growth(self, logs):
        """A finite train loss DIVERGED_RATIO times the first batch's is divergence too."""
        first = self.first_loss
        if first is None or logs["train_loss"] <= DIVERGED_RATIO * max(first, 1e-3):
            return
        raise DivergenceError(
            f"Training diverged in epoch {logs['epoch']}: its train loss {logs['train_loss']:.4g} "
            f"is over {DIVERGED_RATIO:g} times the first batch's loss ({first:.4g}). Try a lower "
            f"learning rate (optimizer.lr is {self.optimizer.lr:g}), gradient clipping "
            f"(training.clip_norm: 1.0), or scaled inputs (data.scale: standard; "
            f"data.scale_target: standard for regression)."
        )

    def _first_bad_output(self, x):
        """Which step of the forward pass first produced a non-finite value (a sentence)."""
        if not xp.isfinite(x).all():
            return " The batch's inputs themselves hold NaN or inf: check the data."
        for i, layer in enumerate(self.model.layers):
            x = layer.forward(x, training=False)
            if not xp.isfinite(x).all():
                return f" The first non-finite output is that of model.layers[{i}] ({layer.describe()})."
        return ""

    def _diverged(self, epoch, batch, what, where):
        return DivergenceError(
            f"Training diverged in epoch {epoch}, batch {batch + 1} of {self.n_batches}: {what}."
            f"{where} Try a lower learning rate (optimizer.lr is {self.optimizer.lr:g}), gradient "
            f"clipping (training.clip_norm: 1.0), or scaled inputs (data.scale: standard; "
            f"data.scale_target: standard for regression)."
        )

    # -------------------------------------------------------------- state for checkpoints

    def state_dict(self):
        """(arrays, meta): everything a resumed run needs to continue bit for bit."""
        arrays = {"model": self.model.state_dict()}
        meta = {"epoch": self.epoch, "stopped": self.stopped, "first_loss": self.first_loss,
                "rng": {"shuffle": self.rng.bit_generator.state, "model": self.model.rng_state()},
                "best": self.best.state_dict()}
        for name, part in (("optimizer", self.optimizer), ("schedule", self.schedule)):
            if part is not None:
                arrays[name], meta[name] = split_state(part.state_dict())
        if self.early_stopping is not None:
            arrays["best_weights"], meta["early_stopping"] = self.early_stopping.state_dict()
        if self.position is not None:
            arrays["position"], meta["position"] = self.position.arrays(), self.position.meta()
        return arrays, meta

    def load_state_dict(self, arrays, meta):
        """Restore what `state_dict` saved (the model's architecture must match)."""
        self.model.load_state_dict(arrays["model"])
        self.epoch = int(meta["epoch"])
        self.first_loss = meta.get("first_loss")
        self.rng.bit_generator.state = meta["rng"]["shuffle"]
        self.model.set_rng_state(meta["rng"]["model"])
        for name, part in (("optimizer", self.optimizer), ("schedule", self.schedule)):
            if part is not None:
                part.load_state_dict({**meta.get(name, {}), **arrays.get(name, {})})
        if self.early_stopping is not None:
            self.early_stopping.load_state_dict(arrays.get("best_weights", {}), meta["early_stopping"])
        else:
            if self.best is None:
                self.callbacks.insert(0, Best(meta["best"]["monitor"]))
            self.best.load_state_dict(meta["best"])
        if "position" in meta:
            self.position = EpochState.restore(arrays["position"], meta["position"])


def split_state(state):
    """A component's state_dict split into (arrays, JSON-able scalars) for a checkpoint."""
    arrays = {k: v for k, v in state.items() if is_array(v)}
    return arrays, {k: v for k, v in state.items() if k not in arrays}
