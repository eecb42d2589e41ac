"""nettrain cv: folds as scikit-learn makes them (StratifiedKFold, GroupKFold, TimeSeriesSplit,
KFold) on the same data, a run per fold, cv.csv and oof.csv, the command and its errors."""

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from rich.console import Console
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit

import nettrain
from nettrain.cli import cli
from nettrain.data import folds
from nettrain.errors import NettrainError

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT / "datasets"


def class_counts(labels, parts):
    classes = list(dict.fromkeys(labels))
    return np.array([[np.sum(labels[p] == c) for c in classes] for p in parts])


def assert_partition(parts, n):
    joined = np.concatenate(parts)
    assert len(joined) == n and set(joined.tolist()) == set(range(n))


# ---------------------------------------------------------------- the folds against scikit-learn


@pytest.mark.parametrize("dataset, target, k", [("wine.csv", "cultivar", 5), ("iris.csv", "species", 4),
                                                ("penguins.csv", "species", 3)])
def test_stratified_folds_hold_each_class_as_stratified_kfold_does(dataset, target, k):
    labels = pd.read_csv(DATASETS / dataset)[target].astype(str).to_numpy()
    ours = folds.stratified(labels, k, seed=0)
    theirs = [test for _, test in StratifiedKFold(k, shuffle=True, random_state=0).split(labels, labels)]
    assert_partition(ours, len(labels))
    assert (class_counts(labels, ours) == class_counts(labels, theirs)).all()
    assert [f.tolist() for f in folds.stratified(labels, k, seed=0)] == [f.tolist() for f in ours]
    assert [f.tolist() for f in folds.stratified(labels, k, seed=1)] != [f.tolist() for f in ours]


def test_grouped_folds_never_split_a_group_and_balance_as_group_kfold():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 23, size=200)
    ours = folds.grouped(groups, 5)
    theirs = [test for _, test in GroupKFold(5).split(groups, groups, groups)]
    assert_partition(ours, len(groups))
    seen = [set(groups[f].tolist()) for f in ours]
    assert all(not (a & b) for i, a in enumerate(seen) for b in seen[i + 1:])
    assert sorted(map(len, ours)) == sorted(map(len, theirs))


@pytest.mark.parametrize("n, k", [(309, 3), (100, 4), (20, 5)])
def test_chronological_folds_are_time_series_split(n, k):
    ours = folds.chronological(n, k)
    theirs = list(TimeSeriesSplit(k).split(np.zeros(n)))
    assert len(ours) == len(theirs)
    for (held, before), (train, test) in zip(ours, theirs):
        assert held.tolist() == test.tolist() and before.tolist() == train.tolist()


def test_plain_folds_have_kfold_sizes_and_cover_every_row():
    ours = folds.kfold(103, 5, seed=0)
    assert_partition(ours, 103)
    assert [len(f) for f in ours] == [len(test) for _, test in KFold(5).split(np.zeros(103))]


def test_the_rows_left_split_train_val_in_the_configured_ratio():
    rows = np.arange(100, 200)
    parts = folds.train_val(rows, {"train": 0.7, "val": 0.15}, seed=0)
    assert sorted(np.concatenate([parts["train"], parts["val"]]).tolist()) == rows.tolist()
    assert len(parts["val"]) == round(100 * 0.15 / 0.85)
    ordered = folds.train_val(rows, {"train": 0.6, "val": 0.2}, seed=0, in_order=True)
    assert ordered["train"].tolist() == list(range(100, 175)) and ordered["val"][0] == 175
    assert list(folds.train_val(rows, {"train": 1.0, "val": 0.0}, seed=0)) == ["train"]
    groups = np.repeat(np.arange(50), 4)
    by_group = folds.train_val(rows, {"train": 0.5, "val": 0.5}, seed=0, groups=groups)
    assert not set(groups[by_group["train"]]) & set(groups[by_group["val"]])


def test_too_many_folds_is_a_data_error():
    from nettrain.errors import DataError

    with pytest.raises(DataError, match="no class has 6 rows"):
        folds.stratified(np.array(list("aabbbcccc") + ["d"] * 5), 6, 0)
    with pytest.raises(DataError, match="--folds 4 is more than the data's 3 groups"):
        folds.grouped(np.array([1, 1, 2, 3]), 4)


