"""csvfast: the pandas-free read path gives what the pandas path gives, or steps aside."""

import gzip
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, make_config

from nettrain.backend.threads import THREAD_VARIABLES
from nettrain.commands.validate import import_numpy_with_one_blas_thread
from nettrain.config.loading import load_config
from nettrain.data import csvfast
from nettrain.data.csvfast import Table, index_of, read_simple_csv, unique
from nettrain.data.dataset import prepare_data
from nettrain.data.files import read_table
from nettrain.errors import NettrainError

SHIPPED = ["iris", "wine", "penguins", "breast_cancer", "diabetes", "linnerud", "digits"]


def outcome(config, fast, preprocessor=None):
    """prepare_data's Dataset, or the error it raised, as comparable plain values."""
    try:
        ds = prepare_data(config, preprocessor, fast_csv=fast)
    except NettrainError as err:
        return type(err).__name__, str(err)
    splits = {name: (X.dtype.str, X.shape, X.tobytes(), y.dtype.str, y.shape, y.tobytes())
              for name, (X, y) in ds.splits.items()}
    return (splits, ds.task, ds.n_features, ds.n_outputs, ds.classes, ds.notes, ds.n_rows,
            ds.preprocessor.to_json())


def assert_same(config, preprocessor=None):
    """Both paths agree bit for bit; returns the outcome."""
    slow, fast = outcome(config, False, preprocessor), outcome(config, True, preprocessor)
    assert fast == slow
    return fast


def write_text(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


# ---- shipped data: every file is read fast, and the Datasets are identical
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_give_identical_datasets(name):
    config = load_config(ROOT / "configs" / f"{name}.yaml")
    data = config.data["data"]
    table = read_simple_csv(config.resolve_path(data["path"]), set(np.atleast_1d(data["target"])))
    assert isinstance(table, Table)
    assert not isinstance(assert_same(config)[0], str)


def test_na_values_are_pandas_defaults():
    from pandas._libs.parsers import STR_NA_VALUES

    assert csvfast.NA_VALUES == STR_NA_VALUES


# ---- the reader against pandas, column by column
SIMPLE = {
    "ints and floats": "a,b,y\n1,2.5,0\n-3,+4,1\n007,.5,2\n-0,5.,1\n+.5,-.5,+7\n",
    "missing cells and NA tokens": "a,b,c,y\n1,,x,0\nNA,2,,1\nnan,N/A,NULL,0\n4,5,y,1\n",
    "text with spaces and unicode": "city,x,y\nNew York,1,a\nZürich,2,b\nSão Paulo,3,a\n",
    "an empty column": "a,b,y\n,1,0\n,2,1\n",
    "a row of empty cells": "a,b,y\n1,x,0\n,,\n3,z,1\n",
    "float target with gaps": "a,y\n1,0.5\n2,\n3,1.5\n",
    "int target": "a,y\n1.5,3\n2.5,-4\n",
    "crlf and no final newline": "a,b,y\r\n1,x,0\r\n2,z,1",
    "header names with spaces": " a ,b c,y\n1,2,0\n3,4,1\n",
    "text that only looks odd": ("a,code,y\n1,class_0,x\n2,v2.1,y\n3,-,x\n4,e,y\n5,E5,x\n"
                                 "6,.e1,y\n7,+,x\n8,x1,y\n9,Info,x\n10,-e,y\n"),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(SIMPLE))
def test_simple_files_match_pandas_columns(tmp_path, case, dtype):
    path = write_text(tmp_path, SIMPLE[case])
    table = read_simple_csv(path, {"y"}, dtype)
    frame = read_table(path, targets=["y"], dtype=dtype)
    assert isinstance(table, Table), case
    assert table.columns == [str(c) for c in frame.columns] and len(table) == len(frame)
    for name in table.columns:
        mine, theirs = table[name], frame[name]
        assert csvfast.is_number_dtype(mine.dtype) == csvfast.is_number_dtype(theirs.dtype)
        if csvfast.is_number_dtype(mine.dtype):
            assert mine.dtype == theirs.dtype, name
            assert np.array_equal(mine.to_numpy(), theirs.to_numpy(), equal_nan=True)
        else:  # what the pandas-free stand-ins rely on: no text cell reads as a number
            assert pd.to_numeric(theirs.dropna(), errors="coerce").isna().all()
        got, want = mine.to_numpy(dtype=object), theirs.to_numpy(dtype=object)
        assert [type(v) for v in got] == [type(v) for v in want]
        assert pd.isna(got).tolist() == pd.isna(want).tolist()
        assert got[~pd.isna(got)].tolist() == want[~pd.isna(want)].tolist()


NOT_SIMPLE = {
    "empty file": "",
    "header only": "a,b\n",
    "one column": "a\n1\n2\n",
    "extra field": "a,b\n1,2\n3,4,5\n",
    "missing field": "a,b\n1,2\n3\n",
    "blank line": "a,b\n1,2\n\n3,4\n",
    "byte order mark": "\ufeffa,b\n1,2\n",
    "quoted field": 'a,b\n1,"x, y"\n',
    "numbers among text": "a,b\n1,abc\n2,12\n",
    "booleans": "a,b\n1,True\n2,False\n",
    "exponent": "a,b\n1,1e5\n2,3\n",
    "long number": "a,b\n1,0.1234567890123456\n2,3\n",
    "infinity": "a,b\n1,-Infinity\n2,x\n",
    "padded number": "a,b\n1, 2\n3,4\n",
    "padded text": "a,b\n1,x \n3,y\n",
    "repeated names": "a,a,b\n1,2,3\n",
    "unnamed column": "a,,b\n1,2,3\n",
    "two dots": "a,b\n1,1.2.3\n2,3\n",
    "lone carriage return": "a,b\r1,2\n",
}


@pytest.mark.parametrize("case", list(NOT_SIMPLE))
def test_files_that_are_not_simple_go_to_pandas(tmp_path, case):
    path = write_text(tmp_path, NOT_SIMPLE[case])
    assert read_simple_csv(path, {"b"}) is None


def test_gz_and_large_files_go_to_pandas(tmp_path, monkeypatch):
    path = tmp_path / "d.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("a,b\n1,2\n")
    assert read_simple_csv(path) is None
    small = write_text(tmp_path, "a,b\n1,2\n")
    monkeypatch.setattr(csvfast, "MAX_BYTES", 4)
    assert read_simple_csv(small) is None


def test_text_first_seen_after_the_sample_goes_to_pandas(tmp_path):
    # pandas' sample calls the empty column numeric, then rereads every column untyped
    lines = ["a,b,y"] + [f"{i},,{i % 2}" for i in range(20)] + ["5,late,0"]
    path = write_text(tmp_path, "\n".join(lines) + "\n")
    assert read_simple_csv(path, {"y"}, sample_rows=10) is None
    assert isinstance(read_simple_csv(path, {"y"}, sample_rows=30), Table)


# ---- whole Datasets and errors, both paths side by side
def frame_csv(tmp_path, name="d.csv", n=60, seed=0, **columns):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=n).round(4), "x2": rng.integers(0, 9, n),
                          **columns})
    frame.to_csv(tmp_path / name, index=False)
    return name


