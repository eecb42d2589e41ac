"""Preprocessor: statistics from the train rows only, exact reapplication, preprocess.json."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from nettrain.data.preprocess import Preprocessor
from nettrain.errors import DataError


def table(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "a": rng.normal(5.0, 2.0, n),
        "const": np.full(n, 3.0),
        "color": rng.choice(["red", "green", "blue"], n),
        "label": rng.choice(["yes", "no"], n),
    })


def fitted(frame=None, rows=None, **kwargs):
    frame = table() if frame is None else frame
    args = dict(features=["a", "const", "color"], targets=["label"], task="classification",
                categorical=["color"], classes=["no", "yes"])
    args.update(kwargs)
    pre = Preprocessor(**args)
    X, y = pre.fit_transform(frame, rows)
    return pre, X, y


def test_standard_scaling_uses_train_rows_only_and_constant_columns_become_zero():
    frame = table()
    train = np.arange(20)
    pre, X, _ = fitted(frame, train)
    a = frame["a"].to_numpy()[train]
    assert pre.center[0] == pytest.approx(a.astype(np.float32).mean(dtype=np.float64))
    assert pre.spread[0] == pytest.approx(a.astype(np.float32).std(dtype=np.float64))
    assert X[:, 0].mean() == pytest.approx(0, abs=1e-6)
    assert np.all(X[:, 1] == 0) and np.isfinite(X).all()  # std 0 -> divide by 1, no NaN
    assert pre.spread[1] == 1.0


def test_minmax_scaling_maps_train_range_to_unit_interval_and_constant_to_zero():
    pre, X, _ = fitted(scale="minmax")
    assert X[:, 0].min() == 0 and X[:, 0].max() == pytest.approx(1)
    assert np.all(X[:, 1] == 0)


def test_scale_none_keeps_values():
    frame = table()
    _, X, _ = fitted(frame, scale="none")
    np.testing.assert_array_equal(X[:, 0], frame["a"].to_numpy(np.float32))


def test_one_hot_levels_sorted_and_feature_names():
    pre, X, y = fitted()
    assert pre.levels["color"] == ["blue", "green", "red"]
    assert pre.feature_names == ["a", "const", "color=blue", "color=green", "color=red"]
    np.testing.assert_array_equal(X[:, 2:].sum(axis=1), 1)
    assert X.dtype == np.float32 and X.flags.c_contiguous
    assert y.dtype == np.int64 and set(y) <= {0, 1}


def test_float64_dtype():
    _, X, _ = fitted(dtype="float64")
    assert X.dtype == np.float64


def test_transform_reproduces_fit_exactly_with_columns_in_any_order_and_extras():
    frame = table()
    pre, X, y = fitted(frame)
    shuffled = frame[["label", "color", "const", "a"]].assign(extra="ignored")
    X2, y2 = pre.transform(shuffled)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_json_round_trip_is_exact_and_plain():
    frame = table()
    pre, X, _ = fitted(frame, missing="mean")
    text = pre.to_json()
    doc = json.loads(text)
    assert doc["target"]["classes"] == ["no", "yes"]
    again = Preprocessor.from_json(text)
    assert again.to_json() == text
    assert again.center.tobytes() == pre.center.tobytes()  # bit-for-bit floats
    np.testing.assert_array_equal(again.transform(frame)[0], X)


def test_unseen_level_encodes_as_zeros_with_one_warning():
    pre, _, _ = fitted()
    new = pd.DataFrame({"a": [1.0, 2.0, 3.0], "const": 3.0, "color": ["red", "purple", "pink"]})
    X, y = pre.transform(new)
    assert y is None
    np.testing.assert_array_equal(X[1:, 2:], 0)
    assert len(pre.warnings) == 1
    assert "'color'" in pre.warnings[0] and "'pink'" in pre.warnings[0] and "'purple'" in pre.warnings[0]


def test_missing_feature_columns_are_listed():
    pre, _, _ = fitted()
    with pytest.raises(DataError, match=r"'const', 'color' not found.*The data has: a") as err:
        pre.transform(pd.DataFrame({"a": [1.0], "colour": "red"}))
    assert "Did you mean 'colour'?" in str(err.value)  # a renamed column is suggested


def test_a_column_the_run_reads_is_never_suggested_for_a_missing_one():
    frame = table().rename(columns={"a": "sepal_length", "const": "petal_length"})
    pre, _, _ = fitted(frame, features=["sepal_length", "petal_length"], categorical=[])
    with pytest.raises(DataError, match="'petal_length' not found") as err:
        pre.transform(frame.drop(columns="petal_length"))
    assert "Did you mean" not in str(err.value)


def test_text_in_numeric_column_names_column_and_first_bad_row():
    pre, _, _ = fitted()
    new = pd.DataFrame({"a": ["1.5", "2", "oops", "x"], "const": 3.0, "color": "red"})
    with pytest.raises(DataError, match=r"Column 'a' must be numeric, but row 3 holds 'oops'"):
        pre.transform(new)


def test_numbers_given_as_text_are_parsed():
    pre, _, _ = fitted()
    X, _ = pre.transform(pd.DataFrame({"a": ["1.5", "2"], "const": 3.0, "color": "red"}))
    X2, _ = pre.transform(pd.DataFrame({"a": [1.5, 2.0], "const": 3.0, "color": "red"}))
    np.testing.assert_array_equal(X, X2)


def test_missing_error_names_columns_and_counts():
    pre, _, _ = fitted()
    new = pd.DataFrame({"a": [1.0, np.nan, np.inf], "const": 3.0, "color": ["red", None, "red"]})
    with pytest.raises(DataError, match=r"a: 2 row\(s\), first row 2, color: 1 row\(s\), first row 2"):
        pre.transform(new)


def test_missing_mean_fills_train_means_and_zero_categories():
    frame = table()
    pre, _, _ = fitted(frame, missing="mean", scale="none")
    new = pd.DataFrame({"a": [np.nan, np.inf], "const": 3.0, "color": [None, "red"]})
    X, _ = pre.transform(new)
    expected = frame["a"].to_numpy(np.float32).mean(dtype=np.float64)
    np.testing.assert_allclose(X[:, 0], expected, rtol=1e-6)
    np.testing.assert_array_equal(X[0, 2:], 0)


def test_missing_mean_learns_from_finite_train_values():
    frame = table()
    frame.loc[3, "a"] = np.nan
    pre, X, _ = fitted(frame, missing="mean", scale="none")
    assert pre.fill[0] == pytest.approx(frame["a"].dropna().to_numpy(np.float32).mean())
    assert np.isfinite(X).all()


def test_missing_mean_refuses_a_column_without_train_values_and_warns_nothing():
    frame = table()
    frame.loc[:19, "a"] = np.nan  # values only in rows 20-39, outside the train rows
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy warning (0 / 0) on the way to the message
        with pytest.raises(DataError, match=r"^Column\(s\) 'a' have no values in the train split, "
                                            r"so data.missing: mean has nothing to fill them with"):
            fitted(frame, np.arange(20), missing="mean")
        pre, _, _ = fitted(frame, np.arange(10, 30), missing="mean", scale="none")
    assert pre.fill[0] == pytest.approx(frame["a"][20:30].to_numpy(np.float32).mean())


def test_missing_drop_leaves_rows_out_and_reports_them():
    pre, _, _ = fitted(missing="drop")
    new = pd.DataFrame({"a": [1.0, np.nan, 2.0], "const": 3.0, "color": "red",
                        "label": ["yes", "no", "no"]})
    X, y, rows = pre.transform(new, return_rows=True)
    np.testing.assert_array_equal(rows, [0, 2])
    assert len(X) == 2 and list(y) == [1, 0]
    assert "Left out 1 of 3 row(s)" in pre.warnings[0]


def test_target_missing_is_an_error_even_when_dropping():
    frame = table()
    frame.loc[5, "label"] = None
    with pytest.raises(DataError, match=r"Target column 'label' has 1 missing .*row 6"):
        fitted(frame, missing="drop")


def test_unknown_label_and_required_target():
    pre, _, _ = fitted()
    new = pd.DataFrame({"a": [1.0], "const": 3.0, "color": "red", "label": ["maybe"]})
    with pytest.raises(DataError, match=r"not seen in training: 'maybe'. Known classes: no, yes"):
        pre.transform(new)
    with pytest.raises(DataError, match=r"'label' not found"):
        pre.transform(new.drop(columns="label"), require_target=True)


def test_decode_keeps_label_types():
    pre, _, y = fitted()
    assert pre.decode(y[:3]).tolist() == table()["label"][:3].tolist()
    ints = Preprocessor(["a"], ["k"], "classification", classes=[3, 7, 9])
    assert ints.decode([2, 0]).tolist() == [9, 3]
    assert isinstance(ints.decode([0])[0].item(), int)
    assert ints.class_names == ["3", "7", "9"]
    back = Preprocessor.from_json(json.dumps({**json.loads(fitted()[0].to_json()),
                                              "target": {"names": ["k"], "classes": [3, 7, 9]}}))
    assert back.decode([1]).tolist() == [7]


def test_numeric_labels_match_across_int_and_float_columns():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "k": [0, 1, 0, 1]})
    pre = Preprocessor(["a"], ["k"], "classification", classes=[0, 1])
    pre.fit_transform(frame)
    _, y = pre.transform(frame.assign(k=[1.0, 0.0, 1.0, 1.0]))
    assert y.tolist() == [1, 0, 1, 1]


def test_regression_target_scaling_and_inverse():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=50), "t1": rng.normal(100, 10, 50),
                          "t2": rng.normal(-3, 0.5, 50)})
    pre = Preprocessor(["x"], ["t1", "t2"], "regression", scale_target="standard")
    _, y = pre.fit_transform(frame)
    assert y.shape == (50, 2) and y.dtype == np.float32
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(pre.inverse_target(y), frame[["t1", "t2"]].to_numpy(), rtol=1e-5)
    again = Preprocessor.from_json(pre.to_json())
    np.testing.assert_array_equal(again.transform(frame)[1], y)


def test_a_target_column_left_out_means_no_targets():
    """Two targets, a file with only one of them: y is None (features only), not a half y."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=20), "t1": rng.normal(size=20), "t2": rng.normal(size=20)})
    pre = Preprocessor(["x"], ["t1", "t2"], "regression")
    X, _ = pre.fit_transform(frame)
    X_only, y = pre.transform(frame.drop(columns=["t2"]))
    assert y is None
    np.testing.assert_array_equal(X_only, X)
    with pytest.raises(DataError, match="t2"):
        pre.transform(frame.drop(columns=["t2"]), require_target=True)


