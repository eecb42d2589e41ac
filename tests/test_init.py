"""`nettrain init`: commented starter configs that validate and train as written."""

import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from nettrain.cli import cli
from nettrain.config.loading import load_config


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def init(*args):
    return CliRunner().invoke(cli, ["init", *args])


def test_prints_a_commented_classification_config_by_default(tmp_path, root):
    result = init()
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# A nettrain starter config")
    assert sum(line.lstrip().startswith("#") or " # " in line for line in result.output.splitlines()) > 15
    data = yaml.safe_load(result.output)
    assert (tmp_path / data["data"]["path"]).resolve() == root / "datasets" / "iris.csv"
    assert data["data"]["target"] == "species" and data["model"]["layers"][-1]["units"] == 3


@pytest.mark.parametrize("template, dataset, task", [("classification", "iris.csv", "classification"),
                                                    ("regression", "diabetes.csv", "regression")])
def test_written_config_validates_with_its_path_relative_to_its_folder(tmp_path, root, template, dataset, task):
    result = init(template, "-o", "configs/mine.yaml")
    assert result.exit_code == 0, result.output
    assert "Wrote configs/mine.yaml" in result.output
    text = (tmp_path / "configs" / "mine.yaml").read_text()
    assert "nettrain fit configs/mine.yaml" in text
    expected = os.path.relpath(root / "datasets" / dataset, tmp_path / "configs")
    assert yaml.safe_load(text)["data"]["path"] == Path(expected).as_posix()
    config = load_config(tmp_path / "configs" / "mine.yaml")
    assert config.resolve_path(config["data"]["path"]) == root / "datasets" / dataset
    check = CliRunner().invoke(cli, ["validate", "configs/mine.yaml"])
    assert check.exit_code == 0, check.output
    assert f"{task}, " in check.output


def test_refuses_to_overwrite_without_force(tmp_path):
    (tmp_path / "mine.yaml").write_text("keep: me\n")
    result = init("regression", "-o", "mine.yaml")
    assert result.exit_code == 2
    assert "mine.yaml already exists; nothing was written. Use --force" in result.output
    assert "Traceback" not in result.output
    assert (tmp_path / "mine.yaml").read_text() == "keep: me\n"
    assert init("regression", "-o", "mine.yaml", "--force").exit_code == 0
    assert "target: progression" in (tmp_path / "mine.yaml").read_text()


def test_unknown_template_is_a_usage_error():
    result = init("clasification")
    assert result.exit_code == 2 and "'clasification' is not one of 'classification', 'regression'" in result.output


@pytest.mark.parametrize("template", ["classification", "regression"])
def test_starter_config_trains_one_epoch(tmp_path, template):
    from nettrain.api import fit

    assert init(template, "-o", "mine.yaml").exit_code == 0
    run = fit("mine.yaml", overrides=["training.epochs=1"], quiet=True)
    assert len(run.history) == 1
    assert (tmp_path / "runs" / "mine").is_dir()
