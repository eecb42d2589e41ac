"""The report of a pruned search (each trial's curve of the search metric with where the pruned
ones stopped, the best value by trial, parameter importances from the study) and of a cv
directory (each score's mean ± std over the folds, the folds' curves), checked on their content."""

import io
import re
from pathlib import Path

import optuna
import pandas as pd
import pytest
from click.testing import CliRunner
from rich.console import Console

import nettrain
from nettrain.cli import cli
from nettrain.reporting import build_report
from nettrain.reporting.page import number

ROOT = Path(__file__).resolve().parent.parent
IRIS = str(ROOT / "datasets" / "iris.csv")
SPACE = {"optimizer.lr": {"log_uniform": [0.0001, 0.3]}, "model.layers.0.units": {"int": [2, 16]}}


def iris(tmp_path, epochs, **extra):
    return {"name": "iris", "seed": 0, "output": str(tmp_path / "runs"),
            "data": {"path": IRIS, "target": "species"},
            "model": {"layers": [{"type": "dense", "units": 4, "activation": "relu"},
                                 {"type": "dense", "units": 3}]},
            "optimizer": {"name": "adam", "lr": 0.01}, "metrics": ["accuracy"],
            "training": {"epochs": epochs, "batch_size": 16}, **extra}


def quiet():
    return {"quiet": True, "console": Console(file=io.StringIO())}


def row_of(html, trial):
    """The markup of the table row that starts with a trial's id."""
    return re.search(rf"<tr><td><code>{trial}</code></td>.*?</tr>", html).group(0)


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    """8 tpe trials of up to 6 epochs under the median pruner (its first 5 are never pruned)."""
    tmp_path = tmp_path_factory.mktemp("pruned_report")
    config = iris(tmp_path, 6, search={"method": "tpe", "trials": 8, "pruner": "median", "space": SPACE})
    search = nettrain.grid_search(config, workers=1, **quiet())
    return search, build_report([search.path])


def test_each_trials_curve_shows_where_the_pruned_ones_stopped(pruned):
    search, html = pruned
    table = pd.read_csv(search.path / "results.csv", dtype={"id": str})
    stopped = table[table["status"] == "pruned"]
    assert len(stopped) >= 1 and (stopped["epochs"] < 6).all()
    assert "The search metric of every trial" in html and 'alt="val_loss of every trial"' in html
    assert f"{len(stopped)} of {len(table)} trials were pruned" in html
    for trial in stopped.itertuples():
        row = row_of(html, trial.id)
        assert f"<td>epoch {trial.epochs}</td>" in row and number(trial.val_loss) in row
    assert all(trial in html for trial in table["id"])


def test_the_best_value_by_trial_follows_the_studys_trial_numbers(pruned):
    search, html = pruned
    study = optuna.load_study(study_name="iris", storage=f"sqlite:///{search.path / 'search.db'}")
    best = min((t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE), key=lambda t: t.value)
    assert 'alt="best value by trial"' in html and "in the order of the study's trial numbers" in html
    assert (f"{number(best.value)}, reached at trial {best.number + 1} of 8 "
            f"(<code>{best.user_attrs['trial_id']}</code>)") in html


def test_parameter_importances_are_optunas_from_the_study(pruned):
    search, html = pruned
    study = optuna.load_study(study_name="iris", storage=f"sqlite:///{search.path / 'search.db'}")
    expected = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    assert 'alt="parameter importances"' in html
    for name, value in expected.items():
        assert f"<td><code>{name}</code></td><td class=\"num\">{number(float(value))}</td>" in html
    assert "could not be drawn" not in html


@pytest.fixture(scope="module")
def cv(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("cv_report")
    return nettrain.cv(iris(tmp_path, 2), folds=3, **quiet())


def test_a_cv_directory_gets_the_spread_of_its_scores_and_its_folds_curves(cv, tmp_path):
    out = tmp_path / "cv.html"
    result = CliRunner().invoke(cli, ["report", str(cv.path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert f"nettrain report: cross-validation iris-cv/{cv.path.name}" in html
    for needle in ("Spread over the folds", "The folds&#x27; curves", "3 fold(s) in cv.csv",
                   'alt="scores of each fold with their mean and std"', 'alt="learning curves overlaid"'):
        assert needle in html, needle
    scores = cv.scores.set_index("fold")
    for column in ("train_loss", "val_accuracy", "test_loss", "test_accuracy"):
        row = re.search(rf"<tr><td><code>{column}</code></td>.*?</tr>", html).group(0)
        mean, std = scores.loc["mean", column], scores.loc["std", column]
        folds = [scores.loc[str(k), column] for k in (1, 2, 3)]
        cells = [f"{number(mean)} ± {number(std, 2)}", *map(number, [mean, std, *folds])]
        assert re.findall(r"<td[^>]*>([^<]*)</td>", row) == cells
    for k in (1, 2, 3):
        assert f"fold-{k}" in html


def test_a_folder_that_is_no_run_search_or_cv_directory_says_what_each_holds(tmp_path):
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "nor a cv directory (no cv.csv)" in result.output
