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
