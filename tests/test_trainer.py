"""The training loop: batches, logged losses and metrics, schedules, early stopping, divergence."""

import inspect
import math

import numpy as np
import pytest

from nettrain.errors import ConfigError, DivergenceError
from nettrain.nn.losses import get_loss
from nettrain.nn.metrics import LoggedMetrics
from nettrain.nn.model import Model
from nettrain.nn.optimizer_hooks import ClipValue, L2Penalty
from nettrain.nn.optimizers import get_optimizer
from nettrain.nn.schedules import get_schedule
from nettrain.training.callbacks import Best, Callback, EarlyStopping
from nettrain.training.trainer import Trainer

LAYERS = [{"type": "dense", "units": 8, "activation": "tanh"}, {"type": "dense", "units": 3}]


def blobs(n=50, seed=0, dtype=np.float32):
    """Three Gaussian blobs in 2-D: (X, y) with int64 labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.normal(size=(n, 2)) + np.array([[0, 0], [3, 0], [0, 3]])[y]
    return X.astype(dtype), y.astype(np.int64)


class Recorder:
    """Wraps a model and records the batches it trains on."""

    def __init__(self, inner):
        self.inner, self.batches = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def forward(self, x, training=False):
        if training:
            self.batches.append(np.array(x))
        return self.inner.forward(x, training=training)


class LossRecorder:
    """Wraps a loss and records each value and batch size."""

    def __init__(self, inner):
        self.inner, self.values, self.sizes = inner, [], []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def forward(self, output, y):
        value = self.inner.forward(output, y)
        self.values.append(float(value))
        self.sizes.append(len(y))
        return value


def make_trainer(layers=LAYERS, lr=0.05, seed=0, schedule=None, metrics=(), **kwargs):
    model = Model(layers, 2, "float32", rng=np.random.default_rng(seed))
    optimizer = get_optimizer({"name": "adam", "lr": lr})
    loss = get_loss("cross_entropy")
    kwargs.setdefault("epochs", 3)
    kwargs.setdefault("batch_size", 8)
    return Trainer(model, loss, optimizer, rng=np.random.default_rng(seed + 1),
                   schedule=get_schedule(schedule, lr), metrics=LoggedMetrics(metrics, loss.link),
                   **kwargs)


class Logs(Callback):
    def __init__(self):
        self.rows = []

    def on_epoch_end(self, trainer, logs):
        self.rows.append(dict(logs))


def test_the_trainer_takes_at_most_ten_parameters():
    parameters = list(inspect.signature(Trainer).parameters)
    assert len(parameters) <= 10, parameters
    # clipping and L1/L2 are optimizer hooks, the binary decision and the target's units go
    # with LoggedMetrics, early stopping and the monitor are callbacks, signals are outside
    moved = {"clip_norm", "clip_value", "l1", "l2", "pos", "threshold", "inverse_target",
             "early_stopping", "monitor", "stop_flag"}
    assert not moved & set(parameters)


def test_callbacks_see_the_penalized_gradient_before_clipping_and_the_clipped_one_after():
    X, y = blobs(16)
    trainer = make_trainer(epochs=1, batch_size=16, shuffle=False)
    dense = trainer.model.layers[0]
    trainer.optimizer.add_hook(ClipValue(1e-3))
    trainer.optimizer.add_hook(L2Penalty(100.0))  # added last, runs first: penalties before clipping
    seen = {}

    class Look(Callback):
        def on_after_backward(self, t, b):
            seen["W"] = dense.params["W"].copy()
            seen["before"] = dense.grads["W"].copy()

        def on_batch_end(self, t, b):
            seen["after"] = dense.grads["W"].copy()

    trainer.callbacks.append(Look())
    trainer.train((X, y))
    # the penalty 100 W (entries of 7 to 77) dwarfs the data gradient (below 1): the callback
    # sees the penalized gradient, unclipped
    assert np.abs(seen["before"] - 100.0 * seen["W"]).max() < 1.0
    assert np.abs(seen["before"]).max() > 1.0
    np.testing.assert_array_equal(seen["after"], np.clip(seen["before"], -1e-3, 1e-3))


def test_batches_are_consecutive_slices_of_each_epochs_permutation():
    X, y = blobs(21)
    trainer = make_trainer(epochs=2, batch_size=8)
    trainer.model = spy = Recorder(trainer.model)
    trainer.train((X, y))
    shuffler = np.random.default_rng(1)
    for epoch in range(2):
        order = shuffler.permutation(21)
        seen = spy.batches[epoch * 3:(epoch + 1) * 3]
        assert [len(b) for b in seen] == [8, 8, 5]
        assert np.array_equal(np.concatenate(seen), X[order])


def test_without_shuffle_batches_follow_the_file_order():
    X, y = blobs(20)
    trainer = make_trainer(epochs=2, batch_size=6, shuffle=False)
    trainer.model = spy = Recorder(trainer.model)
    trainer.train((X, y))
    assert [len(b) for b in spy.batches] == [6, 6, 6, 2] * 2
    assert np.array_equal(np.concatenate(spy.batches[:4]), X)


def test_train_loss_is_the_batch_size_weighted_mean_and_val_loss_is_in_eval_mode():
    X, y = blobs(45)
    Xv, yv = blobs(20, seed=1)
    layers = [{"type": "dense", "units": 16, "activation": "relu"}, {"type": "dropout", "rate": 0.5},
              {"type": "dense", "units": 3}]
    logs = Logs()
    trainer = make_trainer(layers, epochs=1, batch_size=10, metrics=["accuracy"], callbacks=[logs])
    trainer.loss = spy = LossRecorder(trainer.loss)
    trainer.train((X, y), (Xv, yv))
    n_train = 5  # batches of 10, 10, 10, 10, 5
    values, sizes = np.array(spy.values[:n_train]), np.array(spy.sizes[:n_train])
    row = logs.rows[0]
    assert row["train_loss"] == pytest.approx(float((values * sizes).sum() / sizes.sum()), rel=1e-12)
    evaluated = trainer.evaluate(Xv, yv)  # evaluation mode: no dropout, so repeatable
    assert row["val_loss"] == evaluated["loss"] == trainer.evaluate(Xv, yv)["loss"]
    assert row["val_accuracy"] == evaluated["accuracy"]
    assert set(row) >= {"epoch", "train_loss", "val_loss", "accuracy", "val_accuracy", "lr", "seconds"}


def test_lr_column_is_the_lr_used_in_that_epoch():
    X, y = blobs(16)
    logs = Logs()
    schedule = {"name": "step", "step_size": 1, "gamma": 0.5}
    trainer = make_trainer(lr=0.1, epochs=3, schedule=schedule, callbacks=[logs])
    seen = []

    class SeeLR(Callback):
        def on_epoch_begin(self, trainer, epoch):
            seen.append(trainer.optimizer.lr)

    trainer.callbacks.append(SeeLR())
    trainer.train((X, y))
    assert [r["lr"] for r in logs.rows] == pytest.approx([0.1, 0.05, 0.025])
    assert seen == pytest.approx([0.1, 0.05, 0.025])


def test_plateau_schedule_reads_its_monitor_from_the_logs():
    X, y = blobs(16)
    logs = Logs()
    plateau = {"name": "plateau", "monitor": "val_accuracy", "mode": "max", "patience": 0, "factor": 0.5,
               "eps": 0.0}
    trainer = make_trainer(lr=1e-9, epochs=4, schedule=plateau, metrics=["accuracy"], callbacks=[logs])
    trainer.train((X, y), blobs(9, seed=2))
    # lr 1e-9 leaves the predictions as they are, so val_accuracy never improves after the
    # first epoch and, with patience 0, each later epoch halves the lr.
    assert [r["lr"] for r in logs.rows] == pytest.approx([1e-9, 1e-9, 5e-10, 2.5e-10])


def test_hooks_run_in_order_and_train_end_runs_after_a_crash():
    X, y = blobs(16)
    calls = []

    class Spy(Callback):
        def on_train_begin(self, t): calls.append("begin")
        def on_epoch_begin(self, t, e): calls.append(f"epoch{e}")
        def on_after_backward(self, t, b): calls.append("backward")
        def on_batch_end(self, t, b): calls.append("batch")
        def on_epoch_end(self, t, logs): calls.append("end")
        def on_train_end(self, t): calls.append("train_end")

    trainer = make_trainer(epochs=1, batch_size=8, callbacks=[Spy()])
    trainer.train((X, y))
    assert calls == ["begin", "epoch1", "backward", "batch", "backward", "batch", "end", "train_end"]

    class Boom(Callback):
        def on_batch_end(self, t, b): raise RuntimeError("boom")

    calls.clear()
    trainer = make_trainer(epochs=1, callbacks=[Boom(), Spy()])
    with pytest.raises(RuntimeError):
        trainer.train((X, y))
    assert calls[-1] == "train_end"


def test_a_stop_request_during_the_batches_stops_at_the_next_batch_boundary():
    X, y = blobs(40)

    class Press(Callback):
        def on_batch_end(self, t, b):
            if b == 1:
                t.request_stop("interrupted", "interrupted by SIGINT")
                t.request_stop("pruned", "a later request, ignored")

    trainer = make_trainer(epochs=3, batch_size=8, callbacks=[Press()])
    assert trainer.train((X, y)) == "interrupted"
    assert trainer.epoch == 0 and trainer.position.batch == 2
    assert trainer.stopped_text == "interrupted by SIGINT"


def test_a_stop_request_during_the_last_batch_or_at_the_epoch_end_finishes_the_epoch():
    X, y = blobs(40)  # five batches of 8 an epoch

    class Press(Callback):
        def __init__(self, hook, when):
            self.hook, self.when = hook, when

        def on_batch_end(self, t, b):
            if self.hook == "batch" and (t.epoch + 1, b) == self.when:
                t.request_stop("interrupted", "interrupted by SIGTERM")

        def on_epoch_end(self, t, logs):
            if self.hook == "epoch" and logs["epoch"] == self.when:
                t.request_stop("pruned", "pruned after epoch 1")

    for press, epochs_done in [(Press("batch", (2, 4)), 2), (Press("epoch", 1), 1)]:
        logs = Logs()
        trainer = make_trainer(epochs=4, batch_size=8, callbacks=[press, logs])
        trainer.train((X, y))
        assert trainer.epoch == epochs_done and trainer.position is None
        assert [row["epoch"] for row in logs.rows] == list(range(1, epochs_done + 1))


# ---------------------------------------------------------------- early stopping


class FakeTrainer:
    def __init__(self):
        self.model = Model(LAYERS, 2, rng=np.random.default_rng(0))
        self.stopped = None

    def request_stop(self, reason, text):
        self.stopped = reason


def test_early_stopping_patience_min_delta_and_best_weights():
    trainer = FakeTrainer()
    stop = EarlyStopping("val_loss", patience=2, min_delta=0.1)
    snapshots = {}
    for epoch, value in enumerate([1.0, 0.8, 0.75, 0.71, 0.5], start=1):
        trainer.model.named_params()[0][1][...] = epoch  # mark the weights with the epoch
        snapshots[epoch] = trainer.model.state_dict()
        stop.on_epoch_end(trainer, {"epoch": epoch, "val_loss": value})
        if trainer.stopped:
            break
    # 0.75 and 0.71 are within min_delta of 0.8: two epochs without improvement.
    assert (trainer.stopped, epoch, stop.best.epoch, stop.wait) == ("early_stopping", 4, 2, 2)
    assert stop.restore(trainer.model) == 2
    W = trainer.model.named_params()[0][1]
    assert np.array_equal(W, snapshots[2]["layers.0.W"])


def test_early_stopping_mode_is_inferred_and_can_be_given():
    assert EarlyStopping("val_accuracy").best.mode == "max"
    assert EarlyStopping("val_loss").best.mode == "min"
    assert EarlyStopping("train_loss").best.mode == "min"
    assert EarlyStopping("val_r2", mode="min").best.mode == "min"
    with pytest.raises(ConfigError, match="Did you mean 'accuracy'"):
        EarlyStopping("val_acuracy")


def test_best_state_round_trip():
    best = Best("val_accuracy")
    best.update({"epoch": 3, "val_accuracy": 0.9})
    again = Best("val_accuracy")
    again.load_state_dict(best.state_dict())
    assert (again.epoch, again.value) == (3, 0.9)
    assert not again.update({"epoch": 4, "val_accuracy": 0.9})


def test_without_early_stopping_the_best_epoch_is_still_tracked():
    X, y = blobs(30)
    logs = Logs()
    trainer = make_trainer(lr=0.5, epochs=8, callbacks=[logs])
    trainer.train((X, y), blobs(12, seed=3))
    val = [row["val_loss"] for row in logs.rows]
    assert (trainer.best.monitor, trainer.best.epoch, trainer.best.value) == (
        "val_loss", 1 + int(np.argmin(val)), min(val))


def test_the_best_epoch_tracker_is_a_callback_and_runs_before_the_others():
    X, y = blobs(30)
    logs, seen = Logs(), []

    class SeeBest(Callback):
        def on_epoch_end(self, trainer, logs):
            seen.append(trainer.best.epoch)

    tracker = Best("train_loss")  # not val_loss, the default with a val split
    trainer = make_trainer(lr=0.5, epochs=6, callbacks=[SeeBest(), logs, tracker])
    trainer.train((X, y), blobs(12, seed=3))
    assert trainer.best is tracker and trainer.early_stopping is None
    train = [row["train_loss"] for row in logs.rows]
    assert (tracker.epoch, tracker.value) == (1 + int(np.argmin(train)), min(train))
    # listed first, SeeBest still saw each epoch's update
    assert seen == [1 + int(np.argmin(train[:e])) for e in range(1, 7)]
    assert trainer.callbacks.count(tracker) == 1 and len(trainer.callbacks) == 3


def test_early_stopping_inside_the_trainer_restores_nothing_itself():
    X, y = blobs(30)
    stop = EarlyStopping("val_loss", patience=1)
    trainer = make_trainer(lr=5.0, epochs=50, callbacks=[stop])
    assert trainer.train((X, y), blobs(12, seed=3)) == "early_stopping"
    assert trainer.epoch < 50
    assert stop.best_weights is not None and trainer.best is stop.best


# ---------------------------------------------------------------- divergence


def test_non_finite_loss_names_epoch_and_batch_and_suggests_fixes():
    X, y = blobs(30)
    X[20] = np.inf  # in the third batch of 8
    trainer = make_trainer(epochs=2, batch_size=8, shuffle=False)
    with pytest.raises(DivergenceError) as info:
        trainer.train((X, y))
    message = str(info.value)
    assert "diverged in epoch 1, batch 3 of 4: the loss is nan" in message
    assert "inputs themselves hold NaN or inf" in message
    assert "optimizer.lr" in message and "clip_norm" in message and "data.scale" in message


def test_non_finite_loss_names_the_first_layer_whose_output_overflows():
    X, y = blobs(16)
    layers = [{"type": "dense", "units": 4, "activation": "relu"}, {"type": "dense", "units": 3}]
    trainer = make_trainer(layers, epochs=1, batch_size=8)
    trainer.model.layers[0].params["W"][...] = 1e38  # finite weights, overflowing products
    with pytest.raises(DivergenceError, match=r"the loss is nan\. The first non-finite output is that "
                                              r"of model.layers\[0\] \(dense\(4, relu\)\)"):
        trainer.train((X, y))


def test_non_finite_gradient_names_the_first_layer_from_the_output():
    X, y = blobs(24)
    layers = [{"type": "dense", "units": 4, "activation": "tanh"},
              {"type": "dense", "units": 4, "activation": "tanh"},
              {"type": "dense", "units": 3}]
    trainer = make_trainer(layers, epochs=2, batch_size=8)
    middle = trainer.model.layers[1]
    original = middle.backward

    def poisoned(grad_out, input_grad=True):
        result = original(grad_out, input_grad)
        if trainer.position.batch == 1:  # the second batch
            middle.grads["W"][0, 0] = np.nan
        return result

    middle.backward = poisoned
    expected = r"epoch 1, batch 2 of 3: a gradient is not finite"
    with pytest.raises(DivergenceError, match=expected) as info:
        trainer.train((X, y))
    assert "W of model.layers[1]" in str(info.value)
    assert np.isfinite(trainer.model.named_params().flat[0]).all()  # no step was taken with it


def test_finite_gradients_whose_norm_overflows_are_divergence_too():
    X, y = blobs(16)
    trainer = make_trainer(epochs=1, batch_size=8)
    last = trainer.model.layers[-1]
    original = last.backward

    def huge(grad_out, input_grad=True):
        result = original(grad_out, input_grad)
        last.grads["W"][0, 0] = 1e20  # finite in float32, but its square is not
        return result

    last.backward = huge
    with pytest.raises(DivergenceError, match=r"batch 1 of 2: the gradient norm overflows"):
        trainer.train((X, y))


def test_healthy_training_reaches_a_low_loss():
    X, y = blobs(60)
    logs = Logs()
    trainer = make_trainer(epochs=30, batch_size=16, metrics=["accuracy"], callbacks=[logs])
    trainer.train((X, y))
    assert logs.rows[-1]["train_loss"] < 0.3
    assert logs.rows[-1]["accuracy"] > 0.9
    assert all(math.isfinite(r["seconds"]) and r["seconds"] >= 0 for r in logs.rows)


def test_epoch_seconds_lie_within_the_wall_time_of_fit():
    import time

    logs = Logs()
    trainer = make_trainer(epochs=2, callbacks=[logs])
    started = time.perf_counter()
    trainer.train(blobs(30))
    elapsed = time.perf_counter() - started
    assert all(0 < row["seconds"] <= elapsed for row in logs.rows)
    assert sum(row["seconds"] for row in logs.rows) <= elapsed
