"""grid-search: trials, ids and resume, failures, bad input, local processes, refit, output."""

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from rich.console import Console

from nettrain.cli import cli
from nettrain.config.loading import load_config
from nettrain.errors import ConfigError, Interrupted, RunError
from nettrain.search import executors
from nettrain.search import grid as search


def toy_csv(folder, n=90, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    label = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "label": label}).to_csv(folder / "toy.csv", index=False)


@pytest.fixture
def make_config(tmp_path, monkeypatch):
    """Write toy.csv and a config searching `space` (plus `extra` top-level keys); return its path.

    The working directory is tmp_path, where the default `output: runs` goes.
    """
    toy_csv(tmp_path)
    monkeypatch.chdir(tmp_path)

    def make(space, name="toy", **extra):
        search_section = extra.pop("search", {})
        cfg = {
            "name": name,
            "data": {"path": "toy.csv", "target": "label"},
            "model": {"layers": [{"type": "dense", "units": 4, "activation": "relu"},
                                 {"type": "dense", "units": 2}]},
            "optimizer": {"name": "sgd", "lr": 0.1},
            "training": {"epochs": 2, "batch_size": 32},
            "metrics": ["accuracy"],
            "search": {"space": space, **search_section},
            **extra,
        }
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return path

    return make


def quiet_console():
    return Console(file=io.StringIO(), width=200)


def run_search(path, **kwargs):
    kwargs.setdefault("workers", 1)
    kwargs.setdefault("console", quiet_console())
    return search.grid_search(path, **kwargs)


# ---------------------------------------------------------------- a whole search


def test_grid_search_writes_runs_ranked_results_and_best_yaml(make_config, tmp_path):
    path = make_config({"optimizer.lr": [0.3, 0.01], "model.layers.0.units": [2, 8]})
    result = run_search(path)
    folder = tmp_path / "runs" / "toy-search"
    assert result.path == folder
    table = pd.read_csv(folder / "results.csv")
    assert list(table.columns) == ["rank", "id", "optimizer.lr", "model.layers.0.units",
                                   "val_loss", "val_accuracy", "status", "error", "seconds"]
    assert len(table) == 4 and set(table["status"]) == {"ok"}
    assert table["val_loss"].is_monotonic_increasing  # val_loss is ranked low to high
    assert sorted(zip(table["optimizer.lr"], table["model.layers.0.units"])) == [
        (0.01, 2), (0.01, 8), (0.3, 2), (0.3, 8)]
    for trial_id in table["id"]:
        run = folder / trial_id
        assert {"config.yaml", "model.npz", "metrics.json", "history.csv"} <= {p.name for p in run.iterdir()}
    best = table.iloc[0]
    assert result.best["id"] == best["id"]
    best_cfg = load_config(folder / "best.yaml")  # ready for `nettrain fit`
    assert best_cfg.data["optimizer"]["lr"] == best["optimizer.lr"]
    assert best_cfg.data["model"]["layers"][0]["units"] == best["model.layers.0.units"]
    assert (folder / best["id"] / "metrics.json").exists()


def test_the_dataset_is_prepared_once_for_all_trials(make_config, monkeypatch):
    import nettrain.data.dataset

    calls = []
    real = nettrain.data.dataset.prepare_data
    monkeypatch.setattr(nettrain.data.dataset, "prepare_data", lambda cfg, *a: calls.append(cfg) or real(cfg, *a))
    run_search(make_config({"optimizer.lr": [0.3, 0.1, 0.01]}))
    assert len(calls) == 1


def test_trial_ids_hash_the_resolved_config_not_its_name_or_output(make_config):
    def ids(path, overrides=()):
        cfg, raw, base_dir = search.load_base(path, overrides)
        spec = search.search_spec(cfg.data["search"])
        return [t.id for t in search.plan_trials(raw, base_dir, spec, cfg.data["seed"], cfg.data["search"])]

    first = ids(make_config({"optimizer.lr": [0.3, 0.01]}))
    assert len(set(first)) == 2 and all(len(i) == 8 for i in first)
    assert ids(make_config({"optimizer.lr": [0.3, 0.01]}, name="other", output="elsewhere")) == first
    # the same values written out explicitly resolve to the same configs
    assert ids(make_config({"optimizer.lr": [0.3, 0.01]}, regularization={"l2": 0.0})) == first
    assert ids(make_config({"optimizer.lr": [0.3, 0.02]}))[0] == first[0]
    assert ids(make_config({"optimizer.lr": [0.3, 0.01]}), ["training.epochs=3"])[0] != first[0]


