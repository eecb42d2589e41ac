"""grid-search on a real Dask cluster: a scheduler and two workers on 127.0.0.1."""

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from rich.console import Console

distributed = pytest.importorskip("distributed")

from test_search import toy_csv  # noqa: E402

from nettrain.cli import cli  # noqa: E402
from nettrain.search import grid as search  # noqa: E402

START_TIMEOUT_S = 60


def _start(args, folder, log):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, "-m", "dask", *args], cwd=folder, env=env,
        stdout=open(folder / log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def _stop(procs):
    # Workers first: a worker whose scheduler is gone keeps trying to reconnect.
    procs = procs[::-1]
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The address of a scheduler with two one-thread workers, on free ports; torn down after."""
    folder = tmp_path_factory.mktemp("dask")
    info = folder / "scheduler.json"
    procs = [_start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(info)], folder, "scheduler.log")]
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not info.exists() and procs[0].poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert info.exists(), (folder / "scheduler.log").read_text()
        address = json.loads(info.read_text())["address"]
        for i in range(2):
            procs.append(_start(["worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                 "--host", "127.0.0.1"], folder, f"worker{i}.log"))
        with distributed.Client(address, timeout=START_TIMEOUT_S) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT_S)
        yield address
    finally:
        _stop(procs)


@pytest.fixture
def config_path(tmp_path, monkeypatch):
    toy_csv(tmp_path)
    monkeypatch.chdir(tmp_path)
    cfg = {
        "name": "toy",
        "data": {"path": "toy.csv", "target": "label"},
        "model": {"layers": [{"type": "dense", "units": 4, "activation": "relu"}, {"type": "dense", "units": 2}]},
        "optimizer": {"name": "sgd", "lr": 0.1},
        "training": {"epochs": 2, "batch_size": 32},
        "metrics": ["accuracy"],
        "search": {"space": {"optimizer.lr": [0.3, 0.1, 0.03, 1e30]}},
    }
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_a_search_on_the_cluster_matches_a_local_one_and_sends_the_data_once(
        cluster, config_path, monkeypatch):
    scattered = []
    real_scatter = distributed.Client.scatter

    def counting_scatter(self, data, *args, **kwargs):
        scattered.append(kwargs.get("broadcast"))
        return real_scatter(self, data, *args, **kwargs)

    monkeypatch.setattr(distributed.Client, "scatter", counting_scatter)
    console = Console(file=io.StringIO(), width=200)
    remote = search.grid_search(config_path, scheduler=cluster, console=console,
                                out=config_path.parent / "remote")
    assert scattered == [True]  # one dataset, broadcast once to every worker, for 4 trials
    local = search.grid_search(config_path, workers=1, console=Console(file=io.StringIO()),
                               out=config_path.parent / "local")
    columns = ["id", "optimizer.lr", "val_loss", "val_accuracy", "status"]
    pd.testing.assert_frame_equal(remote.results[columns], local.results[columns])
    assert list(remote.results["status"]) == ["ok", "ok", "ok", "failed"]
    # the workers' run directories came back into the search directory
    for trial_id in remote.results["id"][:3]:
        files = {p.name for p in (remote.path / trial_id).iterdir()}
        assert {"config.yaml", "model.npz", "metrics.json", "history.csv"} <= files
    assert (remote.path / remote.results["id"][3] / "failed.json").exists()
    assert "the Dask cluster at" in console.file.getvalue()


def test_the_same_command_resumes_on_the_cluster(cluster, config_path):
    first = CliRunner().invoke(cli, ["grid-search", str(config_path), "--scheduler", cluster])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(cli, ["grid-search", str(config_path), "--scheduler", cluster])
    assert again.exit_code == 0, again.output
    assert "(4 already finished)" in again.output


def test_a_scheduler_that_does_not_answer_is_a_clear_error(config_path):
    with socket.socket() as sock:  # a free port with nothing listening on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CliRunner().invoke(cli, ["grid-search", str(config_path), "--scheduler", f"tcp://127.0.0.1:{port}"])
    assert result.exit_code == 2
    assert f"Could not connect to the Dask scheduler at tcp://127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- a study on the cluster

IRIS = str(Path(__file__).resolve().parent.parent / "datasets" / "iris.csv")
# The first point learns fastest; the others are slower the smaller their rate, so the last is
# worse at epoch 1 than any trial it competes with and ASHA prunes it, whatever order the two
# workers finish in (ASHA starts pruning once a trial has completed).
RATES = [0.1, 0.0004, 0.0003, 0.0002, 0.0001]


def study_config(tmp_path, **search):
    return {"name": "iris", "seed": 0, "output": str(tmp_path / "runs"),
            "data": {"path": IRIS, "target": "species"},
            "model": {"layers": [{"type": "dense", "units": 4, "activation": "relu"},
                                 {"type": "dense", "units": 3}]},
            "metrics": ["accuracy"], "training": {"epochs": 4, "batch_size": 16},
            "search": {"method": "grid", "pruner": "asha", "space": {"optimizer.lr": RATES}, **search}}


def test_a_pruned_search_on_the_cluster_shares_its_sqlite_study_with_the_workers(cluster, tmp_path):
    import optuna

    config = study_config(tmp_path)
    console = Console(file=io.StringIO(), width=200)
    done = search.grid_search(config, scheduler=cluster, console=console)
    storage = f"sqlite:///{done.path / 'search.db'}"
    assert f"study 'iris' in {storage}" in console.file.getvalue()
    table = done.results.set_index("optimizer.lr")
    assert table.loc[0.1, "status"] == "ok" and table.loc[0.1, "epochs"] == 4
    assert table.loc[0.0001, "status"] == "pruned" and table.loc[0.0001, "epochs"] == 1
    study = optuna.load_study(study_name="iris", storage=storage)
    assert len(study.trials) == len(RATES)
    for trial in study.trials:  # every epoch was reported by the worker that trained it
        run = done.path / trial.user_attrs["trial_id"]
        history = pd.read_csv(run / "history.csv")
        assert trial.intermediate_values == dict(zip(history["epoch"], history["val_loss"]))
        stopped = json.loads((run / "metrics.json").read_text())["stopped_reason"]
        assert (stopped == "pruned") == (trial.state == optuna.trial.TrialState.PRUNED)
    resumed = search.grid_search(config, scheduler=cluster, console=console)
    assert f"({len(RATES)} already ended)" in console.file.getvalue()
    pd.testing.assert_frame_equal(resumed.results, done.results)
    assert len(optuna.load_study(study_name="iris", storage=storage).trials) == len(RATES)


def test_cross_validated_trials_come_back_from_the_cluster_with_their_folds(cluster, tmp_path):
    import optuna

    config = study_config(tmp_path, pruner="median", folds=2, space={"optimizer.lr": [0.1, 0.01]})
    config["training"]["epochs"] = 1
    done = search.grid_search(config, scheduler=cluster, console=Console(file=io.StringIO()))
    study = optuna.load_study(study_name="iris", storage=f"sqlite:///{done.path / 'search.db'}")
    for trial in study.trials:
        folder = done.path / trial.user_attrs["trial_id"]
        scores = pd.read_csv(folder / "cv.csv", dtype={"fold": str}).set_index("fold")
        assert trial.intermediate_values == pytest.approx(
            {1: scores.loc["1", "val_loss"], 2: (scores.loc["1", "val_loss"] + scores.loc["2", "val_loss"]) / 2})
        fold = yaml.safe_load((folder / "fold-2" / "config.yaml").read_text())
        assert fold["data"]["test"] == str(folder / "data" / "fold-2-test.csv")
        assert (folder / "fold-2" / "model.npz").is_file()
    assert list(done.results["status"]) == ["ok", "ok"] and list(done.results["folds"]) == [2, 2]


def test_a_worker_that_cannot_reach_the_study_says_where_it_must_be(tmp_path):
    from nettrain.errors import RunError
    from nettrain.search.study import StudyRef, load_worker_trial

    elsewhere = tmp_path / "not-on-this-machine" / "search.db"
    ref = StudyRef(f"sqlite:///{elsewhere}", "iris", 0, "asha", 4, "val_loss")
    with pytest.raises(RunError, match=r"has no .*search\.db, the study's SQLite file: .*give search\.storage"):
        load_worker_trial(ref)
    assert not elsewhere.parent.exists()
    tmp_path.joinpath("empty.db").touch()
    with pytest.raises(RunError, match="cannot open the study 'iris'"):
        load_worker_trial(StudyRef(f"sqlite:///{tmp_path / 'empty.db'}", "iris", 0, "asha", 4, "val_loss"))
