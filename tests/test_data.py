"""prepare_data: reading, task inference, splits, preprocessing and bad input."""

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, make_config

from nettrain.data.dataset import prepare_data, split_indices
from nettrain.data.files import read_table
from nettrain.errors import ConfigError, DataError


def iris(**kwargs):
    return make_config(ROOT / "configs", "../datasets/iris.csv", target="species", **kwargs)


def write(tmp_path, name, frame):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def numbers(n=60, seed=0, classes=3):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                         "k": np.arange(n) % classes})


# ---- the shipped iris file end to end
def test_iris_prepared_with_notes_and_stratified_splits():
    ds = prepare_data(iris())
    assert ds.task == "classification" and ds.classes == ["setosa", "versicolor", "virginica"]
    assert ds.n_features == 4 and ds.n_outputs == 3
    assert ds.n_rows == {"train": 105, "val": 23, "test": 22}
    assert "task: classification (target 'species' has 3 text values)" in ds.notes
    X, y = ds.splits["train"]
    assert X.dtype == np.float32 and X.flags.c_contiguous and y.dtype == np.int64
    assert np.bincount(y).tolist() == [35, 35, 35]
    for split in ("val", "test"):
        assert set(ds.splits[split][1]) == {0, 1, 2}
    assert ds.preprocessor.decode([0, 2]).tolist() == ["setosa", "virginica"]


def test_splits_are_seeded_disjoint_and_complete():
    frame = pd.read_csv(ROOT / "datasets" / "iris.csv")
    a, b, c = prepare_data(iris()), prepare_data(iris()), prepare_data(iris(seed=1))
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(a.splits[split][0], b.splits[split][0])
    assert not np.array_equal(a.splits["test"][0], c.splits["test"][0])
    raw = a.preprocessor  # undo the scaling to find the rows again
    seen = np.concatenate([a.splits[s][0] * raw.spread.astype(np.float32)
                           + raw.center.astype(np.float32) for s in ("train", "val", "test")])
    assert len(seen) == len(frame)
    assert len(np.unique(np.round(seen, 4), axis=0)) == len(frame.drop_duplicates(
        subset=frame.columns[:4]))