def test_missing_target_drop_survives_preprocess_json():
    frame = table()
    pre, _, _ = fitted(frame, missing_target="drop")
    assert json.loads(pre.to_json())["missing_target"] == "drop"
    again = Preprocessor.from_json(pre.to_json())
    assert again.missing_target == "drop"
    gap = frame.assign(label=[None] + list(frame["label"][1:]))
    X, y, kept = again.transform(gap, require_target=True, return_rows=True)
    assert kept.tolist() == list(range(1, len(frame))) and len(y) == len(frame) - 1
    assert again.warnings == ["Left out 1 row(s) whose target is missing, as "
                              "data.missing_target is 'drop'."]


def test_missing_mean_with_only_categorical_features():
    # no numeric column to fill: a missing level encodes as zeros, no train means are needed
    frame = table().assign(color=[None] + list(table()["color"][1:]))
    pre, X, _ = fitted(frame, features=["color"], missing="mean")
    np.testing.assert_array_equal(X[0], 0)
    np.testing.assert_array_equal(X[1:].sum(axis=1), 1)
    X2, _ = Preprocessor.from_json(pre.to_json()).transform(frame)
    np.testing.assert_array_equal(X2, X)


def test_regression_target_unscaled_and_non_finite_target():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "t": [1.0, np.inf, 2.0]})
    pre = Preprocessor(["x"], ["t"], "regression")
    with pytest.raises(DataError, match=r"Target column 't' has 1 missing or non-finite.*row 2"):
        pre.fit_transform(frame)
    _, y = pre.fit_transform(frame.assign(t=[1.0, 5.0, 2.0]))
    np.testing.assert_array_equal(pre.inverse_target(y).ravel(), [1, 5, 2])


