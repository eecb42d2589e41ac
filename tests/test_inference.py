"""Loading a run directory safely, and predicting / evaluating through the Python API."""

import json
import re
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from trained_runs import ROOT, pets_frame, trained_runs

import nettrain
from nettrain.errors import DataError
from nettrain.inference.loading import DataWarning, captured_warnings, load

IRIS = ROOT / "datasets" / "iris.csv"


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    return trained_runs(tmp_path_factory.getbasetemp())


@pytest.fixture
def copy_run(runs, tmp_path):
    """A writable copy of a run directory, to damage."""
    def make(name):
        dest = tmp_path / name
        shutil.copytree(runs[name].path, dest)
        return dest
    return make


def test_load_is_exported(runs):
    loaded = nettrain.load(runs["iris"].path)
    assert loaded.task == "classification"
    assert loaded.classes.tolist() == ["setosa", "versicolor", "virginica"]
    assert loaded.splits == ["train", "val", "test"]


def test_api_functions_and_run_methods(runs):
    run = runs["iris"]
    frame = pd.read_csv(IRIS)
    assert nettrain.evaluate(run, split="val")["accuracy"] == run.evaluate(split="val")["accuracy"]
    assert run.evaluate(frame)["n_samples"] == 150
    assert run.predict_array(frame).tolist() == load(run.path).predict_array(frame).tolist()
    assert run.predict_proba(frame).tolist() == load(run.path).predict_proba(frame).tolist()
    table = nettrain.predict(run.path, IRIS, proba=True, keep=["species"])
    assert list(table.columns) == ["species", "predicted_species", "proba_setosa",
                                   "proba_versicolor", "proba_virginica"]


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_evaluate_rebuilds_fits_splits(runs, split):
    # fit's metrics.json and evaluate must see the very same rows and preprocessing.
    run = runs["iris"]
    report = load(run.path).evaluate(split=split)
    assert report["split"] == split
    assert report["accuracy"] == pytest.approx(run.metrics[split]["accuracy"], abs=1e-12)
    assert report["loss"] == pytest.approx(run.metrics[split]["loss"], rel=1e-5)
    assert report["macro"]["f1"] == pytest.approx(run.metrics[split]["f1"], abs=1e-12)


def test_evaluate_default_split(runs):
    assert load(runs["iris"].path).evaluate()["split"] == "test"
    assert load(runs["linnerud"].path).evaluate()["split"] == "val"


def test_evaluate_on_a_labelled_frame_matches_predictions(runs):
    loaded = load(runs["iris"].path)
    frame = pd.read_csv(IRIS)
    report = loaded.evaluate(frame)
    predicted = loaded.predict_array(frame)
    assert report["accuracy"] == pytest.approx(np.mean(predicted == frame["species"].to_numpy()))
    assert report["n_samples"] == 150
    assert sum(map(sum, report["confusion_matrix"]["matrix"])) == 150
    json.dumps(report)  # JSON-able as --json prints it


def test_predict_gives_labels_and_probabilities(runs):
    loaded = load(runs["iris"].path)
    frame = pd.read_csv(IRIS)
    proba = loaded.predict_proba(frame)
    assert proba.shape == (150, 3)
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    labels = loaded.predict_array(frame)
    assert labels.tolist() == loaded.classes[proba.argmax(axis=1)].tolist()
    assert np.mean(labels == frame["species"].to_numpy()) > 0.8  # it learned something


def test_columns_in_any_order_extra_and_no_target(runs):
    loaded = load(runs["iris"].path)
    frame = pd.read_csv(IRIS)
    shuffled = frame[["petal_width", "species", "sepal_width", "petal_length", "sepal_length"]]
    shuffled = shuffled.drop(columns="species").assign(note="x")
    assert loaded.predict_array(shuffled).tolist() == loaded.predict_array(frame).tolist()


