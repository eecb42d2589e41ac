"""`nettrain predict`: CSV out in the original label form, --proba, --keep, -o, bad input."""

import io
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import assert_usage_error
from trained_runs import ROOT, pets_frame, trained_runs

from nettrain.cli import cli
from nettrain.inference.loading import load

IRIS = ROOT / "datasets" / "iris.csv"


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    return trained_runs(tmp_path_factory.getbasetemp())


@pytest.fixture
def pets_csv(tmp_path):
    path = tmp_path / "pets.csv"
    pets_frame().head(10).to_csv(path, index=False)
    return path


def predict(*args):
    return CliRunner().invoke(cli, ["predict", *map(str, args)])


def read(text):
    return pd.read_csv(io.StringIO(text))


def test_csv_to_stdout_in_label_form(runs):
    result = predict(runs["iris"].path, IRIS)
    assert result.exit_code == 0, result.output
    table = read(result.stdout)
    assert list(table.columns) == ["predicted_species"]
    assert len(table) == 150
    assert set(table["predicted_species"]) <= {"setosa", "versicolor", "virginica"}
    expected = load(runs["iris"].path).predict_array(pd.read_csv(IRIS))
    assert table["predicted_species"].tolist() == expected.tolist()


def test_proba_and_keep(runs, pets_csv):
    result = predict(runs["pets"].path, pets_csv, "--proba", "--keep", "id,color")
    assert result.exit_code == 0, result.output
    table = read(result.stdout)
    assert list(table.columns) == ["id", "color", "predicted_label", "proba_no", "proba_yes"]
    assert table["id"].tolist() == pets_frame().head(10)["id"].tolist()  # ids beyond 2**53 intact
    assert np.allclose(table["proba_no"] + table["proba_yes"], 1, atol=1e-6)
    assert (table["predicted_label"] == np.where(table["proba_yes"] >= 0.5, "yes", "no")).all()


def test_output_file_and_target_absent_in_any_order(runs, tmp_path):
    frame = pd.read_csv(IRIS)
    data = tmp_path / "new.csv"
    frame[["petal_width", "sepal_length", "petal_length", "sepal_width"]].assign(extra=1).to_csv(data, index=False)
    out = tmp_path / "pred.csv"
    result = predict(runs["iris"].path, data, "-o", out, "--proba")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    table = pd.read_csv(out)
    assert list(table.columns) == ["predicted_species", "proba_setosa", "proba_versicolor", "proba_virginica"]
    assert table["predicted_species"].tolist() == load(runs["iris"].path).predict_array(frame).tolist()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_multi_output_regression_in_target_units(runs):
    result = predict(runs["linnerud"].path, ROOT / "datasets" / "linnerud.csv")
    assert result.exit_code == 0, result.output
    table = read(result.stdout)
    assert list(table.columns) == ["predicted_weight", "predicted_waist", "predicted_pulse"]
    expected = load(runs["linnerud"].path).predict_array(pd.read_csv(ROOT / "datasets" / "linnerud.csv"))
    assert table.to_numpy() == pytest.approx(expected, rel=1e-6)


def test_unseen_level_warns_once_on_stderr(runs, tmp_path):
    data = tmp_path / "odd.csv"
    pets_frame().head(5).assign(color=["purple", "purple", "red", "teal", "blue"]).to_csv(data, index=False)
    result = predict(runs["pets"].path, data)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1
    assert "'color'" in warnings[0] and "'purple'" in warnings[0] and "'teal'" in warnings[0]
    assert len(read(result.stdout)) == 5


def test_not_a_run_directory(tmp_path):
    assert_usage_error(predict(tmp_path / "missing", IRIS), "does not exist")
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    assert_usage_error(predict(tmp_path, IRIS), "model.npz, preprocess.json are missing")


def test_tampered_model_shape(runs, tmp_path):
    run = shutil.copytree(runs["iris"].path, tmp_path / "run")
    with np.load(run / "model.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["layers.1.W"] = arrays["layers.1.W"][:, :2]
    np.savez(run / "model.npz", **arrays)
    assert_usage_error(predict(run, IRIS), "layers.1.W has shape (8, 2), but model.layers needs (8, 3)")


def test_missing_feature_columns_are_listed(runs, tmp_path):
    data = tmp_path / "few.csv"
    pd.read_csv(IRIS).drop(columns=["petal_length", "petal_width"]).to_csv(data, index=False)
    result = predict(runs["iris"].path, data)
    assert_usage_error(result, "'petal_length', 'petal_width' not found")
    assert "Did you mean 'sepal_length'" not in result.stderr  # that column is there already


def test_non_numeric_value_names_column_and_row(runs, tmp_path):
    data = tmp_path / "bad.csv"
    frame = pd.read_csv(IRIS).astype({"petal_width": object})
    frame.loc[4, "petal_width"] = "wide"
    frame.to_csv(data, index=False)
    assert_usage_error(predict(runs["iris"].path, data),
                       "Column 'petal_width' must be numeric, but row 5 holds 'wide'")


def test_missing_data_file_and_keep_column(runs, pets_csv, tmp_path):
    result = predict(runs["iris"].path, tmp_path / "nope.csv")
    assert_usage_error(result, "not found")
    assert "config" not in result.stderr  # DATA is a command-line path, not one in a config
    assert_usage_error(predict(runs["pets"].path, pets_csv, "--keep", "idd"),
                       "--keep: column(s) 'idd' not found", "Did you mean 'id'?")


def test_unwritable_output(runs, tmp_path):
    result = predict(runs["iris"].path, IRIS, "-o", tmp_path / "no" / "such" / "dir.csv")
    assert_usage_error(result, "Cannot write -o")
