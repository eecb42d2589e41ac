"""nettrain runs / nettrain.runs(DIR): every run under a folder with its state, newest first;
damaged, killed, interrupted and running runs are rows, never errors."""

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import assert_usage_error
from trained_runs import trained_runs

import nettrain
from nettrain.cli import cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """runs/ with a finished run of each kind (copied, renamed by start time) and four broken
    ones: a truncated model.npz, a killed run, an interrupted one and a live writer."""
    shared = trained_runs(tmp_path_factory.getbasetemp())
    base = tmp_path_factory.mktemp("listing") / "runs"
    stamps = {"iris": "20240101-100000", "pets": "20240102-100000", "linnerud": "20240103-100000",
              "damaged": "20240104-100000", "killed": "20240105-100000",
              "interrupted": "20240106-100000", "running": "20240107-100000"}
    paths = {}
    for name, stamp in stamps.items():
        source = shared.get(name, shared["iris"]).path
        paths[name] = base / name / stamp
        shutil.copytree(source, paths[name])
    model = paths["damaged"] / "model.npz"
    model.write_bytes(model.read_bytes()[:100])
    (paths["killed"] / "metrics.json").unlink()
    (paths["killed"] / "model.npz").unlink()
    metrics = json.loads((paths["interrupted"] / "metrics.json").read_text(encoding="utf-8"))
    metrics["stopped_reason"] = "interrupted"
    (paths["interrupted"] / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    (paths["running"] / "metrics.json").unlink()
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    (paths["running"] / ".lock").write_text(f"{writer.pid}\n", encoding="ascii")
    (base / "notes").mkdir()  # a folder that is not a run is skipped
    yield base, paths
    writer.kill()
    writer.wait()


def test_every_run_newest_first_with_its_state(folder):
    base, paths = folder
    table = nettrain.runs(base)
    assert list(table["path"]) == [str(paths[n]) for n in ("running", "interrupted", "killed",
                                                           "damaged", "linnerud", "pets", "iris")]
    states = dict(zip(table["path"], table["state"]))
    assert states[str(paths["iris"])] == "finished" and states[str(paths["damaged"])] == "damaged"
    assert states[str(paths["killed"])] == "unfinished"
    assert states[str(paths["interrupted"])] == "interrupted"
    assert states[str(paths["running"])] == "running"
    damaged = table[table["state"] == "damaged"].iloc[0]
    assert "model.npz is corrupt" in damaged["note"]


def test_columns_hold_what_the_run_files_say(folder):
    base, paths = folder
    table = nettrain.runs(base).set_index("path")
    metrics = json.loads((paths["iris"] / "metrics.json").read_text(encoding="utf-8"))
    row = table.loc[str(paths["iris"])]
    assert row["name"] == "iris" and row["epochs"] == metrics["epochs_run"]
    assert row["best_epoch"] == metrics["best_epoch"] and row["monitor"] == metrics["monitor"]
    assert row["best_value"] == pytest.approx(metrics["best_value"])
    assert row["test_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert row["started"] == pd.Timestamp("2024-01-01 10:00:00")
    killed = table.loc[str(paths["killed"])]  # no metrics.json: the best epoch from history.csv
    history = pd.read_csv(paths["killed"] / "history.csv")
    assert killed["epochs"] == len(history)
    assert killed["best_value"] == pytest.approx(history["val_loss"].min())
    assert pd.isna(table.loc[str(paths["linnerud"])]["test_accuracy"])  # no test split


def test_sort_by_a_metric_puts_the_best_first(folder):
    base, _ = folder
    table = nettrain.runs(base, sort="test_accuracy")
    values = table["test_accuracy"].dropna().tolist()
    assert values == sorted(values, reverse=True) and table["test_accuracy"].iloc[-1] != table["test_accuracy"].iloc[-1]
    assert nettrain.runs(base, sort="epochs")["epochs"].is_monotonic_increasing


def test_runs_command_table_and_csv(folder):
    base, paths = folder
    result = CliRunner().invoke(cli, ["runs", str(base)])
    assert result.exit_code == 0, result.output
    for name in ("damaged", "unfinished", "interrupted", "running", "finished"):
        assert name in result.output
    result = CliRunner().invoke(cli, ["runs", str(base), "--csv"])
    assert result.exit_code == 0
    table = pd.read_csv(io.StringIO(result.output))
    assert list(table["path"]) == list(nettrain.runs(base)["path"])


def test_runs_command_errors(folder, tmp_path):
    base, _ = folder
    assert_usage_error(CliRunner().invoke(cli, ["runs", str(base), "--sort", "test_acuracy"]),
                       "Did you mean 'test_accuracy'")
    assert_usage_error(CliRunner().invoke(cli, ["runs", str(tmp_path / "nope")]), "does not exist")
    result = CliRunner().invoke(cli, ["runs", str(tmp_path)])
    assert result.exit_code == 0 and "No run directories" in result.output


def test_the_default_folder_is_runs(folder, monkeypatch):
    base, _ = folder
    monkeypatch.chdir(base.parent)
    assert len(nettrain.runs()) == 7
    result = CliRunner().invoke(cli, ["runs", "--csv"])
    assert result.exit_code == 0 and len(pd.read_csv(io.StringIO(result.output))) == 7


def test_listing_runs_and_fitting_never_import_matplotlib(folder, tmp_path):
    """matplotlib belongs to the report alone: the list and a fit without --report skip it."""
    base, _ = folder
    code = ("import sys, nettrain\n"
            f"nettrain.runs({str(base)!r})\n"
            f"nettrain.fit({str(tmp_path / 'c.yaml')!r}, quiet=True)\n"
            "assert 'matplotlib' not in sys.modules and 'PIL' not in sys.modules, 'imported'\n")
    config = {"seed": 0, "output": str(tmp_path / "runs"), "training": {"epochs": 1},
              "data": {"path": str(ROOT / "datasets" / "iris.csv"), "target": "species"},
              "model": {"layers": [{"type": "dense", "units": 3}]}}
    (tmp_path / "c.yaml").write_text(json.dumps(config), encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
