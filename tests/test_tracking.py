"""training.log: TensorBoard event files read back with TensorBoard's own reader, and MLflow
runs on a real tracking server read back with MlflowClient."""

import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from conftest import ROOT
from rich.console import Console

import nettrain
from nettrain.errors import ConfigError, Interrupted
from nettrain.training.callbacks import Callback


def config(tmp_path, log, epochs=3, **extra):
    return {
        "name": "iris", "seed": 1, "output": str(tmp_path / "runs"),
        "data": {"path": str(ROOT / "datasets" / "iris.csv"), "target": "species"},
        "model": {"layers": [{"type": "dense", "units": 8, "activation": "relu"}, {"type": "dense", "units": 3}]},
        "optimizer": {"name": "adam", "lr": 0.01},
        "training": {"epochs": epochs, "batch_size": 16, "log": log},
        "metrics": ["accuracy"],
        **extra,
    }


def fit(cfg, **kwargs):
    out = io.StringIO()
    run = nettrain.fit(cfg, console=Console(file=out, width=200), **kwargs)
    return run, out.getvalue()


# ---------------------------------------------------------------- TensorBoard


def scalars(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    return events, {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_tensorboard_scalars_are_history_csv(tmp_path):
    run, _ = fit(config(tmp_path, ["tensorboard"]), diagnose=True)
    events, logged = scalars(run.path / "tensorboard")
    history = run.history
    columns = [c for c in history.columns if c != "epoch"]
    assert sorted(logged) == sorted(columns)  # val_loss, accuracy, val_accuracy, lr, seconds, ...
    for column in columns:
        assert [s for s, _ in logged[column]] == list(history["epoch"])
        np.testing.assert_allclose([v for _, v in logged[column]], history[column], rtol=1e-6)
    # --diagnose: every parameter's histogram at every epoch
    assert sorted(events.Tags()["histograms"]) == ["layers.0.W", "layers.0.b", "layers.1.W", "layers.1.b"]
    assert [h.step for h in events.Histograms("layers.0.W")] == [1, 2, 3]


def test_tensorboard_of_a_resumed_run_shows_each_epoch_once(tmp_path):
    class PressCtrlC(Callback):
        def on_batch_end(self, trainer, batch):
            if trainer.epoch == 2 and batch == 3:
                trainer.request_stop("interrupted", "interrupted by SIGINT")

    with pytest.raises(Interrupted) as info:
        fit(config(tmp_path, ["tensorboard"], epochs=5), callbacks=[PressCtrlC()])
    run, _ = fit(None, resume=info.value.run.path)
    _, logged = scalars(run.path / "tensorboard")
    assert [s for s, _ in logged["train_loss"]] == [1, 2, 3, 4, 5]
    np.testing.assert_allclose([v for _, v in logged["train_loss"]], run.history["train_loss"], rtol=1e-6)


@pytest.mark.parametrize("tracker, module", [("tensorboard", "tensorboardX"), ("mlflow", "mlflow")])
def test_a_missing_extra_is_a_config_error_naming_it(tmp_path, monkeypatch, tracker, module):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else find_spec(name, *a))
    with pytest.raises(ConfigError, match=rf'needs the {tracker} extra.*pip install -e "\.\[{tracker}\]"') as info:
        fit(config(tmp_path, [tracker]))
    assert info.value.exit_code == 2
    assert not list(tmp_path.rglob("config.yaml"))  # refused before any run directory


def test_unknown_trackers_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown tracker 'tensorbord'. Did you mean 'tensorboard'"):
        fit(config(tmp_path, ["tensorbord"]))
    with pytest.raises(ConfigError, match=r"Unknown key 'tracking' at training.log.mlflow"):
        fit(config(tmp_path, {"mlflow": {"tracking": "x"}}))


# ---------------------------------------------------------------- MLflow


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """`mlflow server` on a free local port with a SQLite backend, for this module's tests."""
    pytest.importorskip("mlflow")
    folder = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
         "--artifacts-destination", str(folder / "artifacts"), "--workers", "1"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=open(folder / "server.log", "w"),
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},  # no job runners
        start_new_session=True)  # its own process group, stopped whole at the end
    try:
        deadline = time.monotonic() + 300  # a few seconds on an idle machine
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"mlflow server did not start: {(folder / 'server.log').read_text()[-2000:]}")
                time.sleep(0.3)
        yield uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def test_a_run_on_a_tracking_server(tmp_path, mlflow_server):
    log = {"mlflow": {"tracking_uri": mlflow_server, "experiment": "iris-tracked"}}
    run, _ = fit(config(tmp_path, log), report=True)
    mlflow = client(mlflow_server)
    experiment = mlflow.get_experiment_by_name("iris-tracked")
    [found] = mlflow.search_runs([experiment.experiment_id])
    assert found.info.status == "FINISHED" and found.info.run_name == run.path.name
    assert found.data.tags["nettrain.run_dir"] == str(run.path.resolve())
    params = found.data.params
    assert params["optimizer.lr"] == "0.01" and params["model.layers.0.units"] == "8"
    assert params["metrics"] == '["accuracy"]' and params["training.epochs"] == "3"
    history = run.history
    for column in [c for c in history.columns if c != "epoch"]:
        logged = mlflow.get_metric_history(found.info.run_id, column)
        assert [m.step for m in logged] == [1, 2, 3]
        np.testing.assert_allclose([m.value for m in logged], history[column], rtol=1e-12)
    artifacts = sorted(a.path for a in mlflow.list_artifacts(found.info.run_id))
    assert artifacts == ["config.yaml", "metrics.json", "model.npz", "report.html"]