def test_from_json_rejects_other_files():
    with pytest.raises(DataError, match="'preprocess.json' cannot be read"):
        Preprocessor.from_json("{not json")
    with pytest.raises(DataError, match="format"):
        Preprocessor.from_json('{"format": "other"}')
    doc = {k: v for k, v in json.loads(fitted()[0].to_json()).items() if k != "columns"}
    with pytest.raises(DataError, match=r"'run/preprocess.json' cannot be read: the entry 'columns' is missing"):
        Preprocessor.from_json(json.dumps(doc), source="run/preprocess.json")


def test_transform_before_fit_is_an_error():
    with pytest.raises(DataError, match="not been fitted"):
        Preprocessor(["a"], ["t"], "regression").transform(pd.DataFrame({"a": [1.0]}))


def test_large_table_statistics_in_chunks_match_numpy():
    rng = np.random.default_rng(2)
    n = 150_000  # more rows than one statistics chunk
    frame = pd.DataFrame({"a": rng.normal(3, 2, n).astype(np.float32),
                          "b": rng.uniform(-1, 1, n).astype(np.float32), "t": rng.normal(size=n)})
    pre = Preprocessor(["a", "b"], ["t"], "regression")
    X, _ = pre.fit_transform(frame)
    raw = frame[["a", "b"]].to_numpy(np.float64)
    np.testing.assert_allclose(pre.center, raw.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(pre.spread, raw.std(axis=0), rtol=1e-10)
    assert X.flags.c_contiguous


def test_the_sample_shape_survives_preprocess_json():
    """Images (C, H, W) flattened to 12 columns: the reloaded preprocessor reshapes them back."""
    X = np.arange(5 * 12, dtype=float).reshape(5, 12)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(12)]).assign(y=[0, 1, 0, 1, 1])
    pre = Preprocessor([f"x{i}" for i in range(12)], ["y"], "classification", classes=[0, 1],
                       scale="none", sample_shape=(3, 2, 2))
    pre.fit_transform(frame)
    again = Preprocessor.from_json(pre.to_json())
    assert again.sample_shape == (3, 2, 2)
    np.testing.assert_array_equal(again.transform(frame)[0], X.reshape(5, 3, 2, 2))


