"""One front door: `nettrain.predict`, `Run.predict` and `LoadedRun.predict` give the same table
for the same call, and every `evaluate` takes its arguments in the same order."""

import ast
import inspect
from pathlib import Path

import pandas as pd
import pytest
from trained_runs import ROOT, pets_frame, trained_runs

import nettrain
from nettrain.inference.loading import LoadedRun, load
from nettrain.inference.run import Run

IRIS = ROOT / "datasets" / "iris.csv"
COMMANDS = Path(nettrain.__file__).parent / "commands"
# what a command may import of nettrain: the API, the errors it raises for its exit codes, and
# the BLAS thread settings validate starts NumPy with
COMMAND_IMPORTS = {"nettrain.api", "nettrain.errors", "nettrain.backend.threads"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return trained_runs(tmp_path_factory.getbasetemp())


def the_three_predicts(run, data, **options):
    """(nettrain.predict, Run.predict, LoadedRun.predict) for one call."""
    return (nettrain.predict(run.path, data, **options), Run(run.path).predict(data, **options),
            load(run.path).predict(data, **options))


@pytest.mark.parametrize("name, data, options", [
    ("iris", IRIS, {}),
    ("iris", IRIS, {"proba": True, "keep": ["species"]}),
    ("pets", pets_frame().head(6), {"proba": True, "keep": ["id"], "threshold": 0.3}),
    ("linnerud", ROOT / "datasets" / "linnerud.csv", {}),
])
def test_the_three_predicts_return_the_same_table(runs, name, data, options):
    api, run, loaded = the_three_predicts(runs[name], data, **options)
    assert isinstance(api, pd.DataFrame)
    pd.testing.assert_frame_equal(api, run)
    pd.testing.assert_frame_equal(api, loaded)
    rows = len(data) if isinstance(data, pd.DataFrame) else len(pd.read_csv(data))
    assert len(api) == rows and any(c.startswith("predicted_") for c in api)


def test_the_table_holds_what_predict_array_and_predict_proba_give(runs):
    loaded = load(runs["iris"].path)
    table = loaded.predict(IRIS, proba=True)
    assert table["predicted_species"].tolist() == loaded.predict_array(IRIS).tolist()
    proba = loaded.predict_proba(IRIS)
    for j, name in enumerate(loaded.preprocessor.class_names):
        assert table[f"proba_{name}"].tolist() == proba[:, j].tolist()


def parameters(function, skip=()):
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()
            if p.name not in skip]


def test_every_evaluate_takes_data_then_split_and_threshold_by_name():
    expected = [("data", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                ("split", inspect.Parameter.KEYWORD_ONLY),
                ("threshold", inspect.Parameter.KEYWORD_ONLY)]
    assert parameters(nettrain.evaluate, skip=("run",)) == expected
    assert parameters(Run.evaluate, skip=("self",)) == expected
    assert parameters(LoadedRun.evaluate, skip=("self",)) == expected


def test_every_predict_takes_the_same_arguments():
    expected = parameters(LoadedRun.predict, skip=("self",))
    assert [name for name, _ in expected] == ["data", "proba", "keep", "threshold", "missing"]
    assert parameters(nettrain.predict, skip=("run",)) == expected
    assert parameters(Run.predict, skip=("self",)) == expected
    assert parameters(Run.predict_array, skip=("self",)) == parameters(LoadedRun.predict_array,
                                                                       skip=("self",))


def test_the_three_evaluates_give_the_same_report(runs):
    run = runs["iris"]
    frame = pd.read_csv(IRIS)
    for data, split in ((frame, None), (None, "val"), (None, None)):
        api = nettrain.evaluate(run.path, data, split=split, threshold=None)
        assert Run(run.path).evaluate(data, split=split) == api
        assert load(run.path).evaluate(data, split=split) == api
        assert api["split"] == (split or ("test" if data is None else None))


def nettrain_imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names]
    names += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    return {(name, path.name) for name in names if name and name.split(".")[0] == "nettrain"}


def test_every_command_is_a_thin_layer_over_the_api():
    imports = set().union(*(nettrain_imports(path) for path in COMMANDS.glob("*.py")))
    assert ("nettrain.api", "fit.py") in imports  # the test reads the commands' imports
    assert not {(name, file) for name, file in imports if name not in COMMAND_IMPORTS}


def test_what_the_cli_offers_is_in_the_api():
    for name in ("fit", "evaluate", "predict", "grid_search", "cv", "lr_find", "validate", "gradcheck",
                 "starter_config", "export_model", "runs", "report", "download_dataset"):
        assert getattr(nettrain, name) is getattr(nettrain.api, name)
        function = getattr(nettrain.api, name)
        assert function.__doc__, name
        hints = inspect.get_annotations(function)
        assert "return" in hints and set(inspect.signature(function).parameters) <= set(hints), name
