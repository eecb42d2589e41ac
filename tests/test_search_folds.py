"""search.folds: K scores each trial by k-fold cross-validation: the trial's directory is a cv
directory (its folds' runs, cv.csv, oof.csv, as `nettrain cv` writes them), results.csv has the
mean and std over the folds, a pruner stops a trial between folds, a resumed search trains
nothing again, and a trial trained on a Dask worker comes back with its fold runs' data files."""

import io
import json
import re
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from rich.console import Console

import nettrain
from nettrain.config.space import search_spec
from nettrain.errors import NettrainError
from nettrain.reporting import build_report
from nettrain.search import executors
from nettrain.search.base_config import load_base
from nettrain.search.trials import Trial, attach_units, trial_id, with_search

ROOT = Path(__file__).resolve().parent.parent
IRIS = str(ROOT / "datasets" / "iris.csv")
GRID = {"optimizer.lr": [0.1, 0.01, 0.001], "model.layers.0.units": [2, 8]}


def config(tmp_path, **search):
    return {"name": "iris", "seed": 0, "output": str(tmp_path / "runs"),
            "data": {"path": IRIS, "target": "species"},
            "model": {"layers": [{"type": "dense", "units": 4, "activation": "relu"},
                                 {"type": "dense", "units": 3}]},
            "optimizer": {"name": "adam", "lr": 0.01}, "metrics": ["accuracy"],
            "training": {"epochs": 2, "batch_size": 16},
            "search": {"folds": 3, "space": GRID, **search}}


def quiet():
    return {"quiet": True, "console": Console(file=io.StringIO())}


def search(cfg, **kwargs):
    return nettrain.grid_search(cfg, workers=1, **quiet(), **kwargs)


def cv_table(trial_dir):
    return pd.read_csv(trial_dir / "cv.csv", dtype={"fold": str}).set_index("fold")


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    """A grid of 6 points under ASHA, each trial scored by 3 folds."""
    return search(config(tmp_path_factory.mktemp("folds"), pruner="asha"))


def test_each_trial_is_a_cv_directory_ranked_by_its_mean_over_the_folds(pruned):
    table = pd.read_csv(pruned.path / "results.csv", dtype={"id": str})
    assert list(table.columns) == ["rank", "id", "optimizer.lr", "model.layers.0.units", "val_loss",
                                   "val_loss_std", "val_accuracy", "val_accuracy_std", "status", "error",
                                   "seconds", "epochs", "folds"]
    for row in table.itertuples():
        scores = cv_table(pruned.path / row.id)
        assert list(scores.index) == [str(k) for k in range(1, row.folds + 1)] + ["mean", "std"]
        assert row.val_loss == scores.loc["mean", "val_loss"]
        assert row.val_accuracy == scores.loc["mean", "val_accuracy"]
        if row.folds > 1:
            assert row.val_loss_std == scores.loc["std", "val_loss"]
        oof = pd.read_csv(pruned.path / row.id / "oof.csv")
        assert sorted(oof["fold"].unique()) == list(range(1, row.folds + 1))
        epochs = [json.loads((pruned.path / row.id / f"fold-{k}" / "metrics.json").read_text())["epochs_run"]
                  for k in range(1, row.folds + 1)]
        assert row.epochs == sum(epochs)
    ok = table[table["status"] == "ok"]
    assert len(ok) >= 1 and (ok["folds"] == 3).all()
    assert list(ok["val_loss"]) == sorted(ok["val_loss"]) and pruned.best["id"] == table["id"].iloc[0]


def test_a_trial_scored_by_folds_is_what_nettrain_cv_gives_its_config(pruned, tmp_path):
    best = pruned.path / pruned.best["id"]
    alone = nettrain.cv(pruned.path / "best.yaml", folds=3, out=tmp_path, **quiet())
    pd.testing.assert_frame_equal(cv_table(best), alone.scores.astype({"fold": str}).set_index("fold"))
    fold = yaml.safe_load((best / "fold-2" / "config.yaml").read_text())["data"]
    assert fold["test"] == str(best / "data" / "fold-2-test.csv")