@pytest.mark.parametrize("scale, what", [("standard", "standard deviation"), ("minmax", "range")])
def test_statistics_that_overflow_float64_are_a_data_error_naming_the_column(scale, what):
    frame = table()
    frame["huge"] = np.linspace(-1.0, 1.0, len(frame)) * 1e308
    values = frame["huge"].to_numpy()
    with np.errstate(all="ignore"):  # the reference: NumPy's own statistics overflow too
        assert not np.isfinite(np.std(values) if scale == "standard" else np.ptp(values))
    with pytest.raises(DataError, match=rf"{what} of column\(s\) 'huge' overflows float64.*"
                                        r"data\.exclude.*data\.scale: none"):
        fitted(frame, features=["a", "huge"], categorical=[], scale=scale, dtype="float64")


def test_a_target_whose_deviation_overflows_names_scale_target():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=50), "t": rng.normal(size=50) * 1e200})
    pre = Preprocessor(["x"], ["t"], "regression", scale_target="standard", dtype="float64")
    with pytest.raises(DataError, match=r"column\(s\) 't' overflows.*data\.scale_target: none"):
        pre.fit_transform(frame)


def test_fit_without_the_target_column_names_it():
    with pytest.raises(DataError, match=r"Column\(s\) 'label' not found in the data"):
        fitted(table().drop(columns="label"))


def test_missing_target_drop_leaves_out_non_finite_regression_targets():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "t": [1.0, np.nan, np.inf, 2.0]})
    pre = Preprocessor(["x"], ["t"], "regression", missing_target="drop")
    X, y = pre.fit_transform(frame)
    np.testing.assert_array_equal(X.ravel(), np.array([-1.0, 1.0], np.float32))  # x 1 and 4
    np.testing.assert_array_equal(y.ravel(), [1.0, 2.0])
    assert pre.warnings == ["Left out 2 row(s) whose target is missing, as "
                            "data.missing_target is 'drop'."]


def test_date_parts_survive_preprocess_json():
    frame = table().assign(time=pd.date_range("2023-01-15", periods=40, freq="MS").astype(str))
    pre, X, _ = fitted(frame, features=["a", "time_year", "time_month"],
                       categorical=[], dates={"time": ["year", "month"]}, scale="none")
    np.testing.assert_array_equal(X[:3, 1:], [[2023, 2], [2023, 3], [2023, 4]])
    again = Preprocessor.from_json(pre.to_json())
    assert again.dates == {"time": ["year", "month"]}
    np.testing.assert_array_equal(again.transform(frame.drop(columns="label"))[0], X)


def test_a_categorical_column_must_be_a_feature():
    with pytest.raises(ValueError, match=r"categorical column\(s\) \['color'\] are not among"):
        Preprocessor(["a"], ["label"], "classification", categorical=["color"])