def test_scaling_is_fitted_on_the_train_split_only():
    ds = prepare_data(iris())
    X_train, X_test = ds.splits["train"][0], ds.splits["test"][0]
    np.testing.assert_allclose(X_train.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(X_train.std(axis=0), 1, atol=1e-5)
    assert np.abs(X_test.mean(axis=0)).max() > 1e-3


def test_dtype_float64():
    assert prepare_data(iris(dtype="float64")).splits["train"][0].dtype == np.float64


def test_split_of_zero_is_omitted():
    ds = prepare_data(iris(split={"train": 0.8, "test": 0.2}))
    assert set(ds.splits) == {"train", "test"} and ds.n_rows == {"train": 120, "test": 30}


def test_binary_cross_entropy_needs_one_output():
    ds = prepare_data(make_config(ROOT / "configs", "../datasets/breast_cancer.csv",
                                  target="diagnosis", loss="binary_cross_entropy"))
    assert ds.n_outputs == 1 and ds.classes == ["benign", "malignant"]


# ---- split_indices
def test_split_indices_counts_add_up_and_sorted():
    parts = split_indices(101, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=3)
    assert [len(parts[s]) for s in ("train", "val", "test")] == [71, 15, 15]
    joined = np.concatenate(list(parts.values()))
    assert sorted(joined.tolist()) == list(range(101))
    assert all(np.all(np.diff(p) > 0) for p in parts.values())  # file order within a split


def test_split_indices_stratified_keeps_proportions():
    strata = np.repeat([0, 1], [80, 20])
    parts = split_indices(100, {"train": 0.6, "val": 0.2, "test": 0.2}, 0, strata, ["a", "b"])
    for split, idx in parts.items():
        share = strata[idx].mean()
        assert share == pytest.approx(0.2, abs=0.01), split


def test_split_counts_by_hand():
    def counts(n, fractions, strata=None):
        parts = split_indices(n, fractions, 0, strata)
        if strata is None:
            return {k: len(v) for k, v in parts.items()}
        return {k: np.bincount(strata[v], minlength=strata.max() + 1).tolist() for k, v in parts.items()}

    # fractions are shares of the whole: 3 : 1 is 75 / 25, a split left out is empty
    assert counts(100, {"train": 3, "val": 1}) == {"train": 75, "val": 25}
    # a class of 3 reaches each of three splits (one row each); the other takes 16 / 2 / 2
    assert counts(23, {"train": 0.8, "val": 0.1, "test": 0.1}, np.repeat([0, 1], [20, 3])) == {
        "train": [16, 1], "val": [2, 1], "test": [2, 1]}
    # a class of 2 is enough for two splits (test 0 does not count)
    assert counts(8, {"train": 0.5, "val": 0.5, "test": 0}, np.repeat([0, 1], [6, 2])) == {
        "train": [3, 1], "val": [3, 1]}
    # four classes of 5 rows halved: the odd rows alternate so that each split has 10
    halves = counts(20, {"train": 0.5, "val": 0.5}, np.repeat([0, 1, 2, 3], 5))
    assert [sum(v) for v in halves.values()] == [10, 10]
    assert all(sorted((a, b)) == [2, 3] for a, b in zip(halves["train"], halves["val"]))
    with pytest.raises(DataError, match="The data has no usable rows to split"):
        split_indices(0, {"train": 0.7, "val": 0.3}, 0)
    # leftover rows go to the largest remainders: class 0 (3 rows) wants 1.8 / 1.2, so its
    # leftover row goes to train; class 1 (2 rows) wants 1.2 / 0.8, so its goes to val
    assert counts(5, {"train": 0.6, "val": 0.4}, np.array([0, 0, 0, 1, 1])) == {
        "train": [2, 1], "val": [1, 1]}


def test_a_class_with_one_row_per_split_is_stratified_without_a_warning():
    # as many rows as there are splits is enough: one row each, no warning; the other class
    # takes 16 / 2 / 2 of its 20
    strata = np.repeat([0, 1], [20, 3])
    notes = []
    parts = split_indices(23, {"train": 0.8, "val": 0.1, "test": 0.1}, 0, strata, ["a", "b"], notes)
    assert {k: np.bincount(strata[v], minlength=2).tolist() for k, v in parts.items()} == {
        "train": [16, 1], "val": [2, 1], "test": [2, 1]}
    assert notes == []


def test_every_class_too_small_falls_back_to_an_unstratified_split():
    # four classes of one row cannot reach two splits: the 4 rows are split 2 / 2 as if
    # stratify were off, with a warning
    notes = []
    parts = split_indices(4, {"train": 0.5, "val": 0.5}, 0, np.arange(4), list("abcd"), notes)
    assert {k: len(v) for k, v in parts.items()} == {"train": 2, "val": 2}
    assert sorted(np.concatenate(list(parts.values())).tolist()) == [0, 1, 2, 3]
    assert len(notes) == 1 and notes[0].startswith(
        "warning: every class has too few rows to reach every split (a (1), b (1), c (1), d (1))")


def test_class_too_small_to_stratify():
    strata = np.array([0] * 30 + [1] * 2)
    with pytest.raises(DataError, match=r"Class 'rare' has only 2 row\(s\).*stratify: false"):
        split_indices(32, {"train": 0.7, "val": 0.15, "test": 0.15}, 0, strata, ["common", "rare"])


def test_class_too_small_to_stratify_from_config_goes_to_train_with_a_warning(tmp_path):
    frame = numbers(40).assign(k=["a"] * 38 + ["b"] * 2)
    write(tmp_path, "d.csv", frame)
    ds = prepare_data(make_config(tmp_path, "d.csv", target="k"))
    assert any(n.startswith("warning: 1 class(es) have too few rows") and "b (2)" in n
               for n in ds.notes)
    assert np.bincount(ds.splits["train"][1]).tolist() == [26, 2]  # both 'b' rows train
    assert [len(ds.splits[s][1]) for s in ("val", "test")] == [6, 6]
    ds = prepare_data(make_config(tmp_path, "d.csv", target="k",
                                  split={"train": 0.7, "val": 0.15, "test": 0.15, "stratify": False}))
    assert sum(ds.n_rows.values()) == 40


def test_empty_split_is_an_error(tmp_path):
    write(tmp_path, "d.csv", numbers(6))
    cfg = make_config(tmp_path, "d.csv", target="x2",
                      split={"train": 0.95, "val": 0.05, "test": 0.0})
    with pytest.raises(DataError, match=r"data.split.val is 0.05 but the data has only 6 usable rows"):
        prepare_data(cfg)


# ---- task inference
@pytest.mark.parametrize("column,loss,task,note", [
    ("k", "cross_entropy", "classification", "target 'k' has 3 integer values"),
    ("k", "mse", "regression", "loss is mse"),
    ("x1", "cross_entropy", "regression", "60 distinct numeric values"),
    ("flag", "cross_entropy", "classification", "2 boolean values"),
])
def test_task_auto(tmp_path, column, loss, task, note):
    write(tmp_path, "d.csv", numbers().assign(flag=lambda f: f.x1 > 0))
    ds = prepare_data(make_config(tmp_path, "d.csv", target=column, loss=loss,
                                  features=["x2"], split={"train": 0.8, "test": 0.2,
                                                          "stratify": False}))
    assert ds.task == task
    assert any(note in n for n in ds.notes), ds.notes


def test_int_labels_stay_ints_and_integral_floats_become_ints(tmp_path):
    write(tmp_path, "d.csv", numbers().assign(k=lambda f: (f.k * 2 + 1).astype(float)))
    ds = prepare_data(make_config(tmp_path, "d.csv", target="k"))
    assert ds.classes == [1, 3, 5] and all(type(c) is int for c in ds.classes)
    assert ds.preprocessor.decode([2]).tolist() == [5]


def test_regression_text_target_is_an_error(tmp_path):
    write(tmp_path, "d.csv", numbers().assign(k=lambda f: np.where(f.k > 0, "a", "b")))
    with pytest.raises(DataError, match=r"regression but target 'k' holds text"):
        prepare_data(make_config(tmp_path, "d.csv", target="k", task="regression"))


def test_multi_output_regression_linnerud():
    cfg = make_config(ROOT / "configs", "../datasets/linnerud.csv",
                      target=["weight", "waist", "pulse"], scale_target="standard",
                      loss="mse", split={"train": 0.8, "test": 0.2})
    ds = prepare_data(cfg)
    assert ds.task == "regression" and ds.n_outputs == 3 and ds.classes is None
    assert ds.feature_names == ["chins", "situps", "jumps"]
    _, y = ds.splits["train"]
    assert y.shape == (16, 3) and y.dtype == np.float32
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)


