"""`nettrain export`: ONNX Runtime on the raw rows gives what `nettrain predict` gives.

The reference is nettrain's own `predict` (labels equal; probabilities and values to 1e-5 in
float32, 1e-9 in float64); test_export_layers.py checks each layer converter against PyTorch
as well.
"""

import io
import sys

import numpy as np
import onnx
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import assert_usage_error
from onnx_check import KINDS, assert_agrees, session
from rich.console import Console
from trained_runs import ROOT, trained_runs

import nettrain
from nettrain.cli import cli
from nettrain.export import to_onnx
from nettrain.inference.loading import load as load_run

PENGUINS = ROOT / "datasets" / "penguins.csv"
ACTIVATIONS = ["relu", {"name": "leaky_relu", "negative_slope": 0.2}, {"name": "elu", "alpha": 0.7},
               "gelu", "sigmoid", "tanh", "softplus", "silu", "identity"]


def fit(tmp, name, **config):
    config = {"name": name, "seed": 0, "output": str(tmp / "runs"),
              "training": {"epochs": 5, "batch_size": 16}, **config}
    return nettrain.fit(config, quiet=True, console=Console(file=io.StringIO()))


@pytest.fixture(scope="module")
def odd_penguins(tmp_path_factory):
    """penguins.csv with an unseen island, an unseen sex, an inf and a missing number."""
    frame = pd.read_csv(PENGUINS)
    frame.loc[3, "island"] = "Atlantis"
    frame.loc[5, "sex"] = "unknown"
    frame.loc[7, "bill_length_mm"] = np.inf
    frame.loc[9, "body_mass_g"] = np.nan
    path = tmp_path_factory.mktemp("data") / "penguins_odd.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return trained_runs(tmp_path_factory.getbasetemp())


def penguins_data(**extra):
    return {"path": str(PENGUINS), "target": "species", **extra}


def test_categorical_and_numeric_columns_with_mean_imputation(tmp_path, odd_penguins):
    run = fit(tmp_path, "penguins", data=penguins_data(missing="mean"),
              model={"layers": [{"type": "dense", "units": 16, "activation": "relu"},
                                {"type": "dense", "units": 3}]})
    model = to_onnx(run)
    onnx.checker.check_model(model, full_check=True)
    inputs = {i.name: KINDS[i.type] for i in session(model).get_inputs()}
    assert inputs["island"] is str and inputs["sex"] is str
    assert inputs["bill_length_mm"] is np.float32 and "species" not in inputs
    got, kept = assert_agrees(run, odd_penguins, model)
    assert kept.all()  # mean imputation scores every row, as predict does
    assert set(got["label"]) <= {"Adelie", "Chinstrap", "Gentoo"}


def test_binary_categorical_run(runs):
    got, _ = assert_agrees(runs["pets"], runs["pets"].config["data"]["path"])
    assert got["probabilities"].shape[1] == 2
    np.testing.assert_allclose(got["probabilities"].sum(axis=1), 1, atol=1e-6)


def test_multi_output_regression_with_target_scaling(runs):
    got, _ = assert_agrees(runs["linnerud"], ROOT / "datasets" / "linnerud.csv")
    assert got["value"].shape == (20, 3) and got["value"].dtype == np.float64


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_activation_dropout_batchnorm(tmp_path, odd_penguins, dtype):
    layers = [{"type": "dense", "units": 12, "activation": ACTIVATIONS[0]}, {"type": "batchnorm"}]
    for act in ACTIVATIONS[1:]:
        layers += [{"type": "dense", "units": 12, "activation": act}, {"type": "dropout", "rate": 0.2}]
    layers += [{"type": "batchnorm", "eps": 0.01}, {"type": "activation", "activation": "swish"},
               {"type": "dense", "units": 12, "use_bias": False}, {"type": "dense", "units": 3}]
    run = fit(tmp_path, "acts", dtype=dtype, data=penguins_data(missing="drop"),
              model={"layers": layers})
    got, kept = assert_agrees(run, odd_penguins)
    # rows predict leaves out under missing: drop get NaN probabilities and an empty label
    assert (~kept).sum() >= 12 and (got["label"][~kept] == "").all()


def test_float64_regression(tmp_path):
    run = fit(tmp_path, "diabetes64", dtype="float64",
              data={"path": str(ROOT / "datasets" / "diabetes.csv"), "target": "progression",
                    "task": "regression", "scale_target": "standard"},
              model={"layers": [{"type": "dense", "units": 8, "activation": "gelu"},
                                {"type": "dense", "units": 1}]}, loss="mse",
              metrics=["mae"])
    got, _ = assert_agrees(run, ROOT / "datasets" / "diabetes.csv")
    assert got["value"].shape[1] == 1