def test_rerunning_resumes_and_skips_finished_trials(make_config, tmp_path, count_runs):
    path = make_config({"optimizer.lr": [0.3, 0.1, 0.01]})
    first = run_search(path)
    assert len(count_runs) == 3
    again = run_search(path)
    assert len(count_runs) == 3  # nothing trained the second time
    pd.testing.assert_frame_equal(first.results.drop(columns="seconds"), again.results.drop(columns="seconds"))
    removed = first.results["id"][1]
    import shutil

    shutil.rmtree(tmp_path / "runs" / "toy-search" / removed)
    run_search(path)
    assert [u.trial_id for u in count_runs[3:]] == [removed]


def test_a_failed_trial_is_recorded_and_the_search_goes_on(make_config, tmp_path, count_runs):
    path = make_config({"optimizer.lr": [0.1, 1e30]})  # 1e30 diverges
    result = run_search(path)
    table = result.results
    assert list(table["status"]) == ["ok", "failed"]
    failed = table.iloc[1]
    assert failed["optimizer.lr"] == 1e30
    assert failed["error"].startswith("DivergenceError: Training diverged")
    assert pd.isna(failed["val_loss"])
    assert result.best["id"] == table["id"][0]
    assert (tmp_path / "runs" / "toy-search" / failed["id"] / "failed.json").exists()
    run_search(path)
    assert len(count_runs) == 2  # a failure is a result: not retried on resume


def test_every_trial_failing_is_a_run_error_exit_1(make_config):
    path = make_config({"optimizer.lr": [1e30, 1e31]})
    with pytest.raises(RunError, match="every trial failed"):
        run_search(path)
    result = CliRunner().invoke(cli, ["grid-search", str(path), "--workers", "1"])
    assert result.exit_code == 1
    assert "every trial failed" in result.output


def test_repeats_train_each_trial_with_several_seeds(make_config, tmp_path):
    path = make_config({"optimizer.lr": [0.3, 0.05]}, search={"repeats": 3})
    table = run_search(path).results
    assert {"val_loss_std", "val_accuracy_std"} <= set(table.columns)
    folder = tmp_path / "runs" / "toy-search"
    trial = table["id"][0]
    runs = [folder / trial, folder / f"{trial}-r1", folder / f"{trial}-r2"]
    seeds = [yaml.safe_load((run / "config.yaml").read_text())["seed"] for run in runs]
    assert seeds == [0, 1, 2]
    losses = [float(pd.read_json(run / "metrics.json", typ="series")["val"]["loss"]) for run in runs]
    assert table["val_loss"][0] == pytest.approx(np.mean(losses))
    assert table["val_loss_std"][0] == pytest.approx(np.std(losses, ddof=1))


def test_random_search_draws_seeded_trials_from_distributions(make_config):
    space = {"optimizer.lr": {"log_uniform": [1e-3, 0.5]}, "model.layers.0.units": {"int": [2, 6]}}
    path = make_config(space, search={"method": "random", "trials": 3})
    table = run_search(path).results
    assert len(table) == 3
    assert table["optimizer.lr"].between(1e-3, 0.5).all()
    assert table["model.layers.0.units"].between(2, 6).all()
    assert set(run_search(path).results["id"]) == set(table["id"])  # same seed, same trials


def test_a_max_metric_ranks_high_first(make_config):
    path = make_config({"optimizer.lr": [0.3, 0.001]}, search={"metric": "val_accuracy"})
    table = run_search(path).results
    assert table["val_accuracy"].is_monotonic_decreasing


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "space, search_extra, message",
    [
        ({}, {}, "is empty: there is nothing to search"),
        ({"optimizer.lrr": [0.1]}, {}, "lrr"),
        ({"model.layers.5.units": [3]}, {}, "model.layers"),
        ({"optimizer.lr": {"uniform": [0.1, 0.01]}}, {"method": "random"}, "needs lo < hi"),
        ({"optimizer.lr": {"log_uniform": [0.0, 0.1]}}, {"method": "random"}, "needs 0 < lo"),
        ({"optimizer.lr": {"uniform": [0.01, 0.1]}}, {}, "only search.method: random"),
    ],
)
def test_bad_search_spaces_exit_2_before_training(make_config, tmp_path, space, search_extra, message):
    path = make_config(space, search=search_extra)
    result = CliRunner().invoke(cli, ["grid-search", str(path), "--workers", "1"])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


