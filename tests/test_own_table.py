"""Your own table, first try: the checks and conversions between a CSV and the model's inputs.

Small versions of five kinds of real table are generated here, seeded: an id column running
1..n, a timestamp, missing targets, rare classes, a 5% minority class (plus text columns).
"""

import datetime
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from conftest import assert_usage_error, make_config

from nettrain.cli import cli
from nettrain.data.dataset import prepare_data
from nettrain.data.files import read_table
from nettrain.errors import DataError


def loans(n=400, seed=0):
    """An id 1..n, text columns and a 5% minority class."""
    rng = np.random.default_rng(seed)
    grade = rng.choice(list("ABCD"), n)
    rate = np.round(5 + 3 * (grade == "D") + rng.normal(size=n), 2)
    default = np.where(rng.random(n) < np.where(grade == "D", 0.15, 0.02), "yes", "no")
    return pd.DataFrame({"loan_id": np.arange(1, n + 1), "grade": grade, "rate": rate,
                         "income": np.round(rng.lognormal(10, 0.3, n)), "default": default})


def animals(n=300, seed=1):
    """Many classes, two of them with one or two rows, missing labels and a code that leaks."""
    rng = np.random.default_rng(seed)
    labels = np.concatenate([rng.integers(0, 6, n - 3), [6, 7, 7]])
    names = np.array(["fox", "badger", "[other]", "deer", "otter", "hare", "[/]", "lynx"])
    df = pd.DataFrame({"length": np.round(labels * 3 + rng.normal(size=n), 2),
                       "weight": np.round(labels + rng.normal(size=n), 2),
                       "code": np.array([f"S{i}" for i in range(8)])[labels],
                       "species": names[labels].astype(object)})
    df.loc[[5, 17, 40], "species"] = None
    return df


def weather(n=240):
    """Hourly rows with an ISO timestamp; the temperature follows the hour of the day."""
    t = pd.date_range("2021-03-01", periods=n, freq="h")
    hour = t.hour.to_numpy()
    return pd.DataFrame({"time": t.strftime("%Y-%m-%dT%H:%M:%S"),
                         "humidity": 60 + (hour % 7), "temp": np.sin(hour / 24 * 2 * np.pi) * 5})


def credit(n=300, seed=2):
    """Gaps in a numeric and a text feature, and a customer id running 1..n."""
    rng = np.random.default_rng(seed)
    late = rng.poisson(0.6, n).astype(float)
    job = rng.choice(["salaried", "retired", "student"], n).astype(object)
    income = np.round(rng.lognormal(10, 0.4, n), -1)
    risk = np.where(late + rng.normal(0, 0.5, n) > 1, "bad", "good")
    df = pd.DataFrame({"customer_id": np.arange(1, n + 1), "late_payments": late,
                       "income": income, "employment": job, "risk": risk})
    df.loc[rng.random(n) < 0.1, "income"] = np.nan
    df.loc[rng.random(n) < 0.05, "employment"] = None
    return df


def write(tmp_path, name, frame, **kwargs):
    frame.to_csv(tmp_path / name, index=False, **kwargs)
    return tmp_path / name


def fit_config(tmp_path, data, layers=None, **extra):
    """A small config dict that trains in well under a second."""
    return {"data": data, "seed": 0, "output": str(tmp_path / "runs"),
            "model": {"layers": layers or [{"type": "dense", "units": 8, "activation": "relu"},
                                           {"type": "dense", "units": "auto"}]},
            "optimizer": {"name": "adam", "lr": 0.05},
            "training": {"epochs": 3, "batch_size": 32}, **extra}


def run_cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# ---------------------------------------------------------------- columns in


def test_exclude_leaves_columns_out_and_checks_their_names(tmp_path):
    write(tmp_path, "loans.csv", loans())
    ds = prepare_data(make_config(tmp_path, "loans.csv", target="default", exclude=["loan_id"]))
    assert "loan_id" not in ds.preprocessor.features and "rate" in ds.preprocessor.features
    with pytest.raises(DataError, match=r"data.exclude: column\(s\) 'loan_ld' not found .*"
                                        r"Did you mean 'loan_id'\?"):
        prepare_data(make_config(tmp_path, "loans.csv", target="default", exclude=["loan_ld"]))


def test_an_id_column_and_a_leak_are_warned_about_by_name(tmp_path):
    write(tmp_path, "loans.csv", loans())
    notes = prepare_data(make_config(tmp_path, "loans.csv", target="default")).notes
    assert any("warning: Column 'loan_id' runs 1..400 like a row number" in n
               and "data.exclude: [loan_id]" in n for n in notes)
    write(tmp_path, "animals.csv", animals())
    notes = prepare_data(make_config(tmp_path, "animals.csv", target="species",
                                     missing_target="drop")).notes
    assert any("warning: Column 'code' determines the target one to one (each of its 8 values"
               in n and "data.exclude: [code]" in n for n in notes)
    frame = weather().assign(copy=lambda f: f.temp * 2 + 1)
    write(tmp_path, "w.csv", frame)
    notes = prepare_data(make_config(tmp_path, "w.csv", target="temp", loss="mse")).notes
    assert any("Column 'copy' is almost a linear function of the target" in n for n in notes)
    assert not any("'humidity'" in n for n in notes)


