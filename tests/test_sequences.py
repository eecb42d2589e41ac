"""Sequence data end to end: time-series windows, text token ids, .npz token ids, IMDB download,
and recurrent models through fit, resume, gradcheck, clipping and diagnostics."""

import hashlib
import io
import json
import tarfile

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from conftest import assert_usage_error
from rich.console import Console
from test_resume import PressCtrlC, numbers, same_weights

import nettrain
from nettrain.cli import cli
from nettrain.config.loading import config_from_dict
from nettrain.data import downloads
from nettrain.data.dataset import prepare_data
from nettrain.data.text import build_vocabulary, encode, tokenize
from nettrain.errors import ConfigError, DataError, Interrupted
from nettrain.store import rundir

QUIET = {"console": Console(file=io.StringIO())}


def series_csv(path, n=120):
    """A noisy sine with a second feature, rows shuffled: `t` gives the time order."""
    rng = np.random.default_rng(0)
    t = np.arange(n)
    frame = pd.DataFrame({"t": t, "level": np.sin(t / 4) * 10 + 50 + rng.normal(0, 0.3, n),
                          "other": rng.normal(size=n)})
    frame.sample(frac=1, random_state=0).to_csv(path, index=False)
    return frame


def series_config(tmp_path, **window):
    series_csv(tmp_path / "series.csv")
    return {
        "name": "series", "seed": 0, "output": str(tmp_path / "runs"),
        "data": {"path": str(tmp_path / "series.csv"), "target": "level", "task": "regression",
                 "window": {"size": 8, "order_by": "t", **window},
                 "split": {"train": 0.6, "val": 0.2, "test": 0.2}, "scale_target": "standard"},
        "model": {"layers": [{"type": "gru", "units": 6}, {"type": "dense", "units": 1}]},
        "loss": "mse", "optimizer": {"name": "adam", "lr": 0.01},
        "training": {"epochs": 3, "batch_size": 8}, "metrics": ["mae"],
    }


def test_windows_are_chronological_blocks_scaled_on_train_only(tmp_path):
    cfg = series_config(tmp_path, horizon=2, stride=3)
    frame = series_csv(tmp_path / "series.csv")
    dataset = prepare_data(config_from_dict(cfg))
    assert dataset.input_shape == (8, 2)              # features: level (the target's past), other
    pre = dataset.preprocessor
    assert pre.features == ["level", "other"]
    train_rows = frame.iloc[:72]                      # 0.6 of 120 rows, in time order
    np.testing.assert_allclose(pre.center, train_rows[["level", "other"]].mean(), rtol=1e-6)
    X, y = dataset.splits["train"]
    starts = np.arange(0, 72 - 8 - 2 + 1, 3)          # stride 3; target 2 rows after the window
    assert X.shape == (len(starts), 8, 2)
    level = (frame["level"].to_numpy() - pre.center[0]) / pre.spread[0]
    np.testing.assert_allclose(X[1, :, 0], level[3:11], rtol=1e-5, atol=1e-5)
    unscaled = pre.inverse_target(y).ravel()
    np.testing.assert_allclose(unscaled, frame["level"].to_numpy()[starts + 8 - 1 + 2], rtol=1e-5)
    Xt, yt = dataset.splits["test"]                   # rows 96-119: no window reaches back
    assert len(Xt) == len(range(0, 24 - 8 - 2 + 1, 3))
    np.testing.assert_allclose(pre.inverse_target(yt).ravel()[0], frame["level"][96 + 9], rtol=1e-5)


def test_window_longer_than_a_block_is_a_clear_error(tmp_path):
    cfg = series_config(tmp_path, size=30)
    with pytest.raises(DataError, match=r"the val block \(rows 73-96 of data.path\) has 24 rows, "
                                         r"fewer than the 31"):
        prepare_data(config_from_dict(cfg))


def test_window_config_errors(tmp_path):
    cfg = series_config(tmp_path)
    cfg["data"]["window"] = {"horizon": 1}
    cfg["data"]["missing"] = "drop"
    cfg["data"]["text"] = {"column": "other"}
    with pytest.raises(ConfigError) as info:
        config_from_dict(cfg)
    text = str(info.value)
    assert "data.window.size" in text and "is required" in text
    assert "cannot both be set" in text and "'drop'" in text