def test_classification_with_a_list_target_is_an_error():
    cfg = make_config(ROOT / "configs", "../datasets/linnerud.csv",
                      target=["weight", "waist"], task="classification")
    with pytest.raises(DataError, match="classification takes one target column"):
        prepare_data(cfg)


# ---- formats
def test_npz_images_keep_their_sample_shape_and_constant_pixels_stay_finite(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    images[:, 0, :] = 0  # a border row that is always blank
    np.savez(tmp_path / "img.npz", X=images, y=np.arange(50) % 5)
    ds = prepare_data(make_config(tmp_path, "img.npz"))
    X, y = ds.splits["train"]
    assert X.shape == (35, 28, 28) and ds.input_shape == (28, 28) and ds.n_features == 784
    assert np.isfinite(X).all()
    np.testing.assert_array_equal(np.ptp(X[:, 0, :], axis=0), 0)  # the blank row stays constant
    assert ds.classes == [0, 1, 2, 3, 4] and ds.n_outputs == 5
    frame = read_table(tmp_path / "img.npz")
    assert frame.shape == (50, 785) and frame.columns[-1] == "y"


def test_npz_without_X_and_bad_npz(tmp_path):
    np.savez(tmp_path / "a.npz", images=np.zeros((3, 2)))
    with pytest.raises(DataError, match=r"has no array 'X' \(it has: images\)"):
        read_table(tmp_path / "a.npz")
    (tmp_path / "b.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot be read as .npz"):
        read_table(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", X=np.zeros((3, 2)), y=np.zeros(4))
    with pytest.raises(DataError, match="X has 3 rows but y has 4"):
        read_table(tmp_path / "c.npz")


def test_csv_gz_reads_like_csv(tmp_path):
    frame = numbers()
    with gzip.open(tmp_path / "d.csv.gz", "wt") as fh:
        frame.to_csv(fh, index=False)
    write(tmp_path, "d.csv", frame)
    a = prepare_data(make_config(tmp_path, "d.csv.gz", target="k"))
    b = prepare_data(make_config(tmp_path, "d.csv", target="k"))
    np.testing.assert_array_equal(a.splits["train"][0], b.splits["train"][0])


def test_numeric_columns_are_read_as_float32(tmp_path):
    write(tmp_path, "d.csv", numbers().assign(name=lambda f: f.k.map({0: "a", 1: "b", 2: "c"})))
    frame = read_table(tmp_path / "d.csv", targets=["k"])
    assert frame["x1"].dtype == np.float32 and frame["k"].dtype == np.int64


def test_explicit_train_val_test_files(tmp_path):
    frame = numbers(90)
    for name, part in (("tr.csv", frame[:60]), ("va.csv", frame[60:75]), ("te.csv", frame[75:])):
        write(tmp_path, name, part)
    cfg = make_config(tmp_path, None, target="k", train="tr.csv", val="va.csv", test="te.csv",
                      split=None)
    ds = prepare_data(cfg)
    assert ds.n_rows == {"train": 60, "val": 15, "test": 15}
    np.testing.assert_allclose(ds.splits["train"][0].mean(axis=0), 0, atol=1e-6)
    assert ds.splits["test"][1].tolist() == (np.arange(75, 90) % 3).tolist()


def test_reusing_a_fitted_preprocessor_gives_the_same_arrays():
    first = prepare_data(iris())
    again = prepare_data(iris(), preprocessor=first.preprocessor)
    np.testing.assert_array_equal(first.splits["test"][0], again.splits["test"][0])


# ---- categorical and missing values: penguins
def penguins(**kwargs):
    return make_config(ROOT / "configs", "../datasets/penguins.csv", target="species", **kwargs)


def test_penguins_missing_error_names_columns_and_counts():
    with pytest.raises(DataError, match=r"bill_length_mm: 2 row\(s\), first row 4.*sex: 11 row\(s\)"):
        prepare_data(penguins())


def test_penguins_drop_and_one_hot():
    ds = prepare_data(penguins(missing="drop"))
    assert sum(ds.n_rows.values()) == 333
    assert any(n.startswith("missing: dropped 11 of 344 rows") for n in ds.notes)
    names = ds.feature_names
    assert "island=Biscoe" in names and "sex=female" in names and "sex=male" in names
    X, _ = ds.splits["train"]
    cols = [names.index(f"island={i}") for i in ("Biscoe", "Dream", "Torgersen")]
    np.testing.assert_array_equal(X[:, cols].sum(axis=1), 1)
    assert set(np.unique(X[:, cols])) == {0.0, 1.0}  # one-hot columns are not scaled


def test_penguins_mean_fill():
    ds = prepare_data(penguins(missing="mean"))
    assert sum(ds.n_rows.values()) == 344
    assert all(np.isfinite(X).all() for X, _ in ds.splits.values())
    # the note counts the gaps pandas sees in the raw file: numbers filled, categories zeros
    gaps = pd.read_csv(ROOT / "datasets" / "penguins.csv").isna().sum()
    numeric = ", ".join(f"{c}: {gaps[c]}" for c in ("bill_length_mm", "bill_depth_mm",
                                                     "flipper_length_mm", "body_mass_g"))
    assert (f"missing: filled with train means ({numeric}); categories encoded as all zeros "
            f"(sex: {gaps['sex']})") in ds.notes


def test_level_seen_only_outside_train_encodes_as_zeros(tmp_path):
    frame = numbers(40).assign(c=["a", "b"] * 20)
    frame.loc[[1, 3], "c"] = "rare"
    write(tmp_path, "d.csv", frame)
    tr = frame.drop(index=[1, 3])
    for name, part in (("tr.csv", tr), ("te.csv", frame.loc[[1, 3, 5]])):
        write(tmp_path, name, part)
    ds = prepare_data(make_config(tmp_path, None, target="k", train="tr.csv", test="te.csv",
                                  split=None))
    assert ds.preprocessor.levels["c"] == ["a", "b"]
    np.testing.assert_array_equal(ds.splits["test"][0][:2, -2:], 0)
    assert any("test:" in n and "'rare'" in n for n in ds.notes)


def test_inf_in_features_with_missing_error(tmp_path):
    write(tmp_path, "d.csv", numbers().assign(x1=lambda f: f.x1.where(f.index != 7, np.inf)))
    with pytest.raises(DataError, match=r"x1: 1 row\(s\), first row 8"):
        prepare_data(make_config(tmp_path, "d.csv", target="k"))


def test_nan_in_target_is_an_error(tmp_path):
    write(tmp_path, "d.csv", numbers().assign(k=lambda f: f.k.where(f.index != 4)))
    with pytest.raises(DataError, match=r"Target column 'k' has 1 missing.*row 5"):
        prepare_data(make_config(tmp_path, "d.csv", target="k", missing="drop"))


# ---- bad input
def test_missing_data_file_names_given_and_resolved_path(tmp_path):
    write(tmp_path, "iris.csv", numbers())
    with pytest.raises(DataError) as err:
        prepare_data(make_config(tmp_path, "iriss.csv", target="k"))
    text = str(err.value)
    assert text.startswith("data.path: Data file 'iriss.csv'") and str(tmp_path / "iriss.csv") in text
    assert "Did you mean 'iris.csv'?" in text and "relative to the config file" in text


def test_file_errors_name_the_key_of_the_file(tmp_path):
    write(tmp_path, "train.csv", numbers())
    (tmp_path / "val.csv").write_text("")
    config = make_config(tmp_path, None, target="k", train="train.csv", val="val.csv")
    with pytest.raises(DataError, match=r"^data\.val: Data file 'val.csv' .* is empty"):
        prepare_data(config)


def test_a_path_given_outside_a_config_gets_no_config_hint(tmp_path):
    with pytest.raises(DataError) as err:
        read_table(tmp_path / "nope.csv")
    assert "not found" in str(err.value) and "config" not in str(err.value)


def test_malformed_csv(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b,k\n1,2,0\n3,4,5,6\n")
    with pytest.raises(DataError, match=r"not a well-formed CSV: .*Expected 3 fields in line 3, saw 4"):
        prepare_data(make_config(tmp_path, "bad.csv", target="k"))


def test_empty_and_header_only_csv(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="is empty"):
        prepare_data(make_config(tmp_path, "empty.csv", target="k"))
    (tmp_path / "head.csv").write_text("a,k\n")
    with pytest.raises(DataError, match="no data rows"):
        prepare_data(make_config(tmp_path, "head.csv", target="k"))


def test_unsupported_extension(tmp_path):
    (tmp_path / "d.xlsx").write_bytes(b"")
    with pytest.raises(DataError, match=r"unsupported format; use .csv, .tsv, .parquet"):
        read_table(tmp_path / "d.xlsx")


def test_target_column_missing_lists_columns_and_suggests(tmp_path):
    with pytest.raises(DataError, match=r"data.target: column\(s\) 'specie' not found in "
                                        r"'../datasets/iris.csv'. Did you mean 'species'\? "
                                        r"Its columns are: sepal_length"):
        prepare_data(make_config(ROOT / "configs", "../datasets/iris.csv", target="specie"))


def test_feature_column_missing(tmp_path):
    with pytest.raises(DataError, match=r"data.features: column\(s\) 'petal_lenght'.*"
                                        r"Did you mean 'petal_length'\?"):
        prepare_data(iris(features=["sepal_length", "petal_lenght"]))


def test_target_not_set_lists_columns(tmp_path):
    with pytest.raises(DataError, match=r"data.target is not set.*sepal_length, .*species"):
        prepare_data(make_config(ROOT / "configs", "../datasets/iris.csv"))


def test_path_and_train_together_or_neither():
    with pytest.raises(ConfigError, match="both set"):
        prepare_data(iris(train="../datasets/iris.csv"))
    with pytest.raises(ConfigError, match="data.path is not set"):
        prepare_data(make_config(ROOT / "configs", None, target="species"))


def test_mostly_numeric_column_with_a_bad_token(tmp_path):
    frame = numbers().astype({"x1": object})
    frame.loc[12, "x1"] = "n/a?"
    write(tmp_path, "d.csv", frame)
    with pytest.raises(DataError, match=r"Column 'x1' must be numeric, but row 13 holds 'n/a\?'"):
        prepare_data(make_config(tmp_path, "d.csv", target="k"))


def test_identifier_like_text_column_cannot_be_used(tmp_path):
    write(tmp_path, "d.csv", numbers(300).assign(name=[f"id-{i}" for i in range(300)]))
    with pytest.raises(DataError, match=r"'name' holds text with 300 distinct values.*identifier"):
        prepare_data(make_config(tmp_path, "d.csv", target="k"))


def test_text_column_with_categorical_error(tmp_path):
    write(tmp_path, "d.csv", numbers().assign(c="a"))
    with pytest.raises(DataError, match=r"'c' holds text.*data.categorical is 'error'"):
        prepare_data(make_config(tmp_path, "d.csv", target="k", categorical="error"))


def test_target_as_feature_and_no_features(tmp_path):
    write(tmp_path, "d.csv", numbers()[["k"]])
    with pytest.raises(DataError, match="No feature columns"):
        prepare_data(make_config(tmp_path, "d.csv", target="k"))
    with pytest.raises(DataError, match="both in data.target and data.features"):
        prepare_data(iris(features=["species"]))


# ---- the shipped datasets and their example configs
SHIPPED = {  # config: (task, n_features, n_outputs, rows)
    "iris": ("classification", 4, 3, 150),
    "wine": ("classification", 13, 3, 178),
    "breast_cancer": ("classification", 30, 1, 569),
    "digits": ("classification", 64, 10, 1797),
    "diabetes": ("regression", 10, 1, 442),
    "penguins": ("classification", 9, 3, 344),
    "linnerud": ("regression", 3, 3, 20),
}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_example_configs_fit_their_datasets(name):
    from nettrain.config.loading import check_against_data, load_config

    config = load_config(ROOT / "configs" / f"{name}.yaml")
    ds = prepare_data(config)
    task, n_features, n_outputs, rows = SHIPPED[name]
    assert (ds.task, ds.n_features, ds.n_outputs) == (task, n_features, n_outputs)
    assert sum(ds.n_rows.values()) == rows
    check_against_data(config, ds)  # the last layer's units, loss and metrics fit the data


def test_datasets_readme_lists_every_shipped_file():
    readme = (ROOT / "datasets" / "README.md").read_text()
    for path in (ROOT / "datasets").glob("*.csv"):
        assert f"`{path.name}`" in readme


# ---- through the command line: exit 2, one paragraph, no traceback
CLI_BAD = {
    "missing file": ("path: nofile.csv\n  target: k", "Data file 'nofile.csv' (resolved to"),
    "malformed csv": ("path: bad.csv\n  target: k", "is not a well-formed CSV"),
    "target column": ("path: d.csv\n  target: kk", "data.target: column(s) 'kk' not found"),
    "feature column": ("path: d.csv\n  target: k\n  features: [x3]", "'x3' not found"),
    "text in numbers": ("path: text.csv\n  target: k", "Column 'x1' must be numeric, but row 3"),
    "nan": ("path: nan.csv\n  target: k", "Missing or non-finite values"),
    "single class": ("path: one.csv\n  target: k", "Target column 'k' holds the single class 0 in"),
    "empty split": ("path: tiny.csv\n  target: x1\n  split: {train: 0.9, val: 0.1}",
                    "leaves the val split empty"),
}


@pytest.mark.parametrize("case", sorted(CLI_BAD))
def test_bad_data_exits_2_from_the_cli(tmp_path, monkeypatch, case):
    from click.testing import CliRunner

    from nettrain.cli import cli

    frame = numbers(30)
    write(tmp_path, "d.csv", frame)
    (tmp_path / "bad.csv").write_text("x1,k\n1,0\n2,1,3\n")
    write(tmp_path, "text.csv", frame.astype({"x1": object}).assign(
        x1=lambda f: f.x1.where(f.index != 2, "abc")))
    write(tmp_path, "nan.csv", frame.assign(x2=lambda f: f.x2.where(f.index != 0)))
    write(tmp_path, "one.csv", frame.assign(k=0))
    write(tmp_path, "tiny.csv", frame[:4])
    data, expected = CLI_BAD[case]
    (tmp_path / "cfg.yaml").write_text(
        f"data:\n  {data}\nmodel:\n  layers: [{{type: dense, units: 3}}]\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["validate", "cfg.yaml"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and expected in result.output
    assert "Traceback" not in result.output


def test_a_flat_npz_is_read_like_the_same_table_in_a_csv(tmp_path):
    """X of shape (n, F) has no sample shape to keep: the same preprocessing as a CSV of x0..x{F-1}."""
    frame = numbers(60).rename(columns={"x1": "x0", "x2": "x1", "k": "y"})
    np.savez(tmp_path / "d.npz", X=frame[["x0", "x1"]].to_numpy(), y=frame["y"].to_numpy())
    write(tmp_path, "d.csv", frame)
    from_npz = prepare_data(make_config(tmp_path, "d.npz", target="y"))
    from_csv = prepare_data(make_config(tmp_path, "d.csv", target="y"))
    assert from_npz.preprocessor.sample_shape is None
    npz_doc, csv_doc = (json.loads(d.preprocessor.to_json()) for d in (from_npz, from_csv))
    assert npz_doc == csv_doc
    for split in from_csv.splits:
        np.testing.assert_array_equal(from_npz.splits[split][0], from_csv.splits[split][0])


def test_a_row_number_column_among_the_features_is_warned_about(tmp_path):
    write(tmp_path, "d.csv", numbers(60).assign(row=np.arange(1, 61)))
    ds = prepare_data(make_config(tmp_path, "d.csv", target="k"))
    assert any(n.startswith("warning: Column 'row' runs 1..60 like a row number") for n in ds.notes)
    assert not any("'k'" in n and "row number" in n for n in ds.notes)  # the target is no feature


def test_an_npz_without_rows_is_refused_and_one_row_is_read(tmp_path):
    np.savez(tmp_path / "empty.npz", X=np.zeros((0, 3)), y=np.zeros(0))
    with pytest.raises(DataError, match="empty.npz.* has no rows"):
        read_table(tmp_path / "empty.npz")
    np.savez(tmp_path / "one.npz", X=np.ones((1, 3)), y=np.zeros(1))
    assert read_table(tmp_path / "one.npz").shape == (1, 4)


def test_an_npz_with_two_target_columns_names_them_y0_y1(tmp_path):
    y = np.arange(10.0).reshape(5, 2)
    np.savez(tmp_path / "two.npz", X=np.ones((5, 3)), y=y)
    frame = read_table(tmp_path / "two.npz")
    assert list(frame.columns) == ["x0", "x1", "x2", "y0", "y1"]
    np.testing.assert_array_equal(frame[["y0", "y1"]].to_numpy(), y)
    # data.target renames them (docs/data.md), when it names as many columns as y has
    named = read_table(tmp_path / "two.npz", targets=["low", "high"])
    assert list(named.columns) == ["x0", "x1", "x2", "low", "high"]
    np.testing.assert_array_equal(named[["low", "high"]].to_numpy(), y)
    assert list(read_table(tmp_path / "two.npz", targets=["low"]).columns)[3:] == ["y0", "y1"]


def test_an_npz_with_a_two_column_y_needs_no_data_target(tmp_path):
    """docs/data.md: no data.target for an .npz; a 2-D y is the targets y0, y1 (regression)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.stack([X[:, 0] * 2, X[:, 1] - X[:, 2]], axis=1)
    np.savez(tmp_path / "two.npz", X=X, y=y)
    ds = prepare_data(make_config(tmp_path, "two.npz", loss="mse", task="regression"))
    assert ds.preprocessor.targets == ["y0", "y1"]
    assert ds.preprocessor.feature_names == ["x0", "x1", "x2"]
    assert sum(len(ds.splits[s][1]) for s in ds.splits) == 40
    assert all(ds.splits[s][1].shape[1] == 2 for s in ds.splits)