def test_timestamps_become_numeric_parts_not_levels(tmp_path):
    write(tmp_path, "w.csv", weather())
    ds = prepare_data(make_config(tmp_path, "w.csv", target="temp", loss="mse"))
    parts = ["time_year", "time_month", "time_day", "time_dayofweek", "time_hour"]
    assert ds.feature_names == parts + ["humidity"]
    assert "dates: 'time' -> year, month, day, dayofweek, hour" in ds.notes
    pre = ds.preprocessor
    frame = pd.DataFrame({"time": ["2024-02-29T13:00:00", "1969-12-31 23:30", None],
                          "humidity": [60.0, 61.0, 62.0]})
    pre.missing = "mean"
    X, _ = pre.transform(frame)
    weekday = [datetime.date(2024, 2, 29).weekday(), datetime.date(1969, 12, 31).weekday()]
    expect = [[2024, 2, 29, weekday[0], 13], [1969, 12, 31, weekday[1], 23]]
    raw = X[:2, :5] * pre.spread[:5] + pre.center[:5]
    np.testing.assert_allclose(raw, expect, atol=1e-3)
    # a date-only column has no hour part; data.dates names a column explicitly
    frame = pd.DataFrame({"day": ["2021-01-01", "2021-01-02"] * 20, "x": range(40), "y": range(40)})
    write(tmp_path, "d.csv", frame)
    ds = prepare_data(make_config(tmp_path, "d.csv", target="y", loss="mse", dates=["day"]))
    assert ds.feature_names[:4] == ["day_year", "day_month", "day_day", "day_dayofweek"]
    bad = frame.assign(day=["2021-01-01", "soon"] * 20)
    write(tmp_path, "bad.csv", bad)
    with pytest.raises(DataError, match=r"data.dates: column 'day' row 2 holds 'soon'"):
        prepare_data(make_config(tmp_path, "bad.csv", target="y", loss="mse", dates=["day"]))


def test_one_hot_limit_names_the_column_and_the_fix(tmp_path):
    frame = loans().assign(branch=[f"b{i % 150}" for i in range(400)])
    write(tmp_path, "l.csv", frame)
    with pytest.raises(DataError, match=r"Feature column 'branch' holds text with 150 distinct values "
                                        r"in 400 rows: one-hot encoding would add 150 inputs, more "
                                        r"than data.onehot_limit \(100\)\. Leave it out with "
                                        r"data.exclude: \[branch\], or raise data.onehot_limit"):
        prepare_data(make_config(tmp_path, "l.csv", target="default"))
    ds = prepare_data(make_config(tmp_path, "l.csv", target="default", onehot_limit=200))
    assert 140 <= len(ds.preprocessor.levels["branch"]) <= 150  # those in the train split


def test_one_hot_limit_counts_levels_not_gaps_and_tells_an_id_apart(tmp_path):
    # exactly the limit is allowed; an empty cell is no level
    frame = loans(1000).assign(branch=[f"b{i % 100}" for i in range(1000)])
    frame.loc[[0, 1, 2], "branch"] = None
    write(tmp_path, "l.csv", frame)
    ds = prepare_data(make_config(tmp_path, "l.csv", target="default", missing="mean"))
    assert len(ds.preprocessor.levels["branch"]) == 100
    frame = frame.assign(branch=[f"b{i % 101}" for i in range(1000)])
    write(tmp_path, "l.csv", frame)
    with pytest.raises(DataError, match=r"'branch' holds text with 101 distinct values in 1,000 "
                                        r"rows.*\(100\)\. Leave it out"):
        prepare_data(make_config(tmp_path, "l.csv", target="default"))
    # a distinct value per row: the message says what it looks like
    write(tmp_path, "id.csv", loans().assign(ref=[f"X{i:05d}" for i in range(400)]))
    with pytest.raises(DataError, match=r"'ref' holds text with 400 distinct values in 400 rows"
                                        r".* It looks like an identifier or free text\. Leave it "
                                        r"out with data.exclude: \[ref\]"):
        prepare_data(make_config(tmp_path, "id.csv", target="default", exclude=["loan_id"]))