def test_cli_writes_a_checked_file(runs, tmp_path):
    out = tmp_path / "iris.onnx"
    result = CliRunner().invoke(cli, ["export", str(runs["iris"].path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    assert_agrees(runs["iris"], ROOT / "datasets" / "iris.csv", out)
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["task"] == "classification" and "setosa" in meta["classes"]


def test_cli_default_path_is_in_the_run(runs, tmp_path):
    result = CliRunner().invoke(cli, ["export", str(runs["linnerud"].path)])
    assert result.exit_code == 0, result.output
    assert (runs["linnerud"].path / "model.onnx").is_file()


def test_without_onnx_says_how_to_install(runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    result = CliRunner().invoke(cli, ["export", str(runs["iris"].path), "-o", "x.onnx"])
    assert_usage_error(result, "onnx", 'pip install "nettrain[onnx]"')


def test_a_layer_without_converter_is_an_error_naming_it(tmp_path, monkeypatch):
    from nettrain.export import layers

    run = fit(tmp_path, "bn", data=penguins_data(missing="mean"),
              model={"layers": [{"type": "dense", "units": 4}, {"type": "batchnorm"},
                                {"type": "dense", "units": 3}]})
    monkeypatch.delitem(layers.LAYER_CONVERTERS, "batchnorm")
    out = tmp_path / "bn.onnx"
    result = CliRunner().invoke(cli, ["export", str(run.path), "-o", str(out)])
    assert_usage_error(result, "model.layers[1] (batchnorm)", "no ONNX converter")
    assert not out.exists()


def test_bad_run_directory_and_unwritable_output(runs, tmp_path):
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "nope")])
    assert_usage_error(result, "does not exist")
    result = CliRunner().invoke(cli, ["export", str(runs["iris"].path), "-o",
                                      str(tmp_path / "no" / "dir" / "m.onnx")])
    assert_usage_error(result, "Cannot write")


def fit_or_skip(tmp, name, key, **config):
    """fit, or skip the test while this version does not know data.<key>."""
    from nettrain.errors import ConfigError

    try:
        return fit(tmp, name, **config)
    except ConfigError as err:
        if f"Unknown key '{key}'" in str(err):
            pytest.skip(f"data.{key} is not in this version")
        raise


def test_time_series_windows(tmp_path):
    """Each column input is one window (n, size) of the raw series; predict's forecasts."""
    rng = np.random.default_rng(0)
    n = 120
    series = pd.DataFrame({"step": np.arange(n),
                           "level": np.sin(np.arange(n) / 5) + rng.normal(0, 0.1, n),
                           "season": np.array(["dry", "wet"])[(np.arange(n) // 10) % 2]})
    path = tmp_path / "series.csv"
    series.to_csv(path, index=False)
    run = fit_or_skip(tmp_path, "series", "window",
                      data={"path": str(path), "target": "level",
                            "task": "regression", "window": {"size": 6, "horizon": 1},
                            "split": {"train": 0.7, "val": 0.3, "test": 0}},
                      model={"layers": [{"type": "lstm", "units": 4},
                                        {"type": "dense", "units": 1}]},
                      loss="mse", metrics=["mae"])
    sess = session(to_onnx(run))
    inputs = {i.name: i.shape for i in sess.get_inputs()}
    assert inputs["season"][1:] == [6] and "step" in inputs  # one window of each column
    got, ends = assert_agrees(run, path)  # builds each window from the rows predict used
    assert len(ends) == n - 5 and got["value"].shape == (n - 5, 1)


def test_text_model_takes_token_ids_with_its_vocabulary_beside(tmp_path):
    import json
    import re

    rng = np.random.default_rng(0)
    words = ["good", "great", "fine", "bad", "awful", "poor", "the", "film", "plot", "was"]
    texts = [" ".join(rng.choice(words, rng.integers(2, 9))) for _ in range(150)]
    label = ["pos" if sum(w in t.split() for w in words[:3]) >= sum(w in t.split() for w in words[3:6])
             else "neg" for t in texts]
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"review": texts, "label": label}).to_csv(path, index=False)
    run = fit_or_skip(tmp_path, "text", "text",
                      data={"path": str(path), "target": "label", "features": ["review"],
                            "text": {"column": "review", "vocab_size": 8, "max_length": 6}},
                      model={"layers": [{"type": "embedding", "output_dim": 4},
                                        {"type": "gru", "units": 3}, {"type": "dense", "units": 2}]})
    out = tmp_path / "text.onnx"
    result = CliRunner().invoke(cli, ["export", str(run.path), "-o", str(out)])
    assert result.exit_code == 0 and "text.vocab.json" in result.output, result.output
    vocab = json.loads((tmp_path / "text.vocab.json").read_text())
    # the tokenizer as the vocabulary file describes it, written by hand
    index = {token: i + vocab["first_id"] for i, token in enumerate(vocab["vocabulary"])}
    T = vocab["max_length"]
    new = ["good film", "awful awful plot was bad", "unseen words only", ""]
    ids = np.zeros((len(new), T), dtype=np.int64)
    for row, text in enumerate(new):
        found = [index.get(t, vocab["unknown_id"]) for t in re.findall(vocab["token_pattern"],
                                                                          text.lower())][-T:]
        ids[row, T - len(found):] = found
    label_out, proba = session(out).run(None, {"X": ids})
    table = load_run(run.path).predict(pd.DataFrame({"review": new}), proba=True)
    assert label_out.tolist() == table["predicted_label"].tolist()
    np.testing.assert_allclose(proba, table[["proba_neg", "proba_pos"]].to_numpy(), atol=1e-5)


CNN = [{"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
       {"type": "batchnorm"}, {"type": "max_pool2d"},
       {"type": "conv2d", "filters": 4, "kernel_size": 2, "stride": 2, "padding": 1},
       {"type": "avg_pool2d", "pool_size": 2, "stride": 1}, {"type": "flatten"},
       {"type": "dense", "units": 10}]


def digits_images(tmp, n=300):
    """The first n digits as an .npz of (n, 1, 8, 8) images and a CSV of 64 pixel columns."""
    table = pd.read_csv(ROOT / "datasets" / "digits.csv").head(n)
    pixels = table.drop(columns="digit").to_numpy(np.float32)
    npz = tmp / "digits.npz"
    np.savez(npz, X=pixels.reshape(n, 1, 8, 8), y=table["digit"].to_numpy())
    csv = tmp / "digits.csv"
    table.to_csv(csv, index=False)
    return npz, csv


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_images_from_npz_take_x_as_the_file_holds_it(tmp_path, dtype):
    npz, _ = digits_images(tmp_path)
    run = fit(tmp_path, "cnn", dtype=dtype, data={"path": str(npz), "scale": "standard"},
              model={"layers": CNN})
    sess = session(to_onnx(run))
    assert sess.get_inputs()[0].name == "X" and sess.get_inputs()[0].shape[1:] == [1, 8, 8]
    got, _ = assert_agrees(run, npz)
    assert got["label"].dtype == np.int64


def test_csv_rows_reshaped_by_data_shape(tmp_path):
    _, csv = digits_images(tmp_path)
    run = fit(tmp_path, "cnn_csv", data={"path": str(csv), "target": "digit", "shape": [1, 8, 8],
                                         "scale": "minmax"},
              model={"layers": CNN})
    sess = session(to_onnx(run))
    assert len(sess.get_inputs()) == 64  # the raw pixel columns
    assert_agrees(run, csv)


@pytest.mark.parametrize("loss, units", [("binary_cross_entropy", 1), ("cross_entropy", 2)])
def test_two_classes_use_the_runs_positive_class_and_threshold(tmp_path, loss, units):
    from trained_runs import pets_frame

    path = tmp_path / "pets.csv"
    pets_frame().to_csv(path, index=False)
    run = fit(tmp_path, "pets", data={"path": str(path), "target": "label",
                                      "features": ["color", "size"], "pos_label": "no"},
              threshold=0.3, loss=loss,
              model={"layers": [{"type": "dense", "units": 6, "activation": "tanh"},
                                {"type": "dense", "units": units}]})
    got, _ = assert_agrees(run, path)
    p_no = got["probabilities"][:, 0]
    assert ((p_no >= 0.3) == (got["label"] == "no")).all()


def test_image_folder_model_takes_pixels(tmp_path):
    from PIL import Image

    from nettrain.data.images import read_image_folder

    rng = np.random.default_rng(0)
    for name, bright in (("dark", 60), ("light", 190)):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(12):
            pixels = np.clip(rng.normal(bright, 40, (6, 5, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / name / f"{i}.png")
    run = fit(tmp_path, "folder", data={"images": str(tmp_path / "imgs"), "scale": "standard",
                                        "split": {"train": 0.7, "val": 0.3, "test": 0}},
              model={"layers": [{"type": "conv2d", "filters": 3, "kernel_size": 3},
                                {"type": "global_avg_pool2d"}, {"type": "dense", "units": 2}]})
    assert session(to_onnx(run)).get_inputs()[0].shape[1:] == [3, 6, 5]
    table = read_image_folder(tmp_path / "imgs", "imgs")  # (n, C, H, W) in [0, 1], as columns
    got, _ = assert_agrees(run, table)
    assert set(got["label"]) <= {"dark", "light"}