def test_grid_search_trials_are_nested_under_one_run(tmp_path, mlflow_server):
    log = {"mlflow": {"tracking_uri": mlflow_server, "experiment": "iris-search"}}
    cfg = config(tmp_path, log, epochs=2, search={"space": {"optimizer.lr": [0.01, 0.03]}})
    nettrain.grid_search(cfg, workers=1, console=Console(file=io.StringIO()))
    mlflow = client(mlflow_server)
    experiment = mlflow.get_experiment_by_name("iris-search")
    runs = mlflow.search_runs([experiment.experiment_id])
    [parent] = [r for r in runs if "nettrain.search_dir" in r.data.tags]
    children = [r for r in runs if r is not parent]
    assert len(children) == 2 and parent.info.status == "FINISHED"
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in children)
    assert sorted(r.data.params["optimizer.lr"] for r in children) == ["0.01", "0.03"]
    assert sorted(a.path for a in mlflow.list_artifacts(parent.info.run_id)) == ["best.yaml", "results.csv"]


def test_cv_folds_are_nested_under_one_run(tmp_path, mlflow_server):
    log = {"mlflow": {"tracking_uri": mlflow_server, "experiment": "iris-cv"}}
    result = nettrain.cv(config(tmp_path, log, epochs=1), folds=2, console=Console(file=io.StringIO()))
    mlflow = client(mlflow_server)
    runs = mlflow.search_runs([mlflow.get_experiment_by_name("iris-cv").experiment_id])
    [parent] = [r for r in runs if "nettrain.search_dir" in r.data.tags]
    assert parent.data.tags["nettrain.search_dir"] == str(result.path.resolve())
    assert sorted(r.info.run_name for r in runs if r is not parent) == ["fold-1", "fold-2"]
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in runs if r is not parent)
    assert sorted(a.path for a in mlflow.list_artifacts(parent.info.run_id)) == ["cv.csv", "oof.csv"]


def test_a_server_that_is_down_is_a_warning(tmp_path):
    pytest.importorskip("mlflow")
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    run, printed = fit(config(tmp_path, {"mlflow": {"tracking_uri": uri}}))
    assert f"Warning: MLflow at {uri}: the server does not answer" in printed
    assert run.metrics["stopped_reason"] == "completed" and (run.path / "model.npz").exists()


def test_the_default_store_is_mlflow_db_beside_the_config(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    import json

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    path = tmp_path / "iris.yaml"
    path.write_text(json.dumps(config(tmp_path, ["mlflow"], epochs=1)))
    run, _ = fit(path)
    mlflow = client(f"sqlite:///{tmp_path / 'mlflow.db'}")
    [found] = mlflow.search_runs([mlflow.get_experiment_by_name("iris").experiment_id])
    assert found.data.metrics["train_loss"] == pytest.approx(run.history["train_loss"].iloc[-1])
    assert found.info.artifact_uri.startswith((tmp_path / "mlartifacts").as_uri())
    assert "model.npz" in [a.path for a in mlflow.list_artifacts(found.info.run_id)]