def test_warnings_that_list_levels_are_cut_short(tmp_path):
    frame = loans().assign(branch=[f"b{i % 60:02d}" for i in range(400)])
    write(tmp_path, "l.csv", frame)
    pre = prepare_data(make_config(tmp_path, "l.csv", target="default")).preprocessor
    new = frame.assign(branch=[f"new{i}" for i in range(400)])
    pre.transform(new)
    [warning] = pre.warnings
    assert "('new0', 'new1'," in warning and "... (390 more)); they are encoded" in warning
    assert "Known levels: 'b00', 'b01'," in warning and "... (50 more)." in warning


def test_missing_targets_error_or_drop(tmp_path):
    write(tmp_path, "a.csv", animals())
    with pytest.raises(DataError, match=r"Target column 'species' has 3 missing .* set "
                                        r"data.missing_target: drop"):
        prepare_data(make_config(tmp_path, "a.csv", target="species"))
    ds = prepare_data(make_config(tmp_path, "a.csv", target="species", missing_target="drop"))
    assert "missing_target: dropped 3 of 300 rows of 'a.csv' whose target is missing" in ds.notes
    assert sum(ds.n_rows.values()) == 297


def test_missing_targets_are_dropped_before_features_are_checked(tmp_path):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200),
                          "y": rng.normal(size=200), "z": rng.normal(size=200)})
    frame.loc[[3, 10], "y"] = np.nan
    frame.loc[[3, 50], "z"] = np.nan  # row 3 misses both targets: counted once
    frame.loc[3, "a"] = np.nan  # a gap in a row that is dropped anyway: no missing-value error
    write(tmp_path, "r.csv", frame)
    ds = prepare_data(make_config(tmp_path, "r.csv", target=["y", "z"], loss="mse",
                                  missing_target="drop"))
    assert "missing_target: dropped 3 of 200 rows of 'r.csv' whose target is missing" in ds.notes
    assert sum(ds.n_rows.values()) == 197
    assert not any(n.startswith("missing:") for n in ds.notes)
    with pytest.raises(DataError, match=r"Target column 'y' has 2 missing .*first at row 4\)"):
        prepare_data(make_config(tmp_path, "r.csv", target=["y", "z"], loss="mse"))
    # a gap in a kept row is still data.missing's business
    frame.loc[7, "b"] = np.nan
    write(tmp_path, "r.csv", frame)
    with pytest.raises(DataError, match=r"Missing or non-finite values .* b: 1 row\(s\), first "
                                        r"row 8"):
        prepare_data(make_config(tmp_path, "r.csv", target="y", loss="mse", missing_target="drop"))
    # numeric class labels with gaps; a target with no known value at all
    labels = pd.DataFrame({"a": rng.normal(size=60), "k": np.tile([0.0, 1.0], 30)})
    labels.loc[[4, 9], "k"] = np.nan
    write(tmp_path, "k.csv", labels)
    ds = prepare_data(make_config(tmp_path, "k.csv", target="k", missing_target="drop"))
    assert ds.classes == [0, 1] and sum(ds.n_rows.values()) == 58
    write(tmp_path, "none.csv", labels.assign(k=np.nan))
    with pytest.raises(DataError, match=r"Every row of 'none.csv' has a missing target, so "
                                        r"data.missing_target: drop leaves nothing"):
        prepare_data(make_config(tmp_path, "none.csv", target="k", missing_target="drop"))


def test_rare_classes_go_to_train_and_a_single_class_is_an_error(tmp_path):
    write(tmp_path, "a.csv", animals())
    ds = prepare_data(make_config(tmp_path, "a.csv", target="species", missing_target="drop"))
    [warning] = [n for n in ds.notes if "too few rows" in n]
    assert "2 class(es)" in warning and "[/] (1)" in warning and "lynx (2)" in warning
    train_labels = set(ds.splits["train"][1].tolist())
    assert {ds.classes.index("[/]"), ds.classes.index("lynx")} <= train_labels
    write(tmp_path, "one.csv", loans().assign(default="no"))
    with pytest.raises(DataError, match=r"Target column 'default' holds the single class 'no'"):
        prepare_data(make_config(tmp_path, "one.csv", target="default"))


# ---------------------------------------------------------------- file formats


def test_tsv_sep_and_encoding(tmp_path):
    frame = loans().assign(grade=lambda f: f.grade.map({"A": "é", "B": "ü", "C": "C", "D": "D"}))
    write(tmp_path, "l.tsv", frame, sep="\t")
    ds = prepare_data(make_config(tmp_path, "l.tsv", target="default"))
    assert ds.preprocessor.levels["grade"] == ["C", "D", "é", "ü"]
    write(tmp_path, "semi.csv", frame, sep=";", encoding="latin-1")
    with pytest.raises(DataError, match=r"is not utf-8 text .* Set data.encoding"):
        prepare_data(make_config(tmp_path, "semi.csv", target="default", sep=";"))
    ds = prepare_data(make_config(tmp_path, "semi.csv", target="default", sep=";",
                                  encoding="latin-1"))
    assert ds.preprocessor.levels["grade"] == ["C", "D", "é", "ü"]
    with pytest.raises(DataError, match=r"data.target: column\(s\) 'default' not found"):
        prepare_data(make_config(tmp_path, "semi.csv", target="default", encoding="latin-1"))


