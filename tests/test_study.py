"""Searches on an Optuna study: tpe and the pruners, pruned trials as runs and rows, the
study in search.db or search.storage, resuming (an interrupted trial never counted twice),
a grid under a pruner, and the config error without the `search` extra."""

import io
import json
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
from rich.console import Console

import nettrain
from nettrain.errors import ConfigError, Interrupted
from nettrain.search import executors

ROOT = Path(__file__).resolve().parent.parent
IRIS = str(ROOT / "datasets" / "iris.csv")
SPACE = {"optimizer.lr": {"log_uniform": [0.0001, 0.3]}, "model.layers.0.units": {"int": [2, 16]}}


def config(tmp_path, epochs=8, **search):
    return {"name": "iris", "seed": 0, "output": str(tmp_path / "runs"),
            "data": {"path": IRIS, "target": "species"},
            "model": {"layers": [{"type": "dense", "units": 4, "activation": "relu"},
                                 {"type": "dense", "units": 3}]},
            "optimizer": {"name": "adam", "lr": 0.01}, "metrics": ["accuracy"],
            "training": {"epochs": epochs, "batch_size": 16},
            "search": {"method": "tpe", "trials": 8, "pruner": "asha", "space": SPACE, **search}}


def search(cfg, **kwargs):
    return nettrain.grid_search(cfg, workers=1, quiet=True, console=Console(file=io.StringIO()), **kwargs)


@pytest.fixture(scope="module")
def pruned_search(tmp_path_factory):
    return search(config(tmp_path_factory.mktemp("pruned")))


def test_a_pruned_trial_stops_keeps_its_run_and_is_a_pruned_row(pruned_search):
    table = pd.read_csv(pruned_search.path / "results.csv", dtype={"id": str})
    assert len(table) == 8 and set(table["status"]) == {"ok", "pruned"}
    assert list(table.columns[-4:]) == ["status", "error", "seconds", "epochs"]
    for row in table.itertuples():
        metrics = json.loads((pruned_search.path / row.id / "metrics.json").read_text())
        history = pd.read_csv(pruned_search.path / row.id / "history.csv")
        assert metrics["epochs_run"] == len(history) == row.epochs
        if row.status == "pruned":
            assert metrics["stopped_reason"] == "pruned" and row.epochs < 8
        else:
            assert metrics["stopped_reason"] == "completed" and row.epochs == 8
    assert table["status"].iloc[0] == "ok" and pruned_search.best["id"] == table["id"].iloc[0]


def test_every_epoch_is_reported_to_the_study_in_search_db(pruned_search):
    study = optuna.load_study(study_name="iris", storage=f"sqlite:///{pruned_search.path / 'search.db'}")
    table = pd.read_csv(pruned_search.path / "results.csv", dtype={"id": str}).set_index("id")
    states = {"ok": optuna.trial.TrialState.COMPLETE, "pruned": optuna.trial.TrialState.PRUNED}
    assert len(study.trials) == 8
    for trial in study.trials:
        row = table.loc[trial.user_attrs["trial_id"]]
        assert trial.state == states[row["status"]]
        history = pd.read_csv(pruned_search.path / row.name / "history.csv")
        assert trial.intermediate_values == dict(zip(history["epoch"], history["val_loss"]))
        assert trial.params["optimizer.lr"] == row["optimizer.lr"]
    assert study.best_value == pytest.approx(table["val_loss"].iloc[0])


def test_running_the_same_search_again_trains_nothing(pruned_search, count_runs):
    again = search(config(pruned_search.path.parent.parent))
    assert count_runs == []
    pd.testing.assert_frame_equal(again.results, pruned_search.results)


def test_an_interrupted_trial_is_rerun_and_never_counted_twice(tmp_path, monkeypatch):
    real, calls = executors.run_unit, []

    def third_interrupted(unit, dataset, ship=False):
        calls.append(unit)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(unit, dataset, ship)

    monkeypatch.setattr(executors, "run_unit", third_interrupted)
    cfg = config(tmp_path, trials=5)
    with pytest.raises(Interrupted, match="2 of 5 trials ended"):
        search(cfg)
    table = pd.read_csv(tmp_path / "runs" / "iris-search" / "results.csv")
    assert len(table) == 2
    monkeypatch.setattr(executors, "run_unit", lambda u, d, s=False: calls.append(u) or real(u, d, s))
    done = search(cfg)
    assert len(done.results) == 5 and done.results["id"].is_unique
    assert len(calls) == 3 + 3  # 2 ended + 1 interrupted, then 3 more: the interrupted point redrawn
    study = optuna.load_study(study_name="iris", storage=f"sqlite:///{done.path / 'search.db'}")
    interrupted = [t for t in study.trials if t.user_attrs.get("interrupted")]
    assert len(interrupted) == 1 and "row" not in interrupted[0].user_attrs
    assert interrupted[0].params != study.trials[-1].params


def test_a_grid_under_a_pruner_tries_each_point_once(tmp_path):
    cfg = config(tmp_path, epochs=3, method="grid", pruner="median",
                 space={"optimizer.lr": [0.1, 0.01, 0.001], "model.layers.0.units": [2, 8]})
    done = search(cfg)
    points = sorted(zip(done.results["optimizer.lr"], done.results["model.layers.0.units"]))
    assert points == sorted((lr, u) for lr in (0.1, 0.01, 0.001) for u in (2, 8))


def test_the_study_goes_where_search_storage_says(tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    done = search(config(tmp_path, epochs=3, trials=2, pruner="hyperband", storage=storage))
    assert not (done.path / "search.db").exists()
    assert len(optuna.load_study(study_name="iris", storage=storage).trials) == 2


def test_without_optuna_tpe_and_pruners_name_the_extra_and_grid_still_runs(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if not installed
    for extra, asked in [({}, "search.method: tpe and search.pruner: asha"),
                         ({"method": "random", "trials": 2}, "search.pruner: asha")]:
        with pytest.raises(ConfigError, match="pip install 'nettrain\\[search\\]'") as info:
            search(config(tmp_path, **extra))
        assert str(info.value).startswith(asked)
    done = search(config(tmp_path, epochs=2, method="grid", pruner="none",
                         space={"optimizer.lr": [0.1, 0.01]}))
    assert list(done.results["status"]) == ["ok", "ok"]


def test_a_pruner_with_repeats_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="search.repeats: 1"):
        search(config(tmp_path, repeats=2))