def test_series_fit_evaluate_and_predict_one_forecast_per_window(tmp_path):
    run = nettrain.fit(series_config(tmp_path), **QUIET)
    assert run.metrics["test"]["mae"] > 0
    aligned = run.predict_array(tmp_path / "series.csv")  # one per input row: where a window ends
    assert aligned.shape == (120, 1) and np.isnan(aligned).sum() == 7
    table = nettrain.predict(run, tmp_path / "series.csv")
    assert len(table) == 120 - 8 + 1                  # every complete window, the last forecasts
    assert list(table.columns) == ["t", "window_end", "predicted_level"]
    assert table["t"].tolist() == list(range(7, 120))  # in time order, named by the last row
    file_t = pd.read_csv(tmp_path / "series.csv")["t"]
    assert (file_t[table["window_end"]].to_numpy() == table["t"].to_numpy()).all()
    np.testing.assert_allclose(table["predicted_level"], aligned[table["window_end"], 0])
    saved = json.loads((run.path / rundir.PREPROCESS).read_text())
    assert saved["window"] == {"size": 8, "horizon": 1, "stride": 1, "order_by": "t"}
    result = CliRunner().invoke(cli, ["predict", str(run.path), str(tmp_path / "series.csv")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "t,window_end,predicted_level"
    # order_by is written as the file has it: the first window ends at t = 7, not 7.0
    assert result.output.splitlines()[1].startswith("7,")
    pd.read_csv(tmp_path / "series.csv").head(5).to_csv(tmp_path / "short.csv", index=False)
    result = CliRunner().invoke(cli, ["predict", str(run.path), str(tmp_path / "short.csv")])
    assert_usage_error(result, "5 usable rows, fewer than the 8")


def test_tokenizer_vocabulary_and_padding():
    assert tokenize("It's GREAT, isn't it?") == ["it", "s", "great", "isn", "t", "it"]
    texts = ["b a c", "c b", "d"]  # counts: b 2, c 2, a 1, d 1; ties by first appearance
    vocab = build_vocabulary(texts, vocab_size=5)
    assert vocab == ["b", "c", "a"]
    ids = encode(["a b x", "c c c c d b"], vocab, max_length=4)
    np.testing.assert_array_equal(ids, [[0, 4, 2, 1], [3, 3, 1, 2]])  # pad front, keep the end


def text_frames(tmp_path):
    rng = np.random.default_rng(0)
    good, bad = ["great", "wonderful", "loved", "fine"], ["awful", "boring", "bad", "poor"]
    filler = ["the", "film", "was", "and", "a", "plot"]

    def review(words):
        return " ".join(rng.choice(filler + words, size=rng.integers(3, 12)))

    rows = [(review(good), "pos") if i % 2 else (review(bad), "neg") for i in range(160)]
    frame = pd.DataFrame(rows, columns=["text", "label"])
    frame.to_csv(tmp_path / "reviews.csv", index=False)
    return frame


def text_config(tmp_path, **model):
    text_frames(tmp_path)
    return {
        "name": "reviews", "seed": 0, "output": str(tmp_path / "runs"),
        "data": {"path": str(tmp_path / "reviews.csv"), "target": "label",
                 "text": {"column": "text", "vocab_size": 12, "max_length": 10}},
        "model": {"layers": model.get("layers") or [
            {"type": "embedding", "output_dim": 8}, {"type": "lstm", "units": 8},
            {"type": "dense", "units": 1}]},
        "loss": "binary_cross_entropy", "optimizer": {"name": "adam", "lr": 0.02},
        "training": {"epochs": 8, "batch_size": 16}, "metrics": ["accuracy"],
    }


def test_text_route_fit_predict_and_saved_vocabulary(tmp_path):
    run = nettrain.fit(text_config(tmp_path), **QUIET)
    saved = json.loads((run.path / rundir.PREPROCESS).read_text())
    vocab = saved["text"]["vocabulary"]
    assert len(vocab) == 10 and saved["data_facts"] == {"vocab_size": 12}
    with np.load(run.path / rundir.MODEL, allow_pickle=False) as npz:
        assert npz["layers.0.W"].shape == (12, 8)     # input_dim from the vocabulary
        assert not npz["layers.0.W"][0].any()          # padding never learns
    assert run.metrics["test"]["accuracy"] >= 0.8
    new = pd.DataFrame({"text": ["great wonderful loved", "awful boring bad", "zzz unknown"]})
    assert run.predict_array(new).tolist()[:2] == ["pos", "neg"]


def test_text_column_that_holds_numbers(tmp_path):
    cfg = text_config(tmp_path)
    frame = pd.read_csv(tmp_path / "reviews.csv")
    frame["text"] = np.arange(len(frame)) * 0.5
    frame.to_csv(tmp_path / "reviews.csv", index=False)
    with pytest.raises(DataError, match="column 'text' holds numbers, not text"):
        prepare_data(config_from_dict(cfg))


def test_npz_token_ids_are_not_scaled_and_set_the_vocabulary(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 30, size=(60, 7))
    np.savez(tmp_path / "ids.npz", X=X, y=(X[:, -1] > 15).astype(int))
    cfg = {"name": "ids", "seed": 0, "output": str(tmp_path / "runs"),
           "data": {"path": str(tmp_path / "ids.npz")},
           "model": {"layers": [{"type": "embedding", "output_dim": 4},
                                {"type": "rnn", "units": 5}, {"type": "dense", "units": 2}]},
           "training": {"epochs": 1, "batch_size": 16}}
    dataset = prepare_data(config_from_dict(cfg))
    assert dataset.preprocessor.data_facts == {"vocab_size": int(X.max()) + 1}
    Xtr, _ = dataset.splits["train"]
    assert Xtr.dtype == np.float32 and np.array_equal(Xtr, np.round(Xtr)) and Xtr.max() <= X.max()
    cfg["model"]["layers"][0]["input_dim"] = 20
    path = tmp_path / "ids.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(cli, ["fit", str(path), "--quiet"])
    assert_usage_error(result, "embedding layer gets token id", "input_dim to at least 30")


def test_dense_after_a_sequence_is_a_config_error_naming_flatten(tmp_path):
    cfg = series_config(tmp_path)
    cfg["model"]["layers"] = [{"type": "dense", "units": 4}, {"type": "dense", "units": 1}]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert_usage_error(result, "model.layers[0] (dense) gets (8, 2): add {type: flatten} before it")


def imdb_archive(folder):
    reviews = {("train", "pos"): ["A wonderful film.", "Great, great acting!"],
               ("train", "neg"): ["Awful plot.", "Boring; bad."], ("test", "pos"): ["Great!"],
               ("test", "neg"): ["Bad, \"boring\"\nfilm."]}
    path = folder / "aclImdb_v1.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for (split, label), texts in reviews.items():
            for i, text in enumerate(texts):
                data = text.encode()
                info = tarfile.TarInfo(f"aclImdb/{split}/{label}/{10 - i}_{8 if label == 'pos' else 2}.txt")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("aclImdb/train/unsup/0_0.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    data = path.read_bytes()
    return downloads.Remote(len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())


def test_datasets_get_imdb_from_a_local_mirror(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    remote = imdb_archive(mirror)
    entry = downloads.DOWNLOADABLE["imdb"]
    assert entry.files["aclImdb_v1.tar.gz"].md5 == "7c2ac02c03563afcf9b574c7e56c153a"
    monkeypatch.setitem(downloads.DOWNLOADABLE, "imdb", downloads.Downloadable(
        entry.title, entry.mirrors, {"aclImdb_v1.tar.gz": remote}))
    out = tmp_path / "imdb"
    result = CliRunner().invoke(cli, ["datasets", "get", "imdb", "--dir", str(out),
                                      "--mirror", mirror.as_uri()])
    assert result.exit_code == 0, result.output
    assert "2 reviews (1 neg, 1 pos)" in result.output
    train, test = pd.read_csv(out / "train.csv"), pd.read_csv(out / "test.csv")
    assert list(train.columns) == ["text", "label"] and len(train) == 4
    assert train["label"].tolist() == ["neg", "neg", "pos", "pos"]
    assert train["text"].tolist()[0] == "Boring; bad."  # by label, then review id
    assert test["text"].tolist()[0] == 'Bad, "boring"\nfilm.'
    again = CliRunner().invoke(cli, ["datasets", "get", "imdb", "--dir", str(out),
                                     "--mirror", str(tmp_path / "nowhere")])
    assert again.exit_code == 2  # a missing mirror folder is a usage error even when cached
    again = CliRunner().invoke(cli, ["datasets", "get", "imdb", "--dir", str(out),
                                     "--mirror", mirror.as_uri()])
    assert "cached, md5 and sha256 verified" in again.output


def test_imdb_config_reads_the_written_csvs(root):
    cfg = yaml.safe_load((root / "configs" / "imdb_lstm.yaml").read_text())
    assert cfg["data"]["train"].endswith("imdb/train.csv") and cfg["data"]["text"]["column"] == "text"
    assert [layer["type"] for layer in cfg["model"]["layers"]][:2] == ["embedding", "lstm"]


def test_series_config_and_gradcheck_command(root, tmp_path):
    result = CliRunner().invoke(cli, ["validate", str(root / "configs" / "sunspots_lstm.yaml")])
    assert result.exit_code == 0, result.output
    cfg = series_config(tmp_path)
    cfg["model"]["layers"] = [{"type": "lstm", "units": 3, "return_sequences": True,
                               "bidirectional": True}, {"type": "gru", "units": 2},
                              {"type": "dense", "units": 1}]
    path = tmp_path / "gc.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(cli, ["gradcheck", str(path)])
    assert result.exit_code == 0, result.output
    assert "W_hh_reverse" in result.output and "FAIL" not in result.output


def test_text_gradcheck_command(tmp_path):
    cfg = text_config(tmp_path, layers=[{"type": "embedding", "output_dim": 3},
                                        {"type": "rnn", "units": 3, "bidirectional": True},
                                        {"type": "dense", "units": 1}])
    path = tmp_path / "gc.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(cli, ["gradcheck", str(path)])
    assert result.exit_code == 0, result.output


def test_lstm_run_interrupted_mid_epoch_resumes_bit_identically(tmp_path):
    cfg = series_config(tmp_path)
    cfg["model"]["layers"] = [{"type": "lstm", "units": 5, "bidirectional": True},
                              {"type": "dropout", "rate": 0.2}, {"type": "dense", "units": 1}]
    whole = nettrain.fit(cfg, **QUIET)
    with pytest.raises(Interrupted) as info:
        nettrain.fit(cfg, callbacks=[PressCtrlC(epoch=2, batch=3)], **QUIET)
    run = info.value.run
    resumed = nettrain.fit(run.path / rundir.CONFIG, resume=run.path, **QUIET)
    assert numbers(resumed).equals(numbers(whole))
    assert same_weights(resumed, whole)


def exploding_config(tmp_path, clip_norm):
    """A relu rnn whose recurrent weights (1.6 I) blow gradients up through 40 steps."""
    from nettrain.nn.model import Model, save_model
    cfg = series_config(tmp_path, size=40)
    cfg["data"]["split"] = {"train": 1.0}
    cfg["model"]["layers"] = [{"type": "rnn", "units": 4, "activation": "relu"},
                              {"type": "dense", "units": 1}]
    model = Model(cfg["model"]["layers"], (40, 2), rng=0)
    model.layers[0].params["W_hh"][...] = 1.6 * np.eye(4, dtype=np.float32)
    model.layers[0].params["b_ih"][...] = 0.5
    save_model(model, tmp_path / "start.npz")
    cfg["model"]["init_from"] = str(tmp_path / "start.npz")
    cfg["optimizer"] = {"name": "sgd", "lr": 0.01}
    cfg["training"].update(epochs=2, clip_norm=clip_norm, diagnostics=True)
    return cfg


def test_clip_norm_tames_gradients_exploding_through_time_and_diagnose_says_so(tmp_path):
    with pytest.raises(nettrain.errors.DivergenceError):
        nettrain.fit(exploding_config(tmp_path, None), **QUIET)
    out = io.StringIO()
    run = nettrain.fit(exploding_config(tmp_path, 1.0), console=Console(file=out, width=200))
    assert np.isfinite(run.history["train_loss"]).all()
    rows = pd.read_csv(run.path / rundir.DIAGNOSTICS)
    rnn = rows[rows["layer"] == 0]
    assert (rnn["time_ratio"] > 1000).all() and rows[rows["layer"] == 1]["time_ratio"].isna().all()
    text = " ".join(out.getvalue().split())
    assert "Exploding gradients through time at model.layers[0] (rnn(4, relu))" in text
    assert "lower training.clip_norm (now 1)" in text and "use activation: tanh" in text


def test_vanishing_through_time_is_reported_with_the_layers_fixes(tmp_path):
    from nettrain.nn.model import Model
    from nettrain.training.diagnostics import default_bounds, findings
    model = Model([{"type": "rnn", "units": 4}, {"type": "dense", "units": 1}], (50, 2), rng=0)
    row = {"epoch": 3, "layer": 0, "description": "rnn(4, tanh)", "grad_norm": 0.1,
           "update_ratio": None, "dead_fraction": None, "saturated_fraction": None,
           "time_ratio": 1e-6}
    out = findings([[row]], model.layers, default_bounds())
    assert [f.kind for f in out] == ["vanishing_through_time"]
    assert "{type: lstm} or {type: gru}" in out[0].text and "50 steps now" in out[0].text
    model.layers[0].params["W_hh"][...] = 0  # no path back through time at all
    y = model.forward(np.ones((2, 50, 2)), training=True)
    model.backward(np.ones_like(y))
    assert model.layers[0].time_gradient() == 0.0 and model.layers[1].time_gradient() is None


def test_npz_sequences_keep_their_shape_and_scale_per_feature(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6, 3)) * [1.0, 10.0, 100.0] + [0.0, 5.0, -50.0]
    np.savez(tmp_path / "seq.npz", X=X, y=rng.normal(size=50))
    cfg = {"name": "seq", "data": {"path": str(tmp_path / "seq.npz"), "task": "regression",
                                   "split": {"train": 1.0}},
           "model": {"layers": [{"type": "gru", "units": 3}, {"type": "dense", "units": 1}]},
           "loss": "mse", "metrics": ["mae"]}
    dataset = prepare_data(config_from_dict(cfg))
    Xs, _ = dataset.splits["train"]
    assert dataset.input_shape == (6, 3) and Xs.shape == (50, 6, 3)
    np.testing.assert_allclose(Xs.reshape(-1, 3).mean(axis=0), 0, atol=1e-5)  # per feature,
    np.testing.assert_allclose(Xs.reshape(-1, 3).std(axis=0), 1, atol=1e-4)   # over all steps
    np.testing.assert_allclose(Xs, (X - X.reshape(-1, 3).mean(0)) / X.reshape(-1, 3).std(0), atol=1e-4)


def test_series_in_separate_files_are_blocks_and_evaluate_rebuilds_them(tmp_path):
    frame = series_csv(tmp_path / "series.csv").sort_values("t")
    frame.iloc[:80].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[80:].to_csv(tmp_path / "test.csv", index=False)
    cfg = series_config(tmp_path)
    del cfg["data"]["path"], cfg["data"]["split"]
    cfg["data"].update(train=str(tmp_path / "train.csv"), test=str(tmp_path / "test.csv"))
    run = nettrain.fit(cfg, **QUIET)
    X, y = nettrain.load(run.path).split_arrays("test")
    assert X.shape == (40 - 8, 8, 2)                  # windows inside the test file only
    report = run.evaluate(split="test")
    assert report["mae"] == pytest.approx(run.metrics["test"]["mae"], rel=1e-6)