def test_repeated_column_names_are_an_error(tmp_path):
    (tmp_path / "dup.csv").write_text("a,price,b,price\n1,2,3,4\n5,6,7,8\n")
    with pytest.raises(DataError, match=r"repeats column name\(s\): 'price' \(columns 2, 4\)"):
        read_table(tmp_path / "dup.csv")


def test_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    loans().to_parquet(tmp_path / "l.parquet")
    ds = prepare_data(make_config(tmp_path, "l.parquet", target="default", exclude=["loan_id"]))
    assert ds.preprocessor.levels["grade"] == ["A", "B", "C", "D"]
    assert sum(ds.n_rows.values()) == 400


def test_parquet_without_pyarrow_says_how_to_get_it(tmp_path, monkeypatch):
    (tmp_path / "l.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(DataError, match=r"is Parquet, which needs pyarrow: pip install "
                                        r"\"nettrain\[parquet\]\""):
        read_table(tmp_path / "l.parquet")


def test_a_downloadable_dataset_not_yet_downloaded_names_the_command(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "m.yaml").write_text(
        "data: {train: ../datasets/mnist/train.npz, test: ../datasets/mnist/test.npz}\n"
        "model: {layers: [{type: dense, units: 10}]}\n")
    assert_usage_error(run_cli("validate", tmp_path / "configs" / "m.yaml"), "not found",
                       "nettrain datasets get mnist --dir")


# ---------------------------------------------------------------- config keys


def test_units_auto_is_for_the_output_layer(tmp_path):
    write(tmp_path, "loans.csv", loans())
    config = fit_config(tmp_path, {"path": "loans.csv", "target": "default"})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = run_cli("validate", tmp_path / "c.yaml")
    assert result.exit_code == 0, result.output
    assert "dense" in result.output and "2" in result.output
    config["model"]["layers"][0]["units"] = "auto"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert_usage_error(run_cli("validate", tmp_path / "c.yaml"),
                       "model.layers[0].units: 'auto' is for the output layer only")


def test_a_list_inside_metrics_is_a_clear_error(tmp_path):
    write(tmp_path, "loans.csv", loans())
    config = fit_config(tmp_path, {"path": "loans.csv", "target": "default"}, metrics=[[1, 2]])
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert_usage_error(run_cli("validate", tmp_path / "c.yaml"),
                       "metrics: expected a list of metric names such as [accuracy, f1]")


# ---------------------------------------------------------------- nettrain init --data


@pytest.mark.parametrize("kind", ["loans", "animals", "weather", "credit"])
def test_init_writes_a_commented_config_that_trains(tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    frame, target = {"loans": (loans(), "default"), "animals": (animals(), "species"),
                     "weather": (weather(), "temp"), "credit": (credit(), "risk")}[kind]
    write(tmp_path, "table.csv", frame)
    result = run_cli("init", "--data", "table.csv", "--target", target, "-o", "cfg/c.yaml")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "cfg" / "c.yaml").read_text()
    config = yaml.safe_load(text)
    assert config["data"]["path"] == "../table.csv"
    assert config["model"]["layers"][-1] == {"type": "dense", "units": "auto"}
    expected = {"loans": ("exclude", ["loan_id"]), "animals": ("missing_target", "drop"),
                "weather": ("dates", ["time"]), "credit": ("missing", "mean")}[kind]
    assert config["data"][expected[0]] == expected[1]
    if kind == "loans":
        assert config["loss"] == {"name": "cross_entropy", "class_weights": "balanced"}
        assert "# 'yes' is " in text and "roc_auc" in config["metrics"]
    if kind == "animals":
        assert config["data"]["exclude"] == ["code"] and "gives the target away" in text
    if kind == "credit":
        assert config["data"]["exclude"] == ["customer_id"] and "gaps (" in text
        assert "missing_target" not in config["data"]
    config["training"]["epochs"] = 2
    (tmp_path / "cfg" / "c.yaml").write_text(yaml.safe_dump(config))
    fitted = run_cli("fit", "cfg/c.yaml", "--quiet")
    assert fitted.exit_code == 0, fitted.output


def test_init_data_needs_a_known_target(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "t.csv", loans())
    assert_usage_error(run_cli("init", "--data", "t.csv"), "--data FILE and --target COL go together")
    assert_usage_error(run_cli("init", "--data", "t.csv", "--target", "defualt"),
                       "--target: column 'defualt' not found", "Did you mean 'default'?")
    assert_usage_error(run_cli("init", "classification", "--data", "t.csv", "--target", "default"),
                       "Give a TEMPLATE (classification) or --data FILE, not both")