# ---------------------------------------------------------------- nettrain cv


def iris_config(tmp_path, **extra):
    config = {"name": "iris", "seed": 0, "output": str(tmp_path / "runs"),
              "data": {"path": str(DATASETS / "iris.csv"), "target": "species"},
              "model": {"layers": [{"type": "dense", "units": 8, "activation": "relu"},
                                   {"type": "dense", "units": 3}]},
              "optimizer": {"name": "adam", "lr": 0.05}, "metrics": ["accuracy"],
              "training": {"epochs": 3, "batch_size": 16}, **extra}
    path = tmp_path / "iris.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def quiet():
    return {"quiet": True, "console": Console(file=io.StringIO())}


@pytest.fixture(scope="module")
def iris_cv(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("iris_cv")
    return nettrain.cv(iris_config(tmp_path), folds=3, **quiet())


def test_cv_writes_a_run_per_fold_cv_csv_and_oof_csv(iris_cv):
    folder = iris_cv.path
    assert folder.parent.name == "iris-cv"
    assert {"fold-1", "fold-2", "fold-3", "cv.csv", "oof.csv"} <= {p.name for p in folder.iterdir()}
    for k in (1, 2, 3):
        assert (folder / f"fold-{k}" / "model.npz").is_file()
    table = pd.read_csv(folder / "cv.csv")
    assert table["fold"].tolist() == ["1", "2", "3", "mean", "std"]
    assert {"train_loss", "val_loss", "val_accuracy", "test_loss", "test_accuracy"} <= set(table.columns)
    scores = table.iloc[:3]["test_accuracy"].astype(float)
    assert table.iloc[3]["test_accuracy"] == pytest.approx(scores.mean())
    assert table.iloc[4]["test_accuracy"] == pytest.approx(scores.std(ddof=1))
    assert iris_cv.mean("test_accuracy") == pytest.approx(scores.mean())


def test_the_held_out_folds_cover_every_row_stratified(iris_cv):
    oof = pd.read_csv(iris_cv.path / "oof.csv")
    source = pd.read_csv(DATASETS / "iris.csv")
    assert list(oof.columns) == ["row", "fold", "true_species", "predicted_species", "proba_setosa",
                                 "proba_versicolor", "proba_virginica"]
    assert oof["row"].tolist() == list(range(len(source)))
    assert (oof["true_species"] == source["species"]).all()
    labels = source["species"].to_numpy()
    ours = [oof.loc[oof["fold"] == k, "row"].to_numpy() for k in (1, 2, 3)]
    theirs = [test for _, test in StratifiedKFold(3, shuffle=True, random_state=0).split(labels, labels)]
    assert (class_counts(labels, ours) == class_counts(labels, theirs)).all()
    np.testing.assert_allclose(oof.filter(like="proba_").sum(axis=1), 1.0, rtol=1e-5)


def test_each_fold_trains_on_the_other_rows_and_tests_on_its_own(iris_cv):
    oof = pd.read_csv(iris_cv.path / "oof.csv")
    source = pd.read_csv(DATASETS / "iris.csv")
    for k, run in enumerate(iris_cv.runs, start=1):
        config = yaml.safe_load((run.path / "config.yaml").read_text())
        data = config["data"]
        assert data["path"] is None and data["split"] is None
        parts = {s: pd.read_csv(data[s]) for s in ("train", "val", "test")}
        assert sum(len(p) for p in parts.values()) == len(source)
        held = oof.loc[oof["fold"] == k]
        pd.testing.assert_frame_equal(parts["test"], source.iloc[held["row"]].reset_index(drop=True))
        assert len(parts["val"]) == round((len(source) - len(held)) * 0.15 / 0.85)
        predicted = nettrain.predict(run.path, data["test"])
        assert predicted["predicted_species"].tolist() == held["predicted_species"].tolist()


def test_grouped_cv_keeps_each_group_in_one_fold(tmp_path):
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame({"patient": rng.integers(0, 12, n), "x": rng.normal(size=n)})
    frame["y"] = frame["x"] * 2 + rng.normal(scale=0.1, size=n)
    frame.to_csv(tmp_path / "visits.csv", index=False)
    config = {"seed": 0, "output": str(tmp_path / "runs"),
              "data": {"path": "visits.csv", "target": "y", "group": "patient", "exclude": ["patient"]},
              "model": {"layers": [{"type": "dense", "units": 1}]}, "loss": "mse",
              "metrics": ["mae"], "training": {"epochs": 2}}
    (tmp_path / "visits.yaml").write_text(yaml.safe_dump(config))
    result = nettrain.cv(tmp_path / "visits.yaml", folds=4, **quiet())
    oof = result.oof
    assert sorted(oof["row"]) == list(range(n))
    per_group = frame.loc[oof["row"], "patient"].groupby(oof["fold"].to_numpy()).apply(set)
    assert all(not (a & b) for i, a in enumerate(per_group) for b in per_group.iloc[i + 1:])
    theirs = [test for _, test in GroupKFold(4).split(frame, groups=frame["patient"])]
    assert sorted(oof["fold"].value_counts()) == sorted(map(len, theirs))
    for run in result.runs:
        data = yaml.safe_load((run.path / "config.yaml").read_text())["data"]
        train, val, test = (set(pd.read_csv(data[s])["patient"]) for s in ("train", "val", "test"))
        assert not (train & test) and not (val & test) and not (train & val)


def test_a_window_series_is_cut_as_time_series_split(tmp_path):
    config = {"name": "spots", "seed": 0, "output": str(tmp_path / "runs"),
              "data": {"path": str(DATASETS / "sunspots.csv"), "target": "sunspots", "task": "regression",
                       "window": {"size": 8, "order_by": "year"}},
              "model": {"layers": [{"type": "lstm", "units": 4}, {"type": "dense", "units": 1}]},
              "loss": "mse", "metrics": ["mae"], "training": {"epochs": 1}}
    result = nettrain.cv(config, folds=3, **quiet())
    n = len(pd.read_csv(DATASETS / "sunspots.csv"))
    for k, (train, test) in enumerate(TimeSeriesSplit(3).split(np.zeros(n)), start=1):
        rows = result.oof.loc[result.oof["fold"] == k, "row"].tolist()
        assert rows == test[8:].tolist()  # each target after a full window inside the block
        data = yaml.safe_load((result.runs[k - 1].path / "config.yaml").read_text())["data"]
        assert len(pd.read_csv(data["train"])) + len(pd.read_csv(data["val"])) == len(train)
    with pytest.raises(NettrainError, match="the val block of fold 1 has"):
        nettrain.cv(config, folds=3, overrides=["data.window.size=30"], **quiet())


def test_the_command_prints_the_folds_and_their_mean(tmp_path):
    path = iris_config(tmp_path)
    result = CliRunner().invoke(cli, ["cv", str(path), "--folds", "2", "--set", "training.epochs=1"])
    assert result.exit_code == 0, result.output
    assert "cv: 2 folds of 150 rows (stratified)" in result.output
    assert "[2/2] fold-2: val_loss" in result.output and "test_accuracy: " in result.output
    bad = CliRunner().invoke(cli, ["cv", str(path), "--folds", "1"])
    assert bad.exit_code == 2 and "--folds" in bad.output


def test_cv_refuses_data_it_cannot_deal_into_folds(tmp_path):
    np.savez(tmp_path / "arrays.npz", X=np.zeros((10, 2)), y=np.arange(10) % 2)
    config = iris_config(tmp_path)
    for data, message in [({"path": str(tmp_path / "arrays.npz")}, "is an .npz file"),
                          ({"path": str(DATASETS / "iris.csv"), "target": "species", "group": "nope"},
                           "data.group: column 'nope' not found")]:
        raw = yaml.safe_load(config.read_text())
        raw["data"] = data
        config.write_text(yaml.safe_dump(raw))
        result = CliRunner().invoke(cli, ["cv", str(config)])
        assert result.exit_code == 2 and message in result.output, result.output


def test_a_run_from_before_data_group_and_search_folds_still_resumes(tmp_path):
    run = nettrain.fit(iris_config(tmp_path), training={"epochs": 2}, **quiet())
    saved = yaml.safe_load((run.path / "config.yaml").read_text())
    del saved["data"]["group"], saved["search"]["folds"]  # as an older version wrote it
    (run.path / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    again = nettrain.fit(None, resume=run.path, training={"epochs": 3}, **quiet())
    assert again.metrics["epochs_run"] == 3
