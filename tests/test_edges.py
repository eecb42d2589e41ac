"""Edge behaviours the mutation run (tools/mutate.py) found untested: constructor defaults,
thresholds, chunked inference, lock details and the durability of a rename."""

import os
import stat

import numpy as np
import pandas as pd
import pytest

from nettrain.nn.model import Model
from nettrain.store import rundir

torch = pytest.importorskip("torch")


def test_weighted_binary_cross_entropy_is_torchs():
    from nettrain.nn.losses import get_loss

    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(12, 1)) * 2, rng.integers(0, 2, size=12)
    loss = get_loss({"name": "binary_cross_entropy", "class_weights": [0.5, 3.0]})
    weights = torch.tensor(np.where(y == 1, 3.0, 0.5)[:, None])
    full = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(z), torch.tensor(y[:, None], dtype=torch.float64), weight=weights, reduction="sum")
    assert loss.forward(z, y) == pytest.approx((full / weights.sum()).item(), rel=1e-12)


def test_weighted_cross_entropy_is_torchs():
    from nettrain.nn.losses import get_loss

    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(10, 3)), rng.integers(0, 3, size=10)
    loss = get_loss({"name": "cross_entropy", "class_weights": [1.0, 2.0, 0.25]})
    want = torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(y),
                                             weight=torch.tensor([1.0, 2.0, 0.25], dtype=torch.float64))
    assert loss.forward(z, y) == pytest.approx(want.item(), rel=1e-12)


def test_decision_threshold_defaults_to_one_half():
    from nettrain.nn.metrics import predicted_classes
    from nettrain.nn.scores import decide

    proba = np.array([[0.49], [0.51], [0.9], [0.1]])
    assert list(predicted_classes(proba)) == [0, 1, 1, 0]
    assert list(np.asarray(decide(proba)).ravel().astype(int)) == [0, 1, 1, 0]


def test_penalties_default_to_nothing():
    from nettrain.nn.optimizer_hooks import L1Penalty, gradient_hooks, penalty_term

    model = Model([{"type": "dense", "units": 3}], 4, dtype="float64", rng=0)
    for _, _, g in model.named_params():
        g[...] = 0.0
    hooks = gradient_hooks()
    assert hooks == [] and penalty_term(hooks, model.named_params()) == 0.0
    for hook in gradient_hooks(l1=0.0, l2=0.0):
        hook(model.named_params())
    assert all(not g.any() for _, _, g in model.named_params())
    assert L1Penalty(1.0).term(model.named_params()) == pytest.approx(np.abs(model.layers[0].params["W"]).sum())


def test_early_stopping_counts_any_improvement_by_default():
    from nettrain.training.callbacks import Best, EarlyStopping

    stop = EarlyStopping(patience=1)
    assert stop.best.min_delta == 0.0
    best = Best("val_loss")
    for epoch, value in enumerate([1.0, 0.9999, 0.9998], 1):
        best.update({"epoch": epoch, "val_loss": value})
    assert best.epoch == 3 and best.value == 0.9998


def test_plateau_threshold_default_is_torchs_1e_4():
    from nettrain.nn.schedules import get_schedule

    ours = get_schedule({"name": "plateau", "patience": 0}, 1.0)
    sgd = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(sgd, patience=0)
    for loss in [1.0, 0.9995, 0.99945, 0.9, 0.8999]:  # improvements of 5e-4, then 5e-5
        ours.step({"val_loss": loss, "loss": loss})
        theirs.step(loss)
        assert ours.lr == pytest.approx(sgd.param_groups[0]["lr"], rel=1e-12)


def test_cosine_needs_t_max_of_at_least_one():
    from nettrain.errors import ConfigError
    from nettrain.nn.schedules import get_schedule

    with pytest.raises(ConfigError, match="T_max"):
        get_schedule({"name": "cosine", "T_max": 0}, 0.1)


def test_a_layer_type_cannot_be_registered_twice():
    from nettrain.nn.layers.base import LAYERS, Layer, register_layer

    @register_layer("edge_test_layer")
    class First(Layer):
        pass

    try:
        assert First.type == "edge_test_layer" and LAYERS["edge_test_layer"] is First
        assert register_layer("edge_test_layer")(First) is First  # the same class again is fine
        with pytest.raises(ValueError, match="registered twice"):
            @register_layer("edge_test_layer")
            class Second(Layer):
                pass
    finally:
        LAYERS.pop("edge_test_layer", None)


