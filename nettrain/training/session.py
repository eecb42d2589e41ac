"""One fit: the model, loss and optimizer a config describes, trained into a run directory."""

import math

import numpy as np

from nettrain.build.model import build_model
from nettrain.config.loading import check_against_data
from nettrain.errors import ConfigError, DivergenceError, Interrupted, NettrainError
from nettrain.nn.metrics import LoggedMetrics, confusion_matrix, never_predicted, positive_index
from nettrain.nn.model import save_model
from nettrain.nn.optimizer_hooks import gradient_hooks
from nettrain.nn.optimizers import get_optimizer
from nettrain.nn.schedules import get_schedule
from nettrain.store import rundir
from nettrain.training import diagnostics
from nettrain.training.callbacks import Best, Checkpoint, EarlyStopping, History, history_columns
from nettrain.training.loggers import check_extras, make_loggers
from nettrain.training.output import make_reporter, print_summary
from nettrain.training.signals import stop_on_signals
from nettrain.training.trainer import Trainer


def generators(seed):
    """(model, shuffle) Generators: independent streams from the run's one seed.

    The model's Generator draws the initial weights and then the dropout masks; the other
    one draws each epoch's sample order.
    """
    model_seed, shuffle_seed = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(model_seed), np.random.default_rng(shuffle_seed)


def build_trainer(config, dataset, callbacks=(), init=True):
    """A Trainer for `config` on `dataset`, its model initialized (from init_from if `init`)."""
    model_rng, shuffle_rng = generators(config["seed"])
    model, loss = build_model(config, dataset.preprocessor, rng=model_rng, load_init=init)
    optimizer = get_optimizer(config["optimizer"])
    training, regularization = config["training"], config["regularization"]
    for hook in gradient_hooks(regularization["l1"], regularization["l2"], training["clip_norm"],
                               training["clip_value"]):
        optimizer.add_hook(hook)
    monitor = "val_loss" if "val" in dataset.splits else "train_loss"
    tracker = keeper(training["early_stopping"], training["save"], monitor) or Best(monitor)
    return Trainer(
        model, loss, optimizer,
        epochs=training["epochs"], batch_size=training["batch_size"], shuffle=training["shuffle"],
        schedule=get_schedule(config["schedule"], optimizer.lr),
        metrics=logged_metrics(config, dataset, loss), rng=shuffle_rng,
        callbacks=[tracker, *callbacks],
    )


def logged_metrics(config, dataset, loss):
    """The config's metrics, scored in the target's units with the run's binary decision."""
    inverse = dataset.preprocessor.inverse_target if dataset.task == "regression" else None
    return LoggedMetrics(config["metrics"], loss.link, inverse,
                         pos=positive_index(dataset.classes, config["data"]["pos_label"]),
                         threshold=config["threshold"])


def keeper(stopping, save, monitor):
    """The EarlyStopping callback for `training.early_stopping` and `training.save`, or None.

    save: best keeps the best epoch's weights (by the early-stopping monitor, else
    `monitor`), also without early stopping; last keeps the last epoch's; auto is best when
    early stopping restores them (its restore_best), else last.
    """
    if stopping:
        restore = stopping["restore_best"] if save == "auto" else save == "best"
        return EarlyStopping(**{**stopping, "restore_best": restore})
    if save == "best":
        return EarlyStopping(monitor=monitor, patience=None, restore_best=True)
    return None