def test_an_invalid_combination_is_reported_before_any_trial(make_config, tmp_path):
    # momentum alone is fine for sgd, adam alone is fine: adam with momentum is not.
    path = make_config({"optimizer.name": ["sgd", "adam"], "optimizer.momentum": [0.0, 0.9]})
    with pytest.raises(ConfigError) as info:
        run_search(path)
    text = str(info.value)
    assert "no trial was started" in text
    assert text.count("optimizer.name: 'adam', optimizer.momentum") == 2
    assert not (tmp_path / "runs").exists()


def test_a_search_needs_a_validation_split(make_config):
    path = make_config({"optimizer.lr": [0.1]}, data={"path": "toy.csv", "target": "label",
                                                      "split": {"train": 0.8, "test": 0.2}})
    result = CliRunner().invoke(cli, ["grid-search", str(path)])
    assert result.exit_code == 2
    assert "validation split" in result.output


def test_workers_must_be_positive_and_exclusive_with_a_scheduler(make_config):
    path = str(make_config({"optimizer.lr": [0.1]}))
    assert CliRunner().invoke(cli, ["grid-search", path, "--workers", "0"]).exit_code == 2
    both = CliRunner().invoke(cli, ["grid-search", path, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"])
    assert both.exit_code == 2 and "Give one of the two" in both.output


# ---------------------------------------------------------------- local processes


def test_worker_processes_get_one_blas_thread_and_the_parent_is_restored(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    with executors.LocalPool(1, {}) as pool:
        seen = pool.pool.submit(os.getenv, "OPENBLAS_NUM_THREADS").result()
        omp = pool.pool.submit(os.getenv, "OMP_NUM_THREADS").result()
    assert (seen, omp) == ("1", "1")
    assert os.environ["OMP_NUM_THREADS"] == "7"
    assert "MKL_NUM_THREADS" not in os.environ


def _die(code):
    os._exit(code)


def test_a_worker_that_dies_is_a_failed_unit_then_a_clear_run_error():
    with executors.LocalPool(1, {}) as pool:
        with pytest.raises(executors.BrokenProcessPool):
            pool.pool.submit(_die, 3).result()
        with pytest.raises(RunError, match="worker process stopped abruptly.*resume"):
            pool.submit(None)


def test_two_worker_processes_give_the_same_results_as_one(make_config):
    path = make_config({"optimizer.lr": [0.3, 0.1, 0.03]})
    inline = run_search(path, out=path.parent / "inline").results
    pooled = run_search(path, out=path.parent / "pooled", workers=2).results
    columns = ["id", "optimizer.lr", "val_loss", "val_accuracy", "status"]
    pd.testing.assert_frame_equal(inline[columns], pooled[columns])


# ---------------------------------------------------------------- Ctrl-C


def test_interrupt_saves_results_so_far_and_the_same_call_resumes(make_config, monkeypatch):
    path = make_config({"optimizer.lr": [0.3, 0.1, 0.03, 0.01]})
    real = executors.run_unit
    calls = []

    def stop_at_third(unit, dataset, ship=False):
        calls.append(unit.trial_id)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(unit, dataset, ship)

    monkeypatch.setattr(executors, "run_unit", stop_at_third)
    with pytest.raises(Interrupted, match="2 of 4 trials finished") as info:
        run_search(path)
    assert info.value.exit_code == 130
    folder = path.parent / "runs" / "toy-search"
    assert len(pd.read_csv(folder / "results.csv")) == 2
    result = run_search(path)
    assert len(calls) == 5  # 3 before the stop, then only the 2 unfinished trials
    assert calls[3] == calls[2]  # the interrupted trial trains again
    assert set(calls[3:]) == set(result.results["id"]) - set(calls[:2])
    assert len(result.results) == 4


def live_processes(group):
    """Pids of the processes in a process group that are still running (not zombies)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc and sends signals to a process group")
def test_ctrl_c_stops_worker_processes_and_exits_130(make_config, tmp_path):
    path = make_config({"optimizer.lr": [0.3, 0.2, 0.1, 0.05, 0.03, 0.02, 0.01, 0.005]},
                       training={"epochs": 100, "batch_size": 8})
    code = "from nettrain.cli import cli; cli()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "grid-search", str(path), "--workers", "2"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    results = tmp_path / "runs" / "toy-search" / "results.csv"
    try:
        deadline = time.monotonic() + 120
        while not results.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
        output, _ = proc.communicate(timeout=60)
        deadline = time.monotonic() + 10  # processes already exiting may take a moment
        while live_processes(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = live_processes(proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == 130, output
    assert "Run the same command again to resume" in output
    done = pd.read_csv(results)
    assert 1 <= len(done) < 8 and set(done["status"]) == {"ok"}
    assert left == []  # no worker process was left running


# ---------------------------------------------------------------- output and refit


def test_plain_lines_when_not_a_terminal(make_config):
    out = io.StringIO()
    run_search(make_config({"optimizer.lr": [0.3, 0.01]}), console=Console(file=out, width=200))
    text = out.getvalue()
    assert "[1/2]" in text and "[2/2]" in text
    assert "trials 2/2 done, 0 running, 0 failed" in text
    assert "elapsed" in text and "left" in text
    assert "\x1b[" not in text
    assert "best trial" in text


def test_refit_trains_on_train_plus_val_and_reports_test(make_config, tmp_path):
    path = make_config({"optimizer.lr": [0.3, 0.01]})
    result = CliRunner().invoke(cli, ["grid-search", str(path), "--workers", "1", "--refit"])
    assert result.exit_code == 0, result.output
    assert "refit of" in result.output and "test_accuracy" in result.output
    refit = next((tmp_path / "runs" / "toy-search").glob("refit-*"))
    cfg = yaml.safe_load((refit / "config.yaml").read_text())
    assert cfg["data"]["split"]["val"] == 0 and cfg["data"]["split"]["train"] == pytest.approx(0.85)
    metrics = pd.read_json(refit / "metrics.json", typ="series")
    assert "val" not in metrics and "test" in metrics


def test_refit_with_early_stopping_trains_for_the_kept_epochs(make_config):
    path = make_config({"optimizer.lr": [0.3]}, training={"epochs": 30, "batch_size": 32,
                       "early_stopping": {"patience": 2}})
    result = run_search(path, refit=True)
    kept = pd.read_json(result.path / result.best["id"] / "metrics.json", typ="series")["weights_epoch"]
    refit = result.refit.config.data["training"]
    assert refit["early_stopping"] is None and refit["epochs"] == kept


def test_refit_appends_a_separate_val_file_to_train(make_config, tmp_path, monkeypatch):
    table = pd.read_csv(tmp_path / "toy.csv")
    for name, rows in (("train", slice(0, 60)), ("val", slice(60, 75)), ("test", slice(75, 90))):
        table.iloc[rows].to_csv(tmp_path / f"{name}.csv", index=False)
    data = {"train": "train.csv", "val": "val.csv", "test": "test.csv", "target": "label"}
    from nettrain.training import launch

    datasets = []
    real_train_run = launch.train_run
    monkeypatch.setattr(launch, "train_run",
                        lambda cfg, **kw: datasets.append(kw["dataset"]) or real_train_run(cfg, **kw))
    result = run_search(make_config({"optimizer.lr": [0.3, 0.1]}, data=data), refit=True)
    refit_data = datasets[-1]
    assert {k: len(v[0]) for k, v in refit_data.splits.items()} == {"train": 75, "test": 15}
    searched = datasets[0]
    np.testing.assert_array_equal(refit_data.splits["train"][0][60:], searched.splits["val"][0])
    assert result.refit.config.data["data"]["val"] is None
    assert set(result.refit.metrics) >= {"train", "test"} and "val" not in result.refit.metrics


def test_a_trial_that_does_not_fit_the_data_is_reported_before_any_trial(make_config, tmp_path):
    path = make_config({"model.layers.1.units": [2, 3]})  # the toy data has 2 classes
    result = CliRunner().invoke(cli, ["grid-search", str(path)])
    assert result.exit_code == 2, result.output
    assert "no trial was started" in result.output and "model.layers.1.units: 3" in result.output
    assert not list((tmp_path / "runs" / "toy-search").iterdir())
