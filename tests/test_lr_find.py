"""nettrain lr-find: fastai's range test (the sweep, the smoothing, the stop), the steepest
descent of the smoothed loss as the suggestion, on dense, conv and recurrent models, leaving no
run directory behind."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT

import nettrain
from nettrain.cli import cli
from nettrain.errors import RunError
from nettrain.training.launch import as_config
from nettrain.training.lr_find import flat_note, steepest_descent

IRIS = {
    "name": "iris", "seed": 0,
    "data": {"path": str(ROOT / "datasets" / "iris.csv"), "target": "species"},
    "model": {"layers": [{"type": "dense", "units": 16, "activation": "relu"},
                         {"type": "dense", "units": 3}]},
    "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9},
    "training": {"batch_size": 16},
}


def test_the_command_prints_the_suggestion_and_writes_the_plot_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["lr-find", str(ROOT / "configs" / "iris.yaml"), "-o", "iris.png"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Range test: 100 batches of 16, lr 1e-07 to ")
    assert lines[1].startswith("Suggested lr: ") and lines[1].endswith(
        " (steepest descent of the smoothed loss, over half a decade of lr)")
    assert lines[2] == "Plot: iris.png"
    assert (tmp_path / "iris.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iris.png"]  # no run directory


def test_json_holds_fastais_sweep_and_smoothing(tmp_path):
    cfg = tmp_path / "iris.yaml"
    cfg.write_text(json.dumps(IRIS))
    result = CliRunner().invoke(cli, ["lr-find", str(cfg), "--json", "-o", str(tmp_path / "p.png"),
                                      "--set", "optimizer.momentum=0.0"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    lrs, smooth, raw = out["lrs"], out["losses"], out["raw_losses"]
    n = out["batches"]
    assert n == len(lrs) == len(smooth) == len(raw) and n <= 100
    # batch k at start * (end / start) ** (k / num_it)
    assert lrs == pytest.approx([1e-7 * (1e8) ** (k / 100) for k in range(n)], rel=1e-12)
    # fastai's AvgSmoothLoss: an exponential moving average with beta 0.98, debiased
    mean, expected = 0.0, []
    for k, loss in enumerate(raw):
        mean = 0.98 * mean + 0.02 * loss
        expected.append(mean / (1 - 0.98 ** (k + 1)))
    assert smooth == pytest.approx(expected, rel=1e-9)
    assert out["suggested_lr"] == steepest_descent(lrs, smooth, 100)
    assert out["rule"].startswith("steepest descent of the smoothed loss") and out["plot"].endswith("p.png")
    if out["stopped"] == "diverged":  # stops as soon as the smoothed loss passes 4x its best
        assert smooth[-1] > 4 * min(smooth) and all(s <= 4 * min(smooth[:k + 1])
                                                    for k, s in enumerate(smooth[:-1]))


def test_a_diverging_sweep_stops_early():
    result = nettrain.lr_find(IRIS, overrides=["optimizer.lr=1"], end_lr=1e6)
    assert result.stopped == "diverged" and len(result.lrs) < 100
    assert result.suggestion < result.lrs[-1]


def test_the_steepest_descent_is_measured_over_half_a_decade():
    # 100 batches over 8 decades: 12.5 a decade, so the slope at batch k is measured from
    # k - 3 to k + 3. A one-batch dip (at 20) is noise: a batch-to-batch slope would pick it;
    # the loss falling from 1.0 to 0.5 over batches 60-80 is the descent.
    lrs = list(1e-7 * 1e8 ** (np.arange(100) / 100))
    losses = np.ones(100)
    losses[20] = 0.95
    losses[60:81] = np.linspace(1.0, 0.5, 21)
    losses[81:] = 0.5
    suggestion = steepest_descent(lrs, list(losses), num_it=100)
    assert lrs[63] <= suggestion <= lrs[77]
    pointwise = np.diff(losses[10:-5]) / np.diff(np.log(lrs[10:-5]))
    assert lrs[10 + int(np.argmin(pointwise))] == lrs[19]  # what fastai's `steep` would say
    assert steepest_descent(lrs[:16], list(losses[:16]), num_it=100) is None  # 10 + 5 left out
    assert flat_note(lrs, list(losses), 100) is None
    assert "never fell 5% below" in flat_note(lrs, [1.0] * 100, 100)


def test_config_and_init_weights_are_left_as_they_were(tmp_path):
    run = nettrain.fit({**IRIS, "output": str(tmp_path / "runs"), "training": {"epochs": 1}}, quiet=True)
    model_file = run.path / "model.npz"
    before = model_file.read_bytes()
    cfg = as_config({**IRIS, "model": {**IRIS["model"], "init_from": str(model_file)}})
    text = cfg.to_yaml()
    first = nettrain.lr_find(cfg, num_it=30)
    second = nettrain.lr_find(cfg, num_it=30)
    assert cfg.to_yaml() == text and model_file.read_bytes() == before
    assert first.lrs == second.lrs and first.losses == second.losses  # nothing carried over
    assert math.isclose(first.raw_losses[0], second.raw_losses[0])


def test_conv_and_recurrent_models(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((120, 1, 8, 8)).astype(np.float32)
    y = (X[:, 0, :4].mean(axis=(1, 2)) > X[:, 0, 4:].mean(axis=(1, 2))).astype(np.int64)
    np.savez(tmp_path / "images.npz", X=X, y=y)
    conv = {"data": {"path": str(tmp_path / "images.npz"), "scale": "none"},
            "model": {"layers": [{"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu"},
                                 {"type": "max_pool2d"}, {"type": "flatten"}, {"type": "dense", "units": 2}]},
            "training": {"batch_size": 8}}
    result = nettrain.lr_find(conv, num_it=40, plot=tmp_path / "conv.png")
    assert len(result.lrs) > 20 and result.suggestion > 0 and (tmp_path / "conv.png").exists()
    lstm = nettrain.lr_find(ROOT / "configs" / "sunspots_lstm.yaml", num_it=40)
    assert len(lstm.lrs) > 20 and lstm.suggestion > 0


def test_too_few_batches_to_suggest_is_a_run_error():
    with pytest.raises(RunError, match="too few to suggest a rate"):
        nettrain.lr_find(IRIS, start_lr=1.0, end_lr=1e9, num_it=30)