def penguins(**data):
    data = {"target": "species", **data}
    return make_config(ROOT / "configs", "../datasets/penguins.csv", **data)


@pytest.mark.parametrize("data", [
    {"missing": "error"},
    {"missing": "drop"},
    {"missing": "mean", "scale": "minmax"},
    {"missing": "mean", "features": ["island", "sex", "body_mass_g"]},
    {"missing": "mean", "target": "island", "split": {"train": 0.6, "test": 0.4}},
    {"missing": "drop", "target": "body_mass_g", "task": "regression",
     "scale_target": "standard"},
    {"missing": "drop", "target": "year"},
    {"missing": "drop", "target": "year", "task": "regression"},
    {"missing": "mean", "target": "sex"},
    {"missing": "mean", "categorical": "error"},
])
def test_penguins_variants_agree(data):
    assert_same(penguins(**data))


def test_linnerud_multi_target_and_float64_agree():
    assert_same(make_config(ROOT / "configs", "../datasets/linnerud.csv", dtype="float64",
                            target=["weight", "waist", "pulse"]))


@pytest.mark.parametrize("columns, data", [
    ({"k": np.arange(60) % 3}, {"target": "k"}),                      # integer classes
    ({"k": (np.arange(60) % 3) * 1.0}, {"target": "k"}),              # integral floats
    ({"k": np.arange(60) % 3 + 0.5}, {"target": "k"}),                # fractional labels
    ({"k": np.arange(60) * 1.5}, {"target": "k"}),                    # regression by count
    ({"k": np.arange(60) % 2}, {"target": "k", "task": "regression"}),
    ({"k": ["a"] * 58 + ["b"] * 2}, {"target": "k"}),                 # too few to stratify
    ({"k": ["a", "b"] * 30}, {"target": "k", "task": "regression"}),  # text target
    ({"k": ["a", "b"] * 30, "z": [f"id{i}" for i in range(60)]}, {"target": "k"}),
    ({"k": ["a", "b"] * 30, "t": ["u", "v", "w"] * 20}, {"target": ["x1", "t"]}),
    ({"k": ["a", "b"] * 30}, {"target": ["x1", "k"], "task": "classification"}),
    ({"k": [0, 1] * 29 + [None, 1]}, {"target": "k"}),               # missing label
    ({"k": ["a", "b"] * 30}, {"target": "nope"}),
    ({"k": ["a", "b"] * 30}, {"target": "k", "features": ["x1", "x3"]}),
    ({"k": ["a", "b"] * 30}, {"target": "k", "features": ["x1", "k"]}),
])
def test_generated_files_agree(tmp_path, columns, data):
    name = frame_csv(tmp_path, **columns)
    assert isinstance(read_simple_csv(tmp_path / name, {"k"}), Table)
    assert_same(make_config(tmp_path, name, **data))


