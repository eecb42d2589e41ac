"""`nettrain fit` on the command line: files, output modes, errors, signals."""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from conftest import ROOT

from nettrain.cli import cli
from nettrain.store import rundir

RUN_FILES = {"config.yaml", "model.npz", "preprocess.json", "history.csv", "metrics.json",
             "checkpoint.npz"}


def iris_config(tmp_path, **extra):
    cfg = {
        "name": "iris", "seed": 0,
        "data": {"path": str(ROOT / "datasets" / "iris.csv"), "target": "species"},
        "model": {"layers": [{"type": "dense", "units": 8, "activation": "relu"},
                             {"type": "dense", "units": 3}]},
        "optimizer": {"name": "adam", "lr": 0.05},
        "training": {"epochs": 2, "batch_size": 16},
        "metrics": ["accuracy"],
        **extra,
    }
    path = tmp_path / "iris.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def fit(*args):
    return CliRunner().invoke(cli, ["fit", *map(str, args)])


def run_dirs(out):
    return sorted(p for p in Path(out).glob("*/*") if p.is_dir())


def test_without_a_val_split_history_keeps_empty_val_columns(tmp_path):
    config = iris_config(tmp_path, data={"path": str(ROOT / "datasets" / "iris.csv"), "target": "species",
                                         "split": {"train": 0.8, "test": 0.2}})
    result = fit(config, "--out", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    [run] = run_dirs(tmp_path / "runs")
    history = pd.read_csv(run / "history.csv")
    assert list(history.columns) == ["epoch", "train_loss", "val_loss", "accuracy", "val_accuracy",
                                     "lr", "seconds"]
    assert history["val_loss"].isna().all() and history["train_loss"].notna().all()


def test_help_lists_the_options():
    result = fit("--help")
    assert result.exit_code == 0
    for option in ("--set", "--out", "--init-from", "--resume", "--quiet"):
        assert option in result.output


def test_fit_writes_the_run_directory_and_plain_lines(tmp_path):
    result = fit(iris_config(tmp_path), "--out", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    [run] = run_dirs(tmp_path / "runs")
    assert {p.name for p in run.iterdir()} == RUN_FILES
    assert run.parent.name == "iris"
    out = result.output
    assert f"Run directory: {run}" in out
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 2 and "\x1b" not in out
    assert "Stopped: completed 2 epochs" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) >= {"train", "val", "test", "best_epoch", "stopped_reason", "epochs_run"}
    assert set(metrics["test"]) == {"loss", "accuracy"}
    history = pd.read_csv(run / "history.csv")
    assert list(history.columns) == ["epoch", "train_loss", "val_loss", "accuracy", "val_accuracy", "lr",
                                     "seconds"]
    with np.load(run / "model.npz", allow_pickle=False) as npz:
        assert {"layers.0.W", "layers.0.b", "layers.1.W", "layers.1.b", "architecture"} == set(npz.files)


def test_refitting_from_the_saved_config_reproduces_the_run(tmp_path):
    assert fit(iris_config(tmp_path), "--out", tmp_path / "a").exit_code == 0
    [first] = run_dirs(tmp_path / "a")
    result = fit(first / "config.yaml", "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output
    [second] = run_dirs(tmp_path / "b")
    def drop(p):
        return pd.read_csv(p / "history.csv").drop(columns="seconds")

    assert drop(first).equals(drop(second))


def test_quiet_prints_the_run_directory_and_final_metrics(tmp_path):
    result = fit(iris_config(tmp_path), "--out", tmp_path / "runs", "--quiet",
                 "--set", "training.epochs=1")
    assert result.exit_code == 0, result.output
    [run] = run_dirs(tmp_path / "runs")
    lines = result.output.splitlines()
    assert lines[0] == str(run)
    assert [line.split(":")[0] for line in lines[1:]] == ["train", "val", "test"]


def test_set_overrides_reach_the_saved_config(tmp_path):
    result = fit(iris_config(tmp_path), "--out", tmp_path / "runs", "--quiet",
                 "--set", "training.epochs=1", "--set", "optimizer.lr=0.02")
    assert result.exit_code == 0, result.output
    [run] = run_dirs(tmp_path / "runs")
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["optimizer"]["lr"] == 0.02 and saved["training"]["epochs"] == 1
    assert saved["output"] == str((tmp_path / "runs").resolve())


def test_unwritable_output_fails_before_training(tmp_path):
    (tmp_path / "file").write_text("")
    result = fit(iris_config(tmp_path), "--out", tmp_path / "file" / "runs")
    assert result.exit_code == 2
    assert "Cannot write run directories" in result.output and "--out" in result.output
    assert "epoch" not in result.output and "Traceback" not in result.output


def test_python_fit_with_a_config_object_overrides_and_an_exact_run_dir(tmp_path):
    import nettrain
    from nettrain.config.loading import load_config
    from nettrain.errors import ConfigError

    config = load_config(iris_config(tmp_path))
    run = nettrain.fit(config, quiet=True, run_dir=tmp_path / "exact", training={"epochs": 1})
    assert run.path == tmp_path / "exact" and RUN_FILES <= {p.name for p in run.path.iterdir()}
    saved = yaml.safe_load((run.path / "config.yaml").read_text())
    assert saved["training"]["epochs"] == 1 and config["training"]["epochs"] == 2  # not changed
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"Cannot write run directories under .*file' \(run_dir\)"):
        nettrain.fit(config, quiet=True, run_dir=tmp_path / "file" / "run")


def test_regression_metrics_in_the_history_are_in_the_targets_units(tmp_path):
    """With scale_target: standard the loss is on the scaled targets but the metrics are not:
    the last epoch's val_mae is evaluate's MAE on the val split (in the original units)."""
    import nettrain

    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    pd.DataFrame({"x": x, "y": 1000 + 300 * x + rng.normal(size=200)}).to_csv(tmp_path / "r.csv", index=False)
    run = nettrain.fit({"name": "r", "seed": 0, "output": str(tmp_path / "runs"), "dtype": "float64",
                        "data": {"path": str(tmp_path / "r.csv"), "target": "y", "scale_target": "standard"},
                        "model": {"layers": [{"type": "dense", "units": 1}]}, "loss": "mse",
                        "metrics": ["mae"], "training": {"epochs": 3, "save": "last"}}, quiet=True)
    history = pd.read_csv(run.path / "history.csv")
    assert history["val_mae"].iloc[-1] == pytest.approx(nettrain.evaluate(run, split="val")["mae"], rel=1e-9)
    assert history["val_mae"].iloc[-1] > 10  # hundreds of units off after three epochs, not a scaled 0.x


def test_an_unwritable_output_is_found_before_the_data_is_read(tmp_path):
    (tmp_path / "file").write_text("")
    config = iris_config(tmp_path, data={"path": str(tmp_path / "absent.csv"), "target": "species"})
    result = fit(config, "--out", tmp_path / "file" / "runs")
    assert result.exit_code == 2
    assert "Cannot write run directories" in result.output and "absent.csv" not in result.output


def test_output_is_relative_to_the_config_file_unless_it_is_the_default(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    monkeypatch.chdir(tmp_path)
    for output, expected in (("mine", tmp_path / "conf" / "mine"), (None, tmp_path / "runs")):
        extra = {"training": {"epochs": 1}} | ({"output": output} if output else {})
        result = fit(iris_config(tmp_path / "conf", **extra), "--quiet")
        assert result.exit_code == 0, result.output
        assert len(run_dirs(expected)) == 1, output


def test_resume_of_a_folder_that_is_not_a_run_is_exit_2(tmp_path):
    (tmp_path / "empty").mkdir()
    result = fit(iris_config(tmp_path), "--resume", tmp_path / "empty")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "has no config.yaml: it is not a nettrain run directory" in result.output


def test_bad_override_is_exit_2(tmp_path):
    result = fit(iris_config(tmp_path), "--out", tmp_path / "runs", "--set", "optimizer.lr=-1")
    assert result.exit_code == 2
    assert "optimizer.lr" in result.output
    assert not (tmp_path / "runs").exists() or not run_dirs(tmp_path / "runs")


def test_init_from_shape_mismatch_names_layer_and_shapes(tmp_path):
    assert fit(iris_config(tmp_path), "--out", tmp_path / "runs", "--quiet").exit_code == 0
    [run] = run_dirs(tmp_path / "runs")
    result = fit(iris_config(tmp_path), "--out", tmp_path / "runs", "--init-from", run,
                 "--set", "model.layers.0.units=5")
    assert result.exit_code == 2
    assert "layers.0.W has shape (4, 8), but model.layers needs (4, 5)" in result.output
    assert len(run_dirs(tmp_path / "runs")) == 1  # the error came before a new run directory


def test_monitor_that_is_not_logged_is_exit_2(tmp_path):
    cfg = iris_config(tmp_path, training={"epochs": 2, "early_stopping": {"monitor": "val_f1"}})
    result = fit(cfg, "--out", tmp_path / "runs")
    assert result.exit_code == 2
    assert "training.early_stopping.monitor: 'val_f1' is not logged" in result.output


def exploding_config(tmp_path):
    """Full-batch gradient descent on a linear model with twice the stable lr: the error doubles
    every step, so the loss overflows float32 after a few dozen epochs."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=64)
    line = pd.DataFrame({"x": x, "y": 2 * x + 0.1 * rng.normal(size=64)})
    line.to_csv(tmp_path / "line.csv", index=False)
    cfg = {"name": "line", "data": {"path": "line.csv", "target": "y", "task": "regression",
                                    "split": {"train": 1.0, "val": 0.0, "test": 0.0}},
           "model": {"layers": [{"type": "dense", "units": 1}]}, "loss": "mse",
           "optimizer": {"name": "sgd", "lr": 2.0}, "metrics": [],
           "training": {"epochs": 500, "batch_size": 64, "shuffle": False}}
    path = tmp_path / "line.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_divergence_is_exit_1_and_keeps_the_last_good_checkpoint(tmp_path):
    result = fit(exploding_config(tmp_path), "--out", tmp_path / "runs", "--quiet")
    assert result.exit_code == 1, result.output
    message = result.output
    # the error doubles each epoch: the loss passes 1e6 times the first one before it overflows
    assert "Training diverged in epoch" in message and "over 1e+06 times the first" in message
    assert "optimizer.lr" in message and "clip_norm" in message
    [run] = run_dirs(tmp_path / "runs")
    epoch = int(re.search(r"Training diverged in epoch (\d+)", message).group(1))
    assert epoch > 5
    _, meta = rundir.load_checkpoint(run / "checkpoint.npz")
    assert meta["epoch"] == epoch - 1
    assert len(pd.read_csv(run / "history.csv")) == epoch - 1
    assert f"keeps the history and checkpoint of epoch {epoch - 1}" in message
    assert not (run / "model.npz").exists()


def test_resume_with_a_changed_config_is_exit_2(tmp_path):
    assert fit(iris_config(tmp_path), "--out", tmp_path / "runs", "--quiet").exit_code == 0
    [run] = run_dirs(tmp_path / "runs")
    result = fit(iris_config(tmp_path), "--resume", run, "--set", "training.batch_size=8",
                 "--set", "training.epochs=3")
    assert result.exit_code == 2
    assert "training.batch_size: the run has 16, the config has 8" in result.output


# ---------------------------------------------------------------- signals, in a real process


def slow_config(tmp_path):
    """A run long enough to be interrupted: about a tenth of a second per epoch."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 8))
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(8)])
    frame["y"] = (X[:, 0] + X[:, 1] > 0).astype(int)
    frame.to_csv(tmp_path / "slow.csv", index=False)
    cfg = {"name": "slow", "data": {"path": "slow.csv", "target": "y", "task": "classification"},
           "model": {"layers": [{"type": "dense", "units": 16, "activation": "relu"},
                                {"type": "dropout", "rate": 0.1}, {"type": "dense", "units": 2}]},
           "training": {"epochs": 2000, "batch_size": 8}, "metrics": ["accuracy"]}
    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def start_fit(config, out):
    code = "import sys; from nettrain.cli import cli; cli()"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", code, "fit", str(config), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_epochs(process, n):
    seen = 0
    for line in process.stdout:
        seen += line.startswith("epoch ")
        if seen >= n:
            return
    raise AssertionError(f"the run ended before {n} epochs: {process.stderr.read()}")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_everything_and_says_how_to_resume(tmp_path, signum):
    process = start_fit(slow_config(tmp_path), tmp_path / "runs")
    wait_for_epochs(process, 1)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    [run] = run_dirs(tmp_path / "runs")
    assert {p.name for p in run.iterdir()} == RUN_FILES
    assert f"--resume {run}" in stderr and signum.name in stderr
    assert "Traceback" not in stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["stopped_reason"] == "interrupted"
    _, meta = rundir.load_checkpoint(run / "checkpoint.npz")
    more = meta["epoch"] + 1
    result = fit(run / "config.yaml", "--resume", run, "--set", f"training.epochs={more}", "--quiet")
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(run / "history.csv")) == more


def test_sigkill_leaves_complete_files(tmp_path):
    process = start_fit(slow_config(tmp_path), tmp_path / "runs")
    wait_for_epochs(process, 3)
    process.kill()
    process.communicate(timeout=60)
    [run] = run_dirs(tmp_path / "runs")
    yaml.safe_load((run / "config.yaml").read_text())
    json.loads((run / "preprocess.json").read_text())
    history = pd.read_csv(run / "history.csv")
    assert list(history["epoch"]) == list(range(1, len(history) + 1))
    _, meta = rundir.load_checkpoint(run / "checkpoint.npz")
    assert meta["epoch"] in (len(history), len(history) - 1)
    result = fit(run / "config.yaml", "--resume", run, "--set", f"training.epochs={meta['epoch'] + 1}",
                 "--quiet")
    assert result.exit_code == 0, result.output
    assert not list(run.glob(".*.tmp"))
