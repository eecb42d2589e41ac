"""Image data: .npz X of shape (n, C, H, W), data.shape on flat rows, image folders read with
Pillow, per-channel scaling, and the errors each can give."""

import numpy as np
import pytest
from PIL import Image

from nettrain.config.loading import config_from_dict
from nettrain.data.dataset import prepare_data
from nettrain.errors import ConfigError, DataError


def config(tmp_path, data, **extra):
    return config_from_dict({"data": data, "model": {"layers": [{"type": "flatten"},
                                                                 {"type": "dense", "units": 2}]},
                             **extra}, base_dir=tmp_path)


def images_npz(tmp_path, n=40, shape=(2, 3, 4), seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n, *shape)).astype(np.uint8)
    X[:, 1] //= 4  # channel 1 has a smaller range than channel 0
    y = np.arange(n) % 2
    np.savez(tmp_path / "img.npz", X=X, y=y)
    return X, y


def test_npz_images_keep_their_sample_shape_and_are_not_scaled_by_default(tmp_path):
    X, y = images_npz(tmp_path)
    cfg = config(tmp_path, {"path": "img.npz", "split": {"train": 1.0}})
    data = prepare_data(cfg)
    assert data.input_shape == (2, 3, 4)
    X_train, y_train = data.splits["train"]
    assert X_train.shape == (40, 2, 3, 4) and X_train.dtype == np.float32
    assert data.preprocessor.scale == "none" and data.settled == {"data.scale": "none"}
    # the config is read, never written; the run's config.yaml records the settled value
    assert cfg.data["data"]["scale"] == "standard"
    assert cfg.with_values(data.settled).data["data"]["scale"] == "none"
    got = np.sort(X_train.reshape(40, -1), axis=0)  # the split shuffled the rows
    np.testing.assert_array_equal(got, np.sort(X.reshape(40, -1).astype(np.float32), axis=0))


@pytest.mark.parametrize("scale", ["standard", "minmax"])
def test_scaling_is_per_channel_for_images(tmp_path, scale):
    X, _ = images_npz(tmp_path)
    data = prepare_data(config(tmp_path, {"path": "img.npz", "split": {"train": 1.0},
                                          "scale": scale}))
    X_train = data.splits["train"][0].astype(np.float64)
    raw = X.astype(np.float64)
    for c in range(2):
        if scale == "standard":
            expected = (raw[:, c] - raw[:, c].mean()) / raw[:, c].std()
        else:
            expected = (raw[:, c] - raw[:, c].min()) / (raw[:, c].max() - raw[:, c].min())
        np.testing.assert_allclose(np.sort(X_train[:, c].ravel()), np.sort(expected.ravel()),
                                   rtol=1e-5, atol=1e-5)


def test_data_shape_reshapes_flat_rows_in_c_order(tmp_path):
    X = np.arange(6 * 12, dtype=np.float32).reshape(6, 12)
    np.savez(tmp_path / "flat.npz", X=X, y=np.array([0, 1] * 3))
    cfg = config(tmp_path, {"path": "flat.npz", "shape": [3, 2, 2], "split": {"train": 1.0},
                            "scale": "none"})
    data = prepare_data(cfg)
    X_train = data.splits["train"][0]
    assert data.input_shape == (3, 2, 2) and X_train.shape == (6, 3, 2, 2)
    for row in X_train:  # each sample is one original row reshaped in C order
        match = [i for i in range(6) if np.array_equal(X[i].reshape(3, 2, 2), row)]
        assert len(match) == 1


def test_data_shape_whose_product_differs_is_an_error(tmp_path):
    np.savez(tmp_path / "flat.npz", X=np.zeros((6, 12)), y=np.array([0, 1] * 3))
    with pytest.raises(DataError, match=r"data.shape \[1, 3, 3\] holds 9 values per sample, but "
                                        r"each row has 12 input columns"):
        prepare_data(config(tmp_path, {"path": "flat.npz", "shape": [1, 3, 3]}))


@pytest.mark.parametrize("shape", [[0, 28, 28], [1, 2, 3, 4], "1x28x28"])
def test_bad_data_shape_is_a_config_error(tmp_path, shape):
    with pytest.raises(ConfigError, match="data.shape"):
        config(tmp_path, {"path": "flat.npz", "shape": shape})


def write_images(folder, classes=("cat", "dog"), n=6, size=(5, 4), mode="RGB"):
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            channels = 3 if mode == "RGB" else 1
            pixels = rng.integers(0, 256, size=(size[1], size[0], channels)).astype(np.uint8)
            pixels[..., 0] = 40 * k + i
            Image.fromarray(pixels.squeeze(), mode).save(folder / name / f"{i}.png")