def test_predictions_on_more_rows_than_one_chunk(tmp_path):
    import io

    from conftest import ROOT
    from rich.console import Console

    import nettrain
    from nettrain.inference import loading as inference

    run = nettrain.fit({"name": "c", "seed": 0, "output": str(tmp_path), "training": {"epochs": 1},
                        "data": {"path": str(ROOT / "datasets" / "iris.csv"), "target": "species"},
                        "model": {"layers": [{"type": "dense", "units": 3}]}},
                       console=Console(file=io.StringIO()))
    frame = pd.read_csv(ROOT / "datasets" / "iris.csv")
    big = pd.concat([frame] * 60, ignore_index=True)  # 9000 rows: two chunks of 8192
    assert len(big) > inference.CHUNK
    loaded = nettrain.load(run.path)
    proba = loaded.predict_proba(big)
    assert proba.shape == (9000, 3)
    np.testing.assert_array_equal(proba[-150:], loaded.predict_proba(frame))


# ---------------------------------------------------------------- file handling details


def test_the_rename_is_made_durable_by_syncing_the_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    rundir.write_text(tmp_path / "a.txt", "x")
    assert synced == [False, True]  # the file's data, then the folder holding the new name


def test_the_lock_file_follows_the_umask_and_the_context_manager_releases_it(tmp_path):
    old = os.umask(0o022)
    try:
        with rundir.RunLock(tmp_path) as lock:
            assert (tmp_path / rundir.LOCK).stat().st_mode & 0o777 == 0o644
            assert (tmp_path / rundir.LOCK).read_text() == f"{os.getpid()}\n"
            assert lock.stale_pid is None
    finally:
        os.umask(old)
    assert not (tmp_path / rundir.LOCK).exists()


def test_lock_without_fcntl_uses_the_pid(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "fcntl", None)  # import fcntl raises ImportError
    (tmp_path / rundir.LOCK).write_text("999999999\n")  # a dead process: stale
    lock = rundir.lock_run_dir(tmp_path)
    assert lock.stale_pid == 999999999
    lock.release()
    (tmp_path / rundir.LOCK).write_text("1\n")  # init is alive: held
    with pytest.raises(Exception, match="process 1 is writing"):
        rundir.lock_run_dir(tmp_path)


def test_what_the_layers_tell_the_rest_of_nettrain():
    from nettrain.nn.layers.base import LAYERS, Layer

    assert Layer.sets_output_width is False and Layer.normalizes is False and Layer.weight_keys == ()
    assert LAYERS["dense"].sets_output_width and not LAYERS["dense"].normalizes
    assert LAYERS["batchnorm"].normalizes and not LAYERS["batchnorm"].sets_output_width
    for name in ("dropout", "activation"):
        assert not LAYERS[name].sets_output_width and not LAYERS[name].normalizes


@pytest.mark.parametrize("labels", [[0, -1, 1], [0, 3, 1]])
def test_a_confusion_matrix_refuses_labels_outside_the_classes(labels):
    from nettrain.errors import DataError
    from nettrain.nn.metrics import confusion_matrix

    with pytest.raises(DataError, match=r"Class indices must lie in \[0, 3\)"):
        confusion_matrix(np.array(labels), np.array([0, 1, 2]), 3)


def test_regression_losses_take_column_targets_as_they_are():
    from nettrain.nn.losses import get_loss

    out = np.array([[1.0], [3.0]])
    for y in (np.array([0.0, 1.0]), np.array([[0.0], [1.0]])):
        assert get_loss("mse").forward(out, y) == pytest.approx(2.5)
        assert get_loss("mae").forward(out, y) == pytest.approx(1.5)


