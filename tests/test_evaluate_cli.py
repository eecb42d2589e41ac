"""`nettrain evaluate`: tables for people, --json for scripts, exit 2 on bad input."""

import json
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import assert_usage_error
from trained_runs import ROOT, trained_runs

from nettrain.cli import cli


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    return trained_runs(tmp_path_factory.getbasetemp())


def evaluate(*args):
    return CliRunner().invoke(cli, ["evaluate", *map(str, args)])


def test_tables_show_metrics_classes_and_confusion_matrix(runs):
    result = evaluate(runs["iris"].path)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "test split" in out
    for text in ("accuracy", "log_loss", "Per class", "macro avg", "weighted avg",
                 "Confusion matrix", "setosa", "versicolor", "virginica"):
        assert text in out


def test_json_is_one_object(runs):
    result = evaluate(runs["iris"].path, "--split", "val", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["split"] == "val"
    assert report["accuracy"] == pytest.approx(runs["iris"].metrics["val"]["accuracy"])
    assert report["confusion_matrix"]["labels"] == ["setosa", "versicolor", "virginica"]
    assert {"precision", "recall", "f1", "support", "class"} <= set(report["per_class"][0])


def test_regression_tables_per_output(runs):
    result = evaluate(runs["linnerud"].path)
    assert result.exit_code == 0, result.output
    assert "val split" in result.stdout
    for text in ("rmse", "r2", "Per output", "weight", "waist", "pulse"):
        assert text in result.stdout


def test_data_file(runs, tmp_path):
    data = tmp_path / "new.csv"
    pd.read_csv(ROOT / "datasets" / "iris.csv").sample(frac=1, random_state=0).to_csv(data, index=False)
    result = evaluate(runs["iris"].path, "--data", data, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_samples"] == 150 and report["data"] == str(data) and report["split"] is None


def test_not_a_run_directory(tmp_path):
    assert_usage_error(evaluate(tmp_path / "missing"), "does not exist")
    assert_usage_error(evaluate(tmp_path), "model.npz", "missing")


def test_missing_file_is_named(runs, tmp_path):
    run = shutil.copytree(runs["iris"].path, tmp_path / "run")
    (run / "preprocess.json").unlink()
    assert_usage_error(evaluate(run), "preprocess.json is missing")


def test_tampered_model(runs, tmp_path):
    run = shutil.copytree(runs["iris"].path, tmp_path / "run")
    (run / "model.npz").write_bytes(b"PK\x03\x04 not really a zip")
    assert_usage_error(evaluate(run), "model.npz' is truncated or corrupt")


def test_split_the_run_does_not_have(runs):
    assert_usage_error(evaluate(runs["linnerud"].path, "--split", "test"), "has no test split")


def test_data_without_target(runs, tmp_path):
    data = tmp_path / "unlabelled.csv"
    pd.read_csv(ROOT / "datasets" / "iris.csv").drop(columns="species").to_csv(data, index=False)
    assert_usage_error(evaluate(runs["iris"].path, "--data", data), "no target column 'species'")


def test_data_missing_features_and_bad_numbers(runs, tmp_path):
    frame = pd.read_csv(ROOT / "datasets" / "iris.csv")
    data = tmp_path / "few.csv"
    frame.drop(columns=["sepal_width"]).to_csv(data, index=False)
    assert_usage_error(evaluate(runs["iris"].path, "--data", data), "'sepal_width' not found")
    frame.astype({"sepal_length": object}).assign(
        sepal_length=lambda d: d.sepal_length.where(d.index != 2, "abc")).to_csv(data, index=False)
    assert_usage_error(evaluate(runs["iris"].path, "--data", data),
                       "Column 'sepal_length' must be numeric, but row 3 holds 'abc'")


def test_split_and_data_together(runs, tmp_path):
    result = evaluate(runs["iris"].path, "--split", "val", "--data", tmp_path / "x.csv")
    assert result.exit_code == 2 and "not both" in result.output