def test_binary_run_uses_threshold_and_two_columns(runs):
    loaded = load(runs["pets"].path)
    frame = pets_frame()
    proba = loaded.predict_proba(frame)
    assert proba.shape == (len(frame), 2)
    assert np.allclose(proba.sum(axis=1), 1)
    expected = np.where(proba[:, 1] >= 0.5, "yes", "no")
    assert loaded.predict_array(frame).tolist() == expected.tolist()
    assert loaded.evaluate(frame)["accuracy"] > 0.7


def test_unseen_level_encodes_as_zeros_with_one_warning(runs):
    loaded = load(runs["pets"].path)
    frame = pets_frame().head(4).assign(color=["purple", "purple", "teal", "red"])
    with captured_warnings() as messages:
        proba = loaded.predict_proba(frame)
    assert len(messages) == 1
    assert "'color'" in messages[0] and "'purple'" in messages[0] and "'teal'" in messages[0]
    # all-zero one-hot: the same as a row whose color column was never seen at all
    X, _ = loaded.preprocessor.transform(frame)
    assert X[:3, :3].sum() == 0
    logits = loaded.model.forward(X)
    assert proba[:, 1] == pytest.approx(1 / (1 + np.exp(-logits[:, 0].astype(float))), rel=1e-5)


def test_regression_maps_back_through_target_scaling(runs):
    loaded = load(runs["linnerud"].path)
    frame = pd.read_csv(ROOT / "datasets" / "linnerud.csv")
    pred = loaded.predict_array(frame)
    assert pred.shape == (20, 3)
    pre = loaded.preprocessor
    X, _ = pre.transform(frame)
    raw = loaded.model.forward(X).astype(np.float64)
    assert pred == pytest.approx(raw * pre.target_spread + pre.target_center, rel=1e-6)
    assert abs(pred[:, 0].mean() - frame["weight"].mean()) < 3 * frame["weight"].std()
    report = loaded.evaluate(frame)
    assert [o["target"] for o in report["per_output"]] == ["weight", "waist", "pulse"]
    residual = frame[["weight", "waist", "pulse"]].to_numpy() - pred
    assert report["mae"] == pytest.approx(np.abs(residual).mean(), rel=1e-6)
    with pytest.raises(DataError, match="predict_proba needs a classification run"):
        loaded.predict_proba(frame)


def test_prediction_frame_columns(runs):
    loaded = load(runs["pets"].path)
    table = loaded.predict(pets_frame().head(3), proba=True, keep=["id"])
    assert list(table.columns) == ["id", "predicted_label", "proba_no", "proba_yes"]
    assert table["id"].tolist() == [9_007_199_254_740_993 + i for i in range(3)]
    multi = load(runs["linnerud"].path).predict(pd.read_csv(ROOT / "datasets" / "linnerud.csv"))
    assert list(multi.columns) == ["predicted_weight", "predicted_waist", "predicted_pulse"]


# ---------------------------------------------------------------- bad run directories