def test_early_stopping_state_survives_an_interrupt_and_resume(tmp_path):
    import io

    from conftest import ROOT
    from rich.console import Console

    import nettrain
    from nettrain.errors import Interrupted
    from nettrain.training.callbacks import Callback

    def cfg(out):
        return {"name": "es", "seed": 1, "output": str(tmp_path / out),
                "data": {"path": str(ROOT / "datasets" / "iris.csv"), "target": "species"},
                "model": {"layers": [{"type": "dense", "units": 8, "activation": "relu"},
                                     {"type": "dense", "units": 3}]},
                "optimizer": {"name": "sgd", "lr": 2.0},
                "training": {"epochs": 40, "batch_size": 16,
                             "early_stopping": {"patience": 4, "restore_best": True}}}

    class CtrlC(Callback):
        def on_epoch_begin(self, trainer, epoch):
            self.epoch = epoch

        def on_batch_end(self, trainer, batch):
            if (self.epoch, batch) == (6, 1):
                trainer.request_stop("interrupted", "interrupted by SIGINT")

    quiet = lambda: Console(file=io.StringIO())  # noqa: E731
    whole = nettrain.fit(cfg("a"), console=quiet())
    with pytest.raises(Interrupted) as info:
        nettrain.fit(cfg("b"), console=quiet(), callbacks=[CtrlC()])
    resumed = nettrain.fit(None, resume=info.value.run.path, console=quiet())
    for key in ("best_epoch", "best_value", "weights_epoch", "stopped_reason", "epochs_run"):
        assert resumed.metrics[key] == whole.metrics[key], key
    assert resumed.history.drop(columns="seconds").equals(whole.history.drop(columns="seconds"))


@pytest.mark.parametrize("kind", ["standard", "minmax"])
def test_image_scaling_statistics_are_per_channel(kind):
    from nettrain.data.preprocess import _channel_stats

    rng = np.random.default_rng(0)
    images = rng.normal(size=(50, 3, 4, 5)) * np.array([1.0, 5.0, 0.1])[None, :, None, None] + 7
    images[:, 2] = 3.0  # a constant channel scales by 1
    center, spread = _channel_stats(images.reshape(50, -1), 3, kind)
    per_channel = images.transpose(1, 0, 2, 3).reshape(3, -1)
    if kind == "standard":
        want_c, want_s = per_channel.mean(axis=1), per_channel.std(axis=1)
    else:
        want_c, want_s = per_channel.min(axis=1), per_channel.max(axis=1) - per_channel.min(axis=1)
    want_c[2], want_s[2] = 3.0, 1.0
    np.testing.assert_allclose(center, np.repeat(want_c, 20), rtol=1e-12)
    np.testing.assert_allclose(spread, np.repeat(want_s, 20), rtol=1e-12)


def test_a_decision_threshold_must_be_a_probability_on_a_binary_run(tmp_path_factory):
    from trained_runs import trained_runs

    import nettrain
    from nettrain.errors import DataError

    runs = trained_runs(tmp_path_factory.getbasetemp())
    pets = nettrain.load(runs["pets"].path)
    frame = pd.read_csv(runs["pets"].path.parent.parent.parent / "pets.csv")
    low, high = pets.predict_array(frame, threshold=0.01), pets.predict_array(frame, threshold=0.99)
    assert (low == pets.classes[1]).mean() > (high == pets.classes[1]).mean()
    assert list(pets.predict_array(frame)) == list(pets.predict_array(frame, threshold=0.5))
    for bad in (0, 1, 1.5, True, "0.3"):
        with pytest.raises(DataError, match="strictly between 0 and 1"):
            pets.predict_array(frame, threshold=bad)
    iris = nettrain.load(runs["iris"].path)
    with pytest.raises(DataError, match="applies to binary classification"):
        iris.predict_array(pd.read_csv(iris.config.resolve_path(iris.config["data"]["path"])), threshold=0.3)


def test_training_save_best_keeps_the_best_epochs_weights_without_early_stopping(tmp_path):
    import io

    from conftest import ROOT
    from rich.console import Console

    import nettrain

    out = io.StringIO()

    def cfg(save):
        return {"name": "s", "seed": 0, "output": str(tmp_path),
                "data": {"path": str(ROOT / "datasets" / "iris.csv"), "target": "species"},
                "model": {"layers": [{"type": "dense", "units": 8, "activation": "relu"},
                                     {"type": "dense", "units": 3}]},
                "optimizer": {"name": "sgd", "lr": 3.0},
                "training": {"epochs": 12, "batch_size": 16, "save": save}}

    best = nettrain.fit(cfg("best"), console=Console(file=out, width=200)).metrics
    assert best["best_epoch"] < best["epochs_run"] == 12  # the lr is high: the last is not the best
    assert best["weights_epoch"] == best["best_epoch"]
    assert best["val"]["loss"] == pytest.approx(best["best_value"])
    last = nettrain.fit(cfg("last"), console=Console(file=io.StringIO())).metrics
    assert last["weights_epoch"] == 12
    assert "Resuming" not in out.getvalue()  # a new run says nothing about resuming
