"""Reproducibility and resume: same seed, same bits; 3 + 3 epochs are 6 epochs."""

import io
import json
import shutil

import numpy as np
import pytest
from conftest import ROOT
from rich.console import Console

import nettrain
from nettrain.errors import ConfigError, Interrupted, NettrainError
from nettrain.store import rundir
from nettrain.training.callbacks import Callback


def config(tmp_path, epochs=6, **extra):
    """Iris with dropout, batchnorm and shuffling: every source of randomness is on."""
    return {
        "name": "iris", "seed": 3, "output": str(tmp_path / "runs"),
        "data": {"path": str(ROOT / "datasets" / "iris.csv"), "target": "species"},
        "model": {"layers": [
            {"type": "dense", "units": 16, "activation": "relu"},
            {"type": "dropout", "rate": 0.3},
            {"type": "batchnorm"},
            {"type": "dense", "units": 3},
        ]},
        "optimizer": {"name": "adam", "lr": 0.01},
        "schedule": {"name": "cosine", "T_max": 6},
        "training": {"epochs": epochs, "batch_size": 16, "shuffle": True},
        "metrics": ["accuracy", "f1"],
        **extra,
    }


def fit(cfg, **kwargs):
    return nettrain.fit(cfg, console=Console(file=io.StringIO()), **kwargs)