class Session:
    """Trains the parts of one config into a run directory and writes its files.

    Args:
        config: the resolved Config; dataset: its prepared data.
        console, quiet: where and how much to print.
        callbacks: extra callbacks, after the history and checkpoint writers.
        resuming: skip `model.init_from`, as the checkpoint will provide the weights.
    """

    def __init__(self, config, dataset, *, console, quiet=False, callbacks=(), resuming=False):
        self.config, self.dataset = config, dataset
        self.console, self.quiet = console, quiet
        self.extra = list(callbacks)
        check_against_data(config, dataset)
        check_extras(config["training"]["log"])  # before any run directory is made
        self.columns = history_columns(config["metrics"], "val" in dataset.splits)
        self.trainer = build_trainer(config, dataset, init=not resuming)
        self.history_rows = []

    def restore(self, path, arrays, meta):
        """Continue the run in `path` from its checkpoint, keeping its history up to that epoch."""
        saved = path / rundir.PREPROCESS
        now = self.dataset.preprocessor.to_json()
        if saved.exists() and saved.read_text(encoding="utf-8").strip() != now:
            raise NettrainError(
                f"The data has changed since {path} was trained: its preprocessing (feature "
                f"statistics, levels or classes) differs from {saved}. Resuming would not continue "
                f"the same run; start a new one."
            )
        try:
            self.trainer.load_state_dict(arrays, meta)
        except (KeyError, ValueError, TypeError, ConfigError) as err:
            raise NettrainError(f"The checkpoint in {path} does not fit the config's model and "
                                f"optimizer ({err}); it cannot be resumed.") from None
        header, rows = rundir.read_history(path / rundir.HISTORY)
        rows = [dict(zip(header, row)) for row in rows]
        self.history_rows = [r for r in rows if int(r["epoch"]) <= self.trainer.epoch]

    def run(self, path):
        """Train into `path`; return the result written to metrics.json."""
        trainer = self.trainer
        self._write_start(path)
        # Every run's history.csv has the same header; val_* stay empty without a val split.
        header = history_columns(self.config["metrics"], has_val=True)
        history = History(header, path / rundir.HISTORY, self.history_rows)
        history.rewrite()
        checkpoint = Checkpoint(path / rundir.CHECKPOINT)
        reporter = make_reporter(self.console, self.columns, trainer.epochs, self.quiet)
        recorders, reports = diagnostics.make_callbacks(
            self.config["training"]["diagnostics"], path, self.console, self.quiet)
        loggers = make_loggers(self.config, path, header, self.console)  # training.log
        trainer.callbacks += ([history, *recorders, checkpoint, *loggers, *self.extra]
                              + ([reporter] if reporter else []) + reports)
        splits = self.dataset.splits
        status = "FAILED"  # of the run, for the trackers
        try:
            with stop_on_signals(trainer.request_stop):
                try:
                    trainer.train(splits["train"], splits.get("val"))
                except DivergenceError as err:
                    raise DivergenceError(f"{err} {self._kept(path)}") from None
                if trainer.stopped == "interrupted":
                    checkpoint.save(trainer)
                result = self._finish(path)
                status = "KILLED" if trainer.stopped == "interrupted" else "FINISHED"
        except KeyboardInterrupt:  # a second Ctrl-C: stop at once, but say where the run is
            status = "KILLED"
            raise Interrupted(f"Training was stopped at once by a second signal. {path} keeps "
                              f"{self._last_checkpoint(path)}") from None
        finally:
            for logger in loggers:
                logger.finish(path, status)
        stopped = self._stopped_text()
        print_summary(self.console, result, path, stopped, self.quiet)
        if trainer.stopped == "interrupted":
            raise Interrupted(
                f"Training was {stopped}; the checkpoint and files are saved in "
                f"{path}. Resume with: nettrain fit --resume {path}"
            )
        return result

    def _stopped_text(self):
        """Why training stopped; an interruption says where ('interrupted by SIGINT in epoch 3
        after batch 5', 'interrupted by SIGTERM before epoch 4')."""
        trainer = self.trainer
        if trainer.stopped != "interrupted":
            return trainer.stopped_text
        where = (f"in epoch {trainer.epoch + 1} after batch {trainer.position.batch}"
                 if trainer.position is not None else f"before epoch {trainer.epoch + 1}")
        return f"{trainer.stopped_text} {where}"

    def _last_checkpoint(self, path):
        try:
            _, meta = rundir.load_checkpoint(path / rundir.CHECKPOINT)
        except NettrainError:
            return "no checkpoint yet: start a new run."
        return (f"the checkpoint of epoch {meta['epoch']}. Resume with: nettrain fit --resume "
                f"{path}")

    def _write_start(self, path):
        rundir.write_text(path / rundir.CONFIG, self.config.to_yaml())
        rundir.write_text(path / rundir.PREPROCESS, self.dataset.preprocessor.to_json() + "\n")
        if self.quiet:
            return
        self.console.print(f"Run directory: {path}", markup=False, highlight=False, soft_wrap=True)
        for note in self.dataset.notes:
            self.console.print(f"  {note}", markup=False, highlight=False, soft_wrap=True)
        if self.trainer.epoch or self.trainer.position is not None:
            self.console.print(self._resume_text(), highlight=False)

    def _resume_text(self):
        """Where a resumed run continues: 'Resuming at epoch 4, batch 3 of 7.'"""
        trainer = self.trainer
        done = trainer.position.batch if trainer.position is not None else 0
        n = math.ceil(len(self.dataset.splits["train"][0]) / trainer.batch_size)
        return (f"Resuming at epoch {trainer.epoch + 1}, batch {done + 1} of {n} "
                f"(after epoch {trainer.epoch}" + (f" and {done} batch(es)" if done else "") + ").")

    def _kept(self, path):
        epoch = self.trainer.epoch
        if epoch == 0:
            return f"No epoch finished; {path} keeps the config and preprocessing only."
        return (f"{path} keeps the history and checkpoint of epoch {epoch}, the last good one; "
                f"after changing the config, start a new run.")

    def _finish(self, path):
        """Restore the best weights if asked, save them, and score them on every split."""
        trainer = self.trainer
        restored = trainer.early_stopping.restore(trainer.model) if trainer.early_stopping else None
        with rundir.atomic_open(path / rundir.MODEL, "wb") as f:
            save_model(trainer.model, f)
        result = {split: trainer.evaluate(X, y) for split, (X, y) in self.dataset.splits.items()}
        best = trainer.best
        result.update(
            best_epoch=best.epoch, monitor=best.monitor,
            best_value=best.value if best.epoch is not None else None,
            weights_epoch=restored if restored is not None else trainer.epoch,
            weights="best" if restored is not None else "last",
            stopped_reason=trainer.stopped, epochs_run=trainer.epoch,
        )
        rundir.write_json(path / rundir.METRICS_FILE, result)
        self._warn_never_predicted()
        return result

    def _warn_never_predicted(self):
        """A warning for each class of the val split (else train) the model never predicts."""
        dataset, trainer = self.dataset, self.trainer
        split = "val" if "val" in dataset.splits else "train"
        if dataset.task != "classification" or self.quiet:
            return
        X, y = dataset.splits[split]
        pred = trainer.metrics.predicted_classes(trainer.predict_outputs(X))
        cm = confusion_matrix(y, pred, len(dataset.classes))
        missed = never_predicted(cm, dataset.classes)
        if missed:
            counts = cm.sum(axis=1)
            listed = ", ".join(f"{c!r} ({int(counts[dataset.classes.index(c)])} row(s))"
                               for c in missed[:10])
            more = f" and {len(missed) - 10} more" if len(missed) > 10 else ""
            fix = ("a lower threshold (e.g. threshold: 0.3)" if len(dataset.classes) == 2 else
                   "more rows of those classes")
            self.console.print(
                f"Warning: the model never predicts {listed}{more} on the {split} split. "
                f"For rare classes try loss.class_weights: balanced, or {fix}.",
                markup=False, highlight=False, soft_wrap=True)