def test_image_folder_reads_every_class_as_n_c_h_w_in_zero_one(tmp_path):
    write_images(tmp_path / "pics")
    cfg = config(tmp_path, {"images": "pics", "split": {"train": 0.5, "test": 0.5}})
    data = prepare_data(cfg)
    assert data.input_shape == (3, 4, 5)  # (C, H, W): 5 wide, 4 high
    assert data.classes == ["cat", "dog"]
    (X_train, y_train), (X_test, _) = data.splits["train"], data.splits["test"]
    assert X_train.shape == (6, 3, 4, 5) and X_test.shape == (6, 3, 4, 5)
    assert np.bincount(y_train).tolist() == [3, 3]  # stratified per file
    assert 0 <= X_train.min() and X_train.max() <= 1
    # the red channel was set to 40 * class + file index
    red = np.round(np.concatenate([X_train, X_test])[:, 0, 0, 0] * 255).astype(int)
    assert sorted(red.tolist()) == [*range(6), *range(40, 46)]
    original = np.asarray(Image.open(tmp_path / "pics" / "dog" / "3.png").convert("RGB"))
    rows = np.concatenate([X_train, X_test])
    match = [r for r in rows if round(r[0, 0, 0] * 255) == 43]
    np.testing.assert_allclose(match[0].transpose(1, 2, 0) * 255, original, atol=1e-3)


def test_image_folder_grayscale_and_image_size(tmp_path):
    write_images(tmp_path / "pics", size=(6, 6))
    Image.new("RGB", (9, 7), (255, 0, 0)).save(tmp_path / "pics" / "cat" / "big.png")
    with pytest.raises(DataError, match=r"big.png' is 9x7 pixels, but the first image is 6x6.*"
                                        r"data.image_size: \[6, 6\]"):
        prepare_data(config(tmp_path, {"images": "pics"}))
    data = prepare_data(config(tmp_path, {"images": "pics", "image_size": [3, 4],
                                          "color": "grayscale"}))
    assert data.input_shape == (1, 3, 4)


def test_image_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="'empty' holds no images: expected one subfolder per class"):
        prepare_data(config(tmp_path, {"images": "empty"}))
    write_images(tmp_path / "one", classes=("cat",))
    with pytest.raises(DataError, match="images of one class only \\('cat'\\)"):
        prepare_data(config(tmp_path, {"images": "one"}))
    with pytest.raises(DataError, match="'nowhere' not found"):
        prepare_data(config(tmp_path, {"images": "nowhere"}))
    write_images(tmp_path / "pics")
    (tmp_path / "pics" / "dog" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"cannot read '.*broken.png' as an image.*data.missing: drop"):
        prepare_data(config(tmp_path, {"images": "pics"}))
    data = prepare_data(config(tmp_path, {"images": "pics", "missing": "drop"}))
    assert sum(data.n_rows.values()) == 12
    assert any("skipped 1 unreadable file(s)" in note for note in data.notes)


def test_images_and_a_data_file_together_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="data.images.*not both"):
        config(tmp_path, {"images": "pics", "path": "a.csv", "target": "y"})


def test_predict_and_evaluate_read_a_folder_of_images_as_training_did(tmp_path):
    import io
    import json
    import shutil

    import pandas as pd
    from click.testing import CliRunner
    from rich.console import Console

    import nettrain
    from nettrain.cli import cli

    write_images(tmp_path / "pics", size=(6, 6))
    cfg = {"data": {"images": "pics", "split": {"train": 0.5, "test": 0.5}},
           "model": {"layers": [{"type": "conv2d", "filters": 2, "kernel_size": 3},
                                {"type": "flatten"}, {"type": "dense", "units": 2}]},
           "training": {"epochs": 2, "batch_size": 4}, "output": str(tmp_path / "runs")}
    run = nettrain.fit(config_from_dict(cfg, base_dir=tmp_path), quiet=True,
                       console=Console(file=io.StringIO()))
    new = tmp_path / "new"  # unlabelled: files straight in the folder, one resized on the way
    new.mkdir()
    shutil.copy(tmp_path / "pics" / "dog" / "3.png", new / "a.png")
    Image.open(tmp_path / "pics" / "cat" / "1.png").resize((12, 12), Image.BILINEAR).save(new / "b.png")
    table = nettrain.predict(run, new)
    assert table.columns.tolist() == ["path", "predicted_y"]
    assert table["path"].tolist() == ["a.png", "b.png"]
    # the reference: the same files read with Pillow here, as (n, C, H, W) pixels in [0, 1]
    pixels = [np.asarray(Image.open(new / "a.png").convert("RGB")),
              np.asarray(Image.open(new / "b.png").convert("RGB").resize((6, 6), Image.BILINEAR))]
    X = np.stack(pixels).transpose(0, 3, 1, 2).astype(np.float32) / 255
    expected = nettrain.load(run.path).predict_array(pd.DataFrame(X.reshape(2, -1),
                                                            columns=[f"x{i}" for i in range(108)]))
    assert table["predicted_y"].tolist() == list(expected)
    result = CliRunner().invoke(cli, ["evaluate", str(run.path), "--json"])
    assert result.exit_code == 0, result.output  # the folder's test split, rebuilt as fit cut it
    assert json.loads(result.output)["split"] == "test"
    assert json.loads(result.output)["n_samples"] == len(nettrain.load(run.path).split_arrays("test")[1])
    result = CliRunner().invoke(cli, ["evaluate", str(run.path), "--data", str(tmp_path / "pics"),
                                      "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)  # every file of both class subfolders, labelled by them
    assert report["n_samples"] == 12 and report["confusion_matrix"]["labels"] == ["cat", "dog"]
    assert np.sum(report["confusion_matrix"]["matrix"], axis=1).tolist() == [6, 6]
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["predict", str(run.path), str(tmp_path / "empty")])
    assert result.exit_code == 2 and "'" + str(tmp_path / "empty") + "' holds no images" in result.output