def test_not_a_run_directory(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load(tmp_path / "nope")
    with pytest.raises(DataError, match=r"config\.yaml, model\.npz, preprocess\.json are missing"):
        load(tmp_path)


@pytest.mark.parametrize("name", ["model.npz", "preprocess.json", "config.yaml"])
def test_missing_file_is_named(copy_run, name):
    run = copy_run("iris")
    (run / name).unlink()
    with pytest.raises(DataError, match=rf"{name} is missing"):
        load(run)


def test_damaged_preprocess_json_is_named_with_its_run(copy_run):
    run = copy_run("iris")
    (run / "preprocess.json").write_text("{}")
    with pytest.raises(DataError, match=rf"'{re.escape(str(run / 'preprocess.json'))}' cannot be read"):
        load(run)


def test_truncated_model(copy_run):
    run = copy_run("iris")
    data = (run / "model.npz").read_bytes()
    (run / "model.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="model.npz' is truncated or corrupt"):
        load(run)


def _rewrite_model(run, change):
    with np.load(run / "model.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    np.savez(run / "model.npz", **arrays)


def test_tampered_shape(copy_run):
    run = copy_run("iris")
    _rewrite_model(run, lambda a: a.update({"layers.0.W": np.zeros((4, 9), np.float32)}))
    with pytest.raises(DataError, match=r"layers\.0\.W has shape \(4, 9\), but model.layers needs \(4, 8\)"):
        load(run)


def test_missing_array(copy_run):
    run = copy_run("iris")
    _rewrite_model(run, lambda a: a.pop("layers.1.b"))
    with pytest.raises(DataError, match=r"lacks layers\.1\.b"):
        load(run)


def test_architecture_that_differs_from_config(copy_run):
    run = copy_run("iris")

    def widen(arrays):
        arch = json.loads(str(arrays["architecture"]))
        arch["layers"][0]["units"] = 9
        arrays["architecture"] = np.array(json.dumps(arch))
    _rewrite_model(run, widen)
    with pytest.raises(DataError, match="describes a different network"):
        load(run)


def test_pickled_array_is_refused_without_unpickling(copy_run):
    run = copy_run("iris")
    _rewrite_model(run, lambda a: a.update({"layers.0.b": np.array([{"x": 1}], dtype=object)}))
    with pytest.raises(DataError, match="truncated or corrupt"):
        load(run)


def test_non_finite_weights(copy_run):
    run = copy_run("iris")
    _rewrite_model(run, lambda a: a["layers.0.W"].__setitem__((0, 0), np.nan))
    with pytest.raises(DataError, match="NaN or infinite weights"):
        load(run)


# ---------------------------------------------------------------- bad data


def test_missing_feature_columns_are_listed(runs):
    frame = pd.read_csv(IRIS).drop(columns=["petal_length", "sepal_width"])
    with pytest.raises(DataError, match=r"'sepal_width', 'petal_length' not found"):
        load(runs["iris"].path).predict_array(frame)


def test_non_numeric_value_names_column_and_row(runs):
    frame = pd.read_csv(IRIS).astype({"petal_width": object})
    frame.loc[6, "petal_width"] = "wide"
    with pytest.raises(DataError, match=r"Column 'petal_width' must be numeric, but row 7 holds 'wide'"):
        load(runs["iris"].path).predict_array(frame)


def test_split_the_run_does_not_have(runs):
    with pytest.raises(DataError, match=r"has no test split \(it has: train, val"):
        load(runs["pets"].path).evaluate(split="test")


def test_evaluate_needs_the_target(runs):
    frame = pd.read_csv(IRIS).drop(columns="species")
    with pytest.raises(DataError, match="no target column 'species'"):
        load(runs["iris"].path).evaluate(frame)


def test_changed_data_file_warns(runs, tmp_path):
    # A config pointing at an edited data file: the split is rebuilt with a warning.
    loaded = load(runs["iris"].path)
    edited = tmp_path / "iris.csv"
    pd.read_csv(IRIS).assign(sepal_length=lambda d: d.sepal_length + 1).to_csv(edited, index=False)
    loaded.config = loaded.config.with_values({"data.path": str(edited)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded.evaluate(split="val")
    assert any(issubclass(w.category, DataWarning) and "changed since" in str(w.message) for w in caught)


def test_a_data_file_gone_since_training_names_the_run_and_offers_data(runs, tmp_path):
    loaded = load(runs["iris"].path)
    loaded.config = loaded.config.with_values({"data.path": str(tmp_path / "moved.csv")})
    with pytest.raises(DataError, match=r"The val split of '.*' cannot be rebuilt .*data\.path: "
                                        r"Data file .*moved\.csv' not found.*--data FILE"):
        loaded.evaluate(split="val")


def test_rows_left_out_for_missing_values_get_empty_predictions(runs):
    loaded = load(runs["pets"].path)
    loaded.preprocessor.missing = "drop"  # as a run trained with data.missing: drop
    frame = pets_frame().head(4).assign(size=[0.1, np.nan, 2.0, -1.0])
    with captured_warnings() as messages:
        labels = loaded.predict_array(frame)
        proba = loaded.predict_proba(frame)
    assert labels[1] is None and set(labels[[0, 2, 3]]) <= {"yes", "no"}
    assert np.isnan(proba[1]).all() and np.isfinite(proba[[0, 2, 3]]).all()
    assert len(messages) == 1 and "Left out 1 of 4 row(s)" in messages[0]
    with captured_warnings():
        table = loaded.predict(frame, proba=True, keep=["id"])
    assert len(table) == 4 and pd.isna(table.loc[1, "predicted_label"])


def test_captured_warnings_keep_data_warnings_only_once_each():
    with captured_warnings() as messages:
        warnings.warn("Left out 2 row(s).", DataWarning)
        warnings.warn("a library's own warning", UserWarning)
        warnings.warn("a plain warning", Warning)
        warnings.warn("Left out 2 row(s).", DataWarning)
    assert messages == ["Left out 2 row(s)."]


def test_binary_probability_of_one_half_predicts_the_positive_class(copy_run):
    # Zero output weights give logit 0, p = 0.5: the second sorted label, as the metrics count it.
    run = copy_run("pets")
    _rewrite_model(run, lambda a: (a["layers.1.W"].fill(0), a["layers.1.b"].fill(0)))
    loaded = load(run)
    frame = pets_frame()
    assert set(loaded.predict_array(frame)) == {"yes"}
    assert loaded.evaluate(frame)["accuracy"] == pytest.approx(np.mean(frame["label"] == "yes"))


def test_npz_with_a_different_width_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    np.savez(tmp_path / "train.npz", X=X, y=X.sum(axis=1))
    run = nettrain.fit({"data": {"path": str(tmp_path / "train.npz")}, "loss": "mse",
                        "model": {"layers": [{"type": "dense", "units": 1}]}, "metrics": ["mae"],
                        "training": {"epochs": 1}, "output": str(tmp_path / "runs")}, quiet=True)
    model = load(run.path)
    np.savez(tmp_path / "same.npz", X=X[:5])
    assert model.predict_array(tmp_path / "same.npz").shape == (5, 1)
    np.savez(tmp_path / "wide.npz", X=rng.normal(size=(5, 4)))
    with pytest.raises(DataError, match="X has 4 values per row, but the run was trained on 3"):
        model.predict_array(tmp_path / "wide.npz")


def test_every_row_left_out_gives_empty_predictions(runs):
    """missing: drop on rows that all have a gap: no prediction at all, one empty value per row."""
    frame = pd.read_csv(IRIS).head(3).assign(sepal_length=np.nan)
    loaded = load(runs["iris"].path)
    with pytest.warns(DataWarning, match="Left out 3 of 3 row"):
        predicted = loaded.predict_array(frame, missing="drop")
    assert predicted.tolist() == [None, None, None]
    assert loaded.outputs(np.zeros((0, 4))).shape == (0, 3)


def test_only_predict_suggests_missing_drop_and_only_for_gaps(runs):
    loaded = load(runs["iris"].path)
    frame = pd.read_csv(IRIS).head(3)
    text = frame.assign(sepal_length=["x", 1.0, 2.0])
    with pytest.raises(DataError, match="Column 'sepal_length' must be numeric") as err:
        loaded.predict_array(text)
    assert "--missing" not in str(err.value)  # not a gap: the hint would not help
    gaps = frame.assign(sepal_width=np.nan)
    with pytest.raises(DataError, match="Predict them anyway with --missing drop"):
        loaded.predict_array(gaps)
    with pytest.raises(DataError, match="Missing or non-finite values.*set data.missing") as err:
        loaded.evaluate(gaps)  # evaluate keeps the data's own advice
    assert "Predict them anyway" not in str(err.value)


def test_missing_given_for_one_call_does_not_stay(runs):
    loaded = load(runs["iris"].path)
    gaps = pd.read_csv(IRIS).head(3).assign(sepal_width=np.nan)
    with pytest.warns(DataWarning):
        loaded.predict_array(gaps, missing="drop")
    with pytest.raises(DataError, match="Predict them anyway with --missing drop"):
        loaded.predict_array(gaps)  # the run's own data.missing (error) again