def weights(run):
    with np.load(run.path / rundir.MODEL, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def same_weights(a, b):
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


def numbers(run):
    """history.csv without the wall-clock column."""
    return run.history.drop(columns="seconds")


def test_same_config_and_seed_give_identical_history_and_weights(tmp_path):
    first, second = fit(config(tmp_path)), fit(config(tmp_path))
    assert first.path != second.path
    assert numbers(first).equals(numbers(second))
    assert same_weights(first, second)
    other_seed = fit(config(tmp_path, seed=4))
    assert not same_weights(first, other_seed)


def test_three_plus_three_epochs_equal_six(tmp_path):
    whole = fit(config(tmp_path, epochs=6))
    part = fit(config(tmp_path, epochs=3))
    assert len(part.history) == 3
    resumed = fit(part.path / rundir.CONFIG, resume=part.path, overrides=["training.epochs=6"])
    assert resumed.path == part.path
    assert numbers(resumed).equals(numbers(whole))
    assert same_weights(resumed, whole)
    assert resumed.metrics["epochs_run"] == 6
    assert resumed.config["training"]["epochs"] == 6  # config.yaml says how to refit it


class PressCtrlC(Callback):
    """Requests a stop as the SIGINT handler does, after a given batch of a given epoch."""

    def __init__(self, epoch, batch):
        self.at = (epoch, batch)
        self.epoch = None

    def on_epoch_begin(self, trainer, epoch):
        self.epoch = epoch

    def on_batch_end(self, trainer, batch):
        if (self.epoch, batch) == self.at:
            trainer.request_stop("interrupted", "interrupted by SIGINT")


class KeepCheckpoint(Callback):
    """Copies checkpoint.npz as it is after a given epoch (extra callbacks run after it is written)."""

    def __init__(self, run_dir, epoch, to):
        self.source, self.epoch, self.to = run_dir / rundir.CHECKPOINT, epoch, to

    def on_epoch_end(self, trainer, logs):
        if logs["epoch"] == self.epoch:
            shutil.copyfile(self.source, self.to)


def test_a_run_stopped_in_its_first_epoch_has_the_history_header_only(tmp_path):
    with pytest.raises(Interrupted) as info:
        fit(config(tmp_path), callbacks=[PressCtrlC(epoch=1, batch=0)])
    text = (info.value.run.path / rundir.HISTORY).read_text(encoding="utf-8")
    assert text == "epoch,train_loss,val_loss,accuracy,val_accuracy,f1,val_f1,lr,seconds\n"


def test_resume_drops_history_rows_past_the_checkpoint(tmp_path):
    # a process killed after writing epoch 3's history row, before writing its checkpoint
    whole = fit(config(tmp_path, epochs=3))
    run_dir, kept = tmp_path / "run", tmp_path / "epoch2.npz"
    fit(config(tmp_path, epochs=3), run_dir=run_dir, callbacks=[KeepCheckpoint(run_dir, 2, kept)])
    shutil.copyfile(kept, run_dir / rundir.CHECKPOINT)
    before = (run_dir / rundir.HISTORY).read_text(encoding="utf-8").splitlines()
    assert len(before) == 4  # the header and epochs 1-3
    resumed = fit(None, resume=run_dir)
    after = (run_dir / rundir.HISTORY).read_text(encoding="utf-8").splitlines()
    assert len(after) == 4 and after[:3] == before[:3]  # epochs 1-2 kept as written, 3 once
    assert numbers(resumed).equals(numbers(whole))


def test_interrupted_mid_epoch_then_resumed_equals_uninterrupted(tmp_path):
    whole = fit(config(tmp_path))
    with pytest.raises(Interrupted) as info:
        fit(config(tmp_path), callbacks=[PressCtrlC(epoch=4, batch=2)])
    err = info.value
    run = err.run
    assert err.exit_code == 130
    assert f"--resume {run.path}" in str(err)
    assert len(run.history) == 3
    assert run.metrics["stopped_reason"] == "interrupted"
    resumed = fit(run.path / rundir.CONFIG, resume=run.path)
    assert numbers(resumed).equals(numbers(whole))
    assert same_weights(resumed, whole)


def test_interrupt_restores_best_weights_but_checkpoints_the_current_ones(tmp_path):
    stopping = {"early_stopping": {"monitor": "val_loss", "patience": 50, "restore_best": True}}
    cfg = config(tmp_path, epochs=30, optimizer={"name": "sgd", "lr": 2.0},
                 training={"epochs": 30, "batch_size": 16, **stopping})
    with pytest.raises(Interrupted) as info:
        fit(cfg, callbacks=[PressCtrlC(epoch=12, batch=0)])
    run = info.value.run
    best = run.metrics["best_epoch"]
    assert run.metrics["weights_epoch"] == best
    arrays, meta = rundir.load_checkpoint(run.path / rundir.CHECKPOINT)
    saved = weights(run)
    assert all(np.array_equal(saved[k], arrays["best_weights"][k]) for k in arrays["best_weights"])
    assert meta["position"]["batch"] == 1 and meta["epoch"] == 11
    assert best < 11 and not np.array_equal(saved["layers.0.W"], arrays["model"]["layers.0.W"])
    # the final metrics are those of the saved (best) weights
    assert run.metrics["val"]["loss"] == run.metrics["best_value"] == run.history["val_loss"][best - 1]


def test_resume_with_a_different_config_is_refused(tmp_path):
    run = fit(config(tmp_path, epochs=2))
    changed = r"optimizer.lr: the run has 0.01, the config has 0.02"
    with pytest.raises(ConfigError, match=changed) as info:
        fit(config(tmp_path, epochs=4, optimizer={"name": "adam", "lr": 0.02}), resume=run.path)
    assert info.value.exit_code == 2
    assert "nettrain fit" in str(info.value) and "--resume" in str(info.value)
    assert len(info.value.problems) == 1  # one problem, not "3 problems in the config"


def test_resume_of_a_corrupt_checkpoint_is_refused(tmp_path):
    run = fit(config(tmp_path, epochs=2))
    (run.path / rundir.CHECKPOINT).write_bytes(b"not a zip file at all")
    with pytest.raises(NettrainError, match="corrupt or unreadable") as info:
        fit(run.path / rundir.CONFIG, resume=run.path, overrides=["training.epochs=3"])
    assert info.value.exit_code == 2


def test_resume_of_a_finished_run_asks_for_more_epochs(tmp_path):
    run = fit(config(tmp_path, epochs=2))
    with pytest.raises(NettrainError, match=r"already trained 2 epochs.*training.epochs=4"):
        fit(run.path / rundir.CONFIG, resume=run.path)


def test_resume_of_an_early_stopped_run_is_refused(tmp_path):
    cfg = config(tmp_path, epochs=40, optimizer={"name": "sgd", "lr": 3.0},
                 training={"epochs": 40, "early_stopping": {"patience": 1}})
    run = fit(cfg)
    metrics = run.metrics
    assert metrics["stopped_reason"] == "early_stopping"
    assert metrics["epochs_run"] == metrics["best_epoch"] + 1 == len(run.history)  # patience 1
    assert metrics["weights_epoch"] == metrics["best_epoch"]  # the best weights were restored
    assert metrics["val"]["loss"] == metrics["best_value"]
    with pytest.raises(NettrainError, match="stopped early"):
        fit(run.path / rundir.CONFIG, resume=run.path, overrides=["training.epochs=80"])


def test_resume_after_the_data_changed_is_refused(tmp_path):
    data = tmp_path / "iris.csv"
    data.write_text((ROOT / "datasets" / "iris.csv").read_text())
    cfg = config(tmp_path, epochs=1)
    cfg["data"]["path"] = str(data)
    run = fit(cfg)
    lines = data.read_text().splitlines()
    data.write_text("\n".join(lines[:1] + [lines[1].replace("5.1", "9.9", 1)] + lines[2:]) + "\n")
    with pytest.raises(NettrainError, match="The data has changed") as info:
        fit(run.path / rundir.CONFIG, resume=run.path, overrides=["training.epochs=2"])
    assert info.value.exit_code == 2


def test_resume_removes_temporary_files_left_by_a_killed_process(tmp_path):
    run = fit(config(tmp_path, epochs=1))
    stale = run.path / ".history.csv.abc123.tmp"
    stale.write_text("half a row")
    fit(run.path / rundir.CONFIG, resume=run.path, overrides=["training.epochs=2"])
    assert not stale.exists()
    assert json.loads((run.path / rundir.METRICS_FILE).read_text())["epochs_run"] == 2


def test_init_from_another_run_and_shape_mismatch(tmp_path):
    base = fit(config(tmp_path, epochs=2))
    still = config(tmp_path, epochs=1, optimizer={"name": "sgd", "lr": 1e-30})
    tuned = fit(still, init_from=base.path)
    assert tuned.config["model"]["init_from"] == str(base.path.resolve())
    for key in ("layers.0.W", "layers.3.W"):  # an lr of 1e-30 leaves the loaded weights as they are
        assert np.array_equal(weights(tuned)[key], weights(base)[key])
    wider = config(tmp_path, epochs=1)
    wider["model"]["layers"][0]["units"] = 32
    mismatch = r"layers.0.W has shape \(4, 16\), but model.layers needs \(4, 32\)"
    with pytest.raises(ConfigError, match=mismatch):
        fit(wider, init_from=base.path / rundir.MODEL)
    with pytest.raises(ConfigError, match="model.init_from .*no such file"):
        fit(config(tmp_path, epochs=1), init_from=tmp_path / "nothing.npz")