def test_separate_files_with_unseen_levels_and_labels_agree(tmp_path):
    names = {split: frame_csv(tmp_path, f"{split}.csv", n=30, seed=i,
                              k=["a", "b", "c"] * 10, c=[level] * 29 + ["q"])
             for i, (split, level) in enumerate([("train", "m"), ("val", "n"), ("test", "m")])}
    config = make_config(tmp_path, target="k", **names)
    assert_same(config)  # unseen levels become notes
    fitted = prepare_data(config).preprocessor
    assert_same(config, fitted)
    frame_csv(tmp_path, "test.csv", n=30, seed=5, k=["a", "b", "z"] * 10, c=["m"] * 30)
    kind, message = assert_same(config, fitted)
    assert kind == "DataError" and "'z'" in message


def test_fitted_preprocessor_applies_the_same_way():
    config = penguins(missing="mean")
    assert_same(config, prepare_data(config).preprocessor)


def test_a_file_pandas_must_read_mixes_with_a_simple_one(tmp_path):
    names = {split: frame_csv(tmp_path, f"{split}.csv", n=30, seed=i, k=["a", "b", "c"] * 10)
             for i, split in enumerate(["train", "val"])}
    text = (tmp_path / "val.csv").read_text().replace("\n", "\n\n", 1)  # a blank line
    (tmp_path / "val.csv").write_text(text)
    assert_same(make_config(tmp_path, target="k", **names))


# ---- the NumPy stand-ins for pandas
def test_index_of_matches_pandas_get_indexer():
    rng = np.random.default_rng(0)
    levels = ["b", "a", "c", "dd"]
    text = rng.choice(["a", "b", "c", "dd", "e", ""], size=50).astype(str)
    cases = [(levels, text), ([], text), ([3, 1, 2], rng.integers(0, 5, 50)),
             ([3, 1, 2], rng.integers(0, 5, 50) * 1.0), ([0.5, 1.5], np.array([1.5, 2.0, np.nan])),
             (["1", "2"], np.array([1, 2])), ([1, "a"], np.array(["1", "a"]).astype(str))]
    for table, values in cases:
        want = pd.Index(table, dtype=object).get_indexer(values)
        assert index_of(table, values).tolist() == want.tolist(), (table, values)


def test_unique_matches_numpy():
    rng = np.random.default_rng(0)
    for values in (rng.integers(0, 5, 40), rng.choice(["b", "a", "c"], 30).astype(str),
                   rng.choice(["b", "a"], 9).astype(object), np.array([], dtype=float),
                   np.array([0.0, -0.0, np.inf, 1.0])):
        assert unique(values).tolist() == np.unique(values).tolist()


# ---- validate stays free of pandas and prints what the pandas path prints
@pytest.mark.parametrize("name", ["iris", "penguins"])
def test_validate_starts_without_pandas_and_blas_threads(name):
    code = ("import sys; sys.argv = ['nettrain', 'validate', sys.argv[1]]\n"
            "from nettrain.cli import cli\n"
            "try:\n    cli()\nexcept SystemExit as end:\n    assert not end.code, end.code\n"
            "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
            "import os\nassert 'OPENBLAS_NUM_THREADS' not in os.environ, 'environment changed'\n"
            "from threadpoolctl import threadpool_info\n"
            "assert {p['num_threads'] for p in threadpool_info()} <= {1}, threadpool_info()\n")
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    result = subprocess.run([sys.executable, "-c", code, f"configs/{name}.yaml"], cwd=ROOT,
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout


@pytest.mark.parametrize("name, sets, code", [
    ("wine", [], 0), ("penguins", [], 0),
    ("penguins", ["data.missing=error"], 2),  # missing values
    ("penguins", ["data.features=null", "data.target=sex"], 2),  # a target with gaps
    ("iris", ["data.task=regression"], 2),  # text target
    ("iris", ["model.layers.1.units=4"], 2),  # checked against the data
])
def test_validate_output_equals_the_pandas_path(name, sets, code, monkeypatch):
    from click.testing import CliRunner

    from nettrain.cli import cli

    args = ["validate", str(ROOT / "configs" / f"{name}.yaml")]
    args += [arg for value in sets for arg in ("--set", value)]
    fast = CliRunner().invoke(cli, args)
    monkeypatch.setattr("nettrain.data.files.read_simple_csv", lambda *a, **k: None)
    slow = CliRunner().invoke(cli, args)
    assert fast.exit_code == slow.exit_code == code
    assert fast.output == slow.output


def test_one_blas_thread_leaves_an_imported_numpy_and_the_environment_alone(monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    before = dict(os.environ)
    import_numpy_with_one_blas_thread()  # NumPy is imported here already: nothing to do
    assert dict(os.environ) == before