def test_the_pruner_stops_a_trial_between_folds_on_the_mean_so_far(pruned):
    table = pd.read_csv(pruned.path / "results.csv", dtype={"id": str}).set_index("id")
    stopped = table[table["status"] == "pruned"]
    assert len(stopped) >= 1 and (stopped["folds"] < 3).all()
    for trial_id_, row in stopped.iterrows():
        assert not (pruned.path / trial_id_ / f"fold-{row['folds'] + 1}").exists()
    study = optuna.load_study(study_name="iris", storage=f"sqlite:///{pruned.path / 'search.db'}")
    assert len(study.trials) == 6
    for trial in study.trials:
        scores = cv_table(pruned.path / trial.user_attrs["trial_id"])
        per_fold = scores.drop(index=["mean", "std"])["val_loss"].to_numpy()
        running = {k: float(per_fold[:k].mean()) for k in range(1, len(per_fold) + 1)}
        assert trial.intermediate_values == pytest.approx(running, rel=1e-12)
    assert study.best_value == table["val_loss"].iloc[0]


def test_the_report_shows_where_each_trial_stopped_and_the_best_trials_folds(pruned):
    html = build_report([pruned.path])
    table = pd.read_csv(pruned.path / "results.csv", dtype={"id": str})
    assert "after each fold: the mean over its folds so far" in html
    for trial in table[table["status"] == "pruned"].itertuples():
        row = re.search(rf"<tr><td><code>{trial.id}</code></td>.*?</tr>", html).group(0)
        assert f"<td>fold {trial.folds}</td>" in row
    finished = (table["status"] == "ok").sum()
    assert f"need at least 5 finished (not pruned) trials in the study; it has {finished}" in html
    assert f"Best trial {pruned.best['id']}" in html and "Spread over the folds" in html
    assert "could not be drawn" not in html


def test_running_the_search_again_trains_nothing(pruned, count_runs):
    again = search(config(pruned.path.parent.parent, pruner="asha"))
    assert count_runs == []
    pd.testing.assert_frame_equal(again.results, pruned.results)


def test_a_grid_without_pruner_resumes_from_its_trials_cv_csv(tmp_path, count_runs):
    cfg = config(tmp_path, folds=2, space={"optimizer.lr": [0.1, 0.01]})
    first = search(cfg)
    assert len(count_runs) == 2 and list(first.results["folds"]) == [2, 2]
    assert set(first.results["status"]) == {"ok"} and not (first.path / "search.db").exists()
    again = search(cfg)
    assert len(count_runs) == 2
    pd.testing.assert_frame_equal(again.results.drop(columns="seconds"), first.results.drop(columns="seconds"))
    html = build_report([first.path])
    assert "this search has no study" in html and "in the order in which the trials ended" in html


def test_folds_are_part_of_a_trials_id(tmp_path):
    ids = set()
    for folds in (None, 3, 5):
        cfg, raw, base = load_base(config(tmp_path, folds=folds))
        ids.add(trial_id(with_search(raw, base, [], cfg["search"])))
    assert len(ids) == 3


def test_folds_with_repeats_or_data_that_cannot_be_folded_stop_before_any_trial(tmp_path, count_runs):
    with pytest.raises(NettrainError, match="give one of the two"):
        search(config(tmp_path, repeats=2))
    with pytest.raises(NettrainError, match="no class has 60 rows"):
        search(config(tmp_path, folds=60))
    assert count_runs == []


def test_a_trial_shipped_back_from_a_worker_names_its_own_fold_files(tmp_path):
    cfg, raw, base = load_base(config(tmp_path, folds=2))
    trial = Trial("t", {}, with_search(raw, base, [], cfg["search"]))
    attach_units([trial], search_spec(cfg["search"]), tmp_path / "search")
    unit = trial.units[0]
    result = executors.run_unit(unit, None, ship=True)
    assert result["status"] == "ok" and "fold-2/model.npz" in result["files"]
    executors.store_shipped(unit.run_dir, result["files"], result["shipped_from"])
    fold = yaml.safe_load((Path(unit.run_dir) / "fold-2" / "config.yaml").read_text())
    assert fold["data"]["train"] == str(Path(unit.run_dir) / "data" / "fold-2-train.csv")
    assert executors.read_finished(unit.run_dir, 2)["metrics"] == result["metrics"]
    predicted = nettrain.predict(Path(unit.run_dir) / "fold-2", fold["data"]["test"])
    assert len(predicted) == len(pd.read_csv(fold["data"]["test"]))
