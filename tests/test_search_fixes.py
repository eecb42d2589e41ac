"""grid-search as a new user meets it: a script without the main guard, the report of a search
ranked by another metric than val_loss (and after --refit), trials tied on the search metric."""

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml
from rich.console import Console

import nettrain
from nettrain.reporting import build_report
from nettrain.reporting.search_page import Search
from nettrain.search.results import rank

ROOT = Path(__file__).resolve().parent.parent
IRIS = str(ROOT / "datasets" / "iris.csv")


def iris_search(tmp_path, search, **extra):
    return {"name": "iris", "seed": 0, "output": str(tmp_path / "runs"),
            "data": {"path": IRIS, "target": "species"},
            "model": {"layers": [{"type": "dense", "units": 4, "activation": "relu"},
                                 {"type": "dense", "units": 3}]},
            "optimizer": {"name": "adam", "lr": 0.05}, "metrics": ["accuracy"],
            "training": {"epochs": 3, "batch_size": 16}, "search": search, **extra}


def run_script(tmp_path, code):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)


# ---------------------------------------------------------------- the main guard


def test_the_guard_check_tells_a_top_level_call_from_a_guarded_one(tmp_path):
    done = run_script(tmp_path, """\
        from nettrain.search.executors import unguarded_script_call

        def search():
            return unguarded_script_call()

        print("top", search())
        if __name__ == "__main__":
            print("guarded", search())
        if "__main__" == __name__:
            print("reversed", search())
    """)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"top ({str(tmp_path / 'script.py')!r}, 6)"
    assert lines[1:] == ["guarded None", "reversed None"]


def test_a_script_without_the_main_guard_is_told_to_add_it_before_any_trial(tmp_path):
    config = tmp_path / "iris.yaml"
    config.write_text(yaml.safe_dump(iris_search(tmp_path, {"space": {"optimizer.lr": [0.05, 0.01]}})))
    done = run_script(tmp_path, """\
        import nettrain

        nettrain.grid_search("iris.yaml", workers=2, quiet=True)
    """)
    assert done.returncode == 1
    assert "ConfigError" in done.stderr
    assert 'script.py, line 3: the search starts worker processes' in done.stderr
    assert 'Put the call under `if __name__ == "__main__":`' in done.stderr
    assert "out of memory" not in done.stderr
    assert not list((tmp_path / "runs").glob("iris-search/*/model.npz"))  # nothing trained


def test_the_docs_show_the_guard():
    doc = (ROOT / "docs" / "grid-search.md").read_text(encoding="utf-8")
    python = doc[doc.index("## From Python"):]
    assert 'if __name__ == "__main__":' in python and "nettrain.grid_search(" in python


# ---------------------------------------------------------------- the report of a search


@pytest.fixture(scope="module")
def accuracy_search(tmp_path_factory):
    """A 2x2 iris search ranked by val_accuracy, refitted."""
    tmp_path = tmp_path_factory.mktemp("accuracy_search")
    config = iris_search(tmp_path, {"metric": "accuracy",
                                    "space": {"optimizer.lr": [0.05, 0.01], "model.layers.0.units": [4, 8]}})
    return nettrain.grid_search(config, workers=1, refit=True, quiet=True,
                                console=Console(file=io.StringIO()))


def test_trial_configs_carry_the_search_section_they_were_run_with(accuracy_search):
    for trial in accuracy_search.results["id"]:
        saved = yaml.safe_load((accuracy_search.path / trial / "config.yaml").read_text())
        assert saved["search"]["metric"] == "accuracy" and saved["search"]["mode"] == "max"
        assert saved["search"]["space"] == {"optimizer.lr": [0.05, 0.01], "model.layers.0.units": [4, 8]}
    refit = yaml.safe_load(next(accuracy_search.path.glob("refit-*/config.yaml")).read_text())
    assert refit["search"]["space"] == {}  # the refit is no trial


def test_the_report_names_and_plots_the_search_metric_and_knows_the_refit(accuracy_search):
    html = build_report([accuracy_search.path])
    assert "search metric val_accuracy (max)" in html
    assert "val_loss (min)" not in html
    assert "not (yet) in results.csv" not in html
    refit = next(accuracy_search.path.glob("refit-*")).name
    assert f"{refit}: the best trial refitted on train+val: test_loss" in html


def test_the_report_of_an_older_search_reads_the_metric_from_results_csv(accuracy_search, tmp_path):
    import shutil

    old = tmp_path / "old-search"
    shutil.copytree(accuracy_search.path, old)
    for trial in accuracy_search.results["id"]:  # trial configs as older versions wrote them
        path = old / trial / "config.yaml"
        saved = yaml.safe_load(path.read_text())
        saved["search"] = {"method": "grid", "trials": 20, "metric": "val_loss", "mode": "min",
                           "repeats": 1, "space": {}}
        path.write_text(yaml.safe_dump(saved))
    search = Search(old)
    assert (search.metric, search.mode) == ("val_accuracy", "max")


# ---------------------------------------------------------------- ties


def row(trial, accuracy, loss, status="ok"):
    return {"id": trial, "status": status, "params": {},
            "metrics": {} if status != "ok" else {"val_accuracy": accuracy, "val_loss": loss}}


def test_trials_tied_on_the_search_metric_are_ranked_by_val_loss():
    rows = [row("a", 1.0, 0.30), row("b", 0.9, 0.01), row("c", 1.0, 0.10), row("d", 0, 0, "failed"),
            row("e", 1.0, float("nan")), row("f", 1.0, 0.10)]
    assert [r["id"] for r in rank(rows, "val_accuracy", "max")] == ["c", "f", "a", "e", "b", "d"]


def test_a_tied_iris_search_puts_the_lower_val_loss_first(accuracy_search):
    table = pd.read_csv(accuracy_search.path / "results.csv")
    for _, tied in table.groupby("val_accuracy", sort=False):
        assert tied["val_loss"].is_monotonic_increasing
    assert accuracy_search.best["id"] == str(table["id"].iloc[0])
