"""Gradient health diagnostics: the statistics by hand, the warnings, the config, fit --diagnose."""

import re

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from conftest import ROOT

from nettrain import api
from nettrain.cli import cli
from nettrain.config.loading import load_config
from nettrain.errors import ConfigError
from nettrain.nn.losses import get_loss
from nettrain.nn.model import Model
from nettrain.nn.optimizer_hooks import ClipNorm
from nettrain.nn.optimizers import get_optimizer
from nettrain.training import diagnostics
from nettrain.training.diagnostics import Diagnostics, findings
from nettrain.training.trainer import Trainer

BOUNDS = diagnostics.default_bounds()


# ---------------------------------------------------------------- the statistics, by hand


def tiny_problem(n=5):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n, 3))
    y = np.arange(n) * 7 % 3 % 2
    layers = [{"type": "dense", "units": 4, "activation": "relu", "init": {"name": "normal", "std": 1.0}},
              {"type": "dense", "units": 3, "activation": "tanh", "init": {"name": "normal", "std": 1.0}},
              {"type": "dense", "units": 2}]
    model = Model(layers, 3, dtype="float64", rng=0)
    model.layers[0].params["b"][0] = -50.0  # unit 0 of the relu layer never fires: dead
    return X, y, model


def by_hand(X, y, params, batches, lr, bound):
    """Forward, backward and SGD steps written out with NumPy: the expected rows per layer."""
    W1, b1, W2, b2, W3, b3 = (p.copy() for p in params)
    grad_norms, ratios, peak, saturated = [], [], np.full(4, -np.inf), 0
    for rows in batches:
        x, t = X[rows], np.eye(2)[y[rows]]
        z1 = x @ W1 + b1
        h1 = np.maximum(z1, 0)
        z2 = h1 @ W2 + b2
        h2 = np.tanh(z2)
        z3 = h2 @ W3 + b3
        p = np.exp(z3 - z3.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g3 = (p - t) / len(x)
        g2 = (g3 @ W3.T) * (1 - h2 ** 2)
        g1 = (g2 @ W2.T) * (z1 > 0)
        grads = [(x.T @ g1, g1.sum(0)), (h1.T @ g2, g2.sum(0)), (h2.T @ g3, g3.sum(0))]
        layer_params = [(W1, b1), (W2, b2), (W3, b3)]
        grad_norms.append([np.sqrt(sum((g ** 2).sum() for g in pair)) for pair in grads])
        # SGD without momentum: the step is -lr * g, so the ratio is lr * ||g|| / ||theta||.
        ratios.append([lr * gn / np.sqrt(sum((w ** 2).sum() for w in pair))
                       for gn, pair in zip(grad_norms[-1], layer_params)])
        peak = np.maximum(peak, z1.max(0))
        saturated += np.count_nonzero(np.abs(z2) > bound)
        for (w, b), (gw, gb) in zip(layer_params, grads):
            w -= lr * gw
            b -= lr * gb
    return {"grad_norm": np.mean(grad_norms, 0), "update_ratio": np.mean(ratios, 0), "ratios": ratios,
            "dead": np.mean(peak <= 0), "saturated": saturated / (len(X) * 3)}


def test_statistics_match_a_forward_and_backward_pass_by_hand():
    X, y, model = tiny_problem()
    params = [model.layers[i].params[k] for i in range(3) for k in ("W", "b")]
    expected = by_hand(X, y, params, [[0, 1, 2], [3, 4]], lr=0.5, bound=0.5)
    recorder = Diagnostics(bounds={"saturation_bound": 0.5})
    trainer = Trainer(model, get_loss("cross_entropy"), get_optimizer({"name": "sgd", "lr": 0.5}),
                      epochs=1, batch_size=3, shuffle=False, callbacks=[recorder])
    trainer.train((X, y))
    rows = recorder.rows
    assert [r["layer"] for r in rows] == [0, 1, 2] and {r["batches"] for r in rows} == {2}
    assert [r["description"] for r in rows] == ["dense(4, relu)", "dense(3, tanh)", "dense(2)"]
    np.testing.assert_allclose([r["grad_norm"] for r in rows], expected["grad_norm"], rtol=1e-10)
    np.testing.assert_allclose([r["update_ratio"] for r in rows], expected["update_ratio"], rtol=1e-10)
    assert rows[0]["dead_fraction"] == expected["dead"] and expected["dead"] >= 0.25
    assert rows[1]["saturated_fraction"] == pytest.approx(expected["saturated"])
    assert 0 < expected["saturated"] < 1
    assert rows[0]["saturated_fraction"] is None and rows[1]["dead_fraction"] is None
    assert rows[2]["dead_fraction"] is None and rows[2]["saturated_fraction"] is None
    # The activations are themselves again after training, and validation is never counted.
    assert all("forward" not in vars(layer.activation) for layer in model.layers[:2])


def test_update_ratios_of_long_epochs_are_averaged_over_evenly_spaced_steps():
    X, y, model = tiny_problem(40)
    params = [model.layers[i].params[k] for i in range(3) for k in ("W", "b")]
    expected = by_hand(X, y, params, [[i] for i in range(40)], lr=0.5, bound=3.0)
    recorder = Diagnostics()
    trainer = Trainer(model, get_loss("cross_entropy"), get_optimizer({"name": "sgd", "lr": 0.5}),
                      epochs=1, batch_size=1, shuffle=False, callbacks=[recorder])
    trainer.train((X, y))
    # 40 batches > 32: every ceil(40 / 32) = 2nd step is measured; the norms cover every batch.
    sampled = np.mean(expected["ratios"][::2], 0)
    np.testing.assert_allclose([r["update_ratio"] for r in recorder.rows], sampled, rtol=1e-10)
    np.testing.assert_allclose([r["grad_norm"] for r in recorder.rows], expected["grad_norm"], rtol=1e-10)
    assert {r["batches"] for r in recorder.rows} == {40}


def test_gradient_norms_are_taken_before_clipping_and_validation_is_not_counted():
    X, y, model = tiny_problem()
    recorder = Diagnostics()
    optimizer = get_optimizer({"name": "sgd", "lr": 0.1})
    optimizer.add_hook(ClipNorm(1e-6))
    trainer = Trainer(model, get_loss("cross_entropy"), optimizer, epochs=1, batch_size=5,
                      shuffle=False, callbacks=[recorder])
    trainer.train((X, y), (X * 100, y))
    assert recorder.rows[0]["grad_norm"] > 1e-3  # far above the clipping bound
    assert recorder.rows[0]["dead_fraction"] == 0.25  # the val inputs (x100) would wake unit 0


# ---------------------------------------------------------------- warnings


def rows(epoch, norms, ratios=None, dead=None, saturated=None, names=None):
    n = len(norms)
    return [{"epoch": epoch, "layer": i, "description": (names or ["dense(32, sigmoid)"] * n)[i],
             "batches": 10, "grad_norm": norms[i], "update_ratio": (ratios or [1e-3] * n)[i],
             "dead_fraction": (dead or [None] * n)[i], "saturated_fraction": (saturated or [None] * n)[i]}
            for i in range(n)]


def sigmoid_model():
    specs = [{"type": "dense", "units": 4, "activation": "sigmoid", "init": {"name": "normal", "std": 0.05}}] * 2
    return Model(specs + [{"type": "dense", "units": 2}], 3, rng=0).layers


def kinds(found):
    return [(f.kind, f.layer) for f in found]


def test_healthy_rows_give_no_warning():
    assert findings([rows(1, [0.2, 0.3, 0.4])], sigmoid_model(), BOUNDS) == []


def test_vanishing_names_the_first_layer_and_suggests_relu_he_and_batchnorm():
    [found] = findings([rows(4, [1e-8, 1e-5, 1e-2])], sigmoid_model(), BOUNDS)
    assert found.kind == "vanishing" and found.layer == 0
    assert "model.layers[0] (dense(32, sigmoid))" in found.text and "1.0e+06 times smaller" in found.text
    assert "activation: relu with init: he_normal" in found.text and "{type: batchnorm}" in found.text


def test_exploding_by_bound_and_by_growth():
    layers = sigmoid_model()
    found = findings([rows(1, [0.1, 5e3, 0.1])], layers, BOUNDS, {"lr": 0.5, "clip_norm": None})
    assert kinds(found) == [("exploding", 1)]
    assert "above training.diagnostics.exploding_norm (1000)" in found[0].text
    assert "training.clip_norm: 1.0" in found[0].text and "optimizer.lr (now 0.5)" in found[0].text
    growing = [rows(e, [0.1, 0.1, v]) for e, v in enumerate([0.1, 0.3, 0.9, 2.7], start=1)]
    [found] = findings(growing, layers, BOUNDS, {"clip_norm": 5.0})
    assert (found.kind, found.layer) == ("exploding", 2) and "rose every epoch" in found.text
    assert "lower training.clip_norm (now 5)" in found.text
    wobbling = [rows(e, [0.1, 0.1, v]) for e, v in enumerate([0.1, 0.3, 0.2, 2.7], start=1)]
    assert findings(wobbling, layers, BOUNDS) == []


def test_dead_saturated_and_update_ratio_warnings_name_their_layer():
    layers = sigmoid_model()
    epoch = rows(3, [0.1, 0.1, 0.1], ratios=[0.5, 1e-7, 1e-3], dead=[0.8, None, None],
                 saturated=[None, 0.9, None])
    found = findings([epoch], layers, BOUNDS, {"lr": 0.01})
    assert kinds(found) == [("dead", 0), ("saturated", 1), ("update_ratio", 0), ("update_ratio", 1)]
    dead, saturated, high, low = (f.text for f in found)
    assert "80% of its units" in dead and "leaky_relu" in dead
    assert "beyond +-3" in saturated and "glorot_uniform" in saturated
    assert "too high" in high and "lower optimizer.lr (now 0.01)" in high
    assert "hardly moves" in low and "raise optimizer.lr" in low
    lenient = {**BOUNDS, "dead_fraction": 0.9, "saturated_fraction": 0.95, "max_update_ratio": 1.0,
               "min_update_ratio": 0.0}
    assert findings([epoch], layers, lenient) == []


# ---------------------------------------------------------------- config


def write_config(tmp_path, diagnostics_value, layers=None, epochs=2, **extra):
    cfg = {
        "name": "iris", "seed": 0,
        "data": {"path": str(ROOT / "datasets" / "iris.csv"), "target": "species"},
        "model": {"layers": layers or [{"type": "dense", "units": 8, "activation": "relu"},
                                       {"type": "dense", "units": 6, "activation": "tanh"},
                                       {"type": "dense", "units": 3}]},
        "optimizer": {"name": "adam", "lr": 0.05},
        "training": {"epochs": epochs, "batch_size": 16, "diagnostics": diagnostics_value},
        **extra,
    }
    path = tmp_path / "iris.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_true_means_the_default_bounds_and_a_mapping_keeps_the_rest(tmp_path):
    assert load_config(write_config(tmp_path, False))["training"]["diagnostics"] is False
    assert load_config(write_config(tmp_path, True))["training"]["diagnostics"] == BOUNDS
    resolved = load_config(write_config(tmp_path, {"every": 2, "dead_fraction": 0.3}))["training"]
    assert resolved["diagnostics"] == {**BOUNDS, "every": 2, "dead_fraction": 0.3}


@pytest.mark.parametrize("value, message", [
    ({"every": 0}, "training.diagnostics.every: expected an integer >= 1, got 0."),
    ({"dead_fraction": 1.5}, "training.diagnostics.dead_fraction: expected a number in [0, 1], got 1.5."),
    ({"saturation_bound": "3"}, "remove the quotes"),
    ({"vanishing_ratoi": 0.01}, "Unknown key 'vanishing_ratoi' at training.diagnostics. Did you mean "
                                "'vanishing_ratio'?"),
    ({"min_update_ratio": 0.5, "max_update_ratio": 0.1}, "min_update_ratio: must be below max_update_ratio"),
    ("yes", "training.diagnostics: expected true, false or a mapping of bounds"),
])
def test_bad_bounds_name_the_key_path_and_line(tmp_path, value, message):
    path = write_config(tmp_path, value)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)
    assert re.match(rf"{re.escape(str(path))}:(2[0-9]):\d+: ", str(err.value))  # the bounds' lines


def test_bad_bounds_through_the_cli_exit_2(tmp_path):
    result = CliRunner().invoke(cli, ["fit", str(write_config(tmp_path, {"every": 1})), "--diagnose",
                                      "--set", "training.diagnostics.growth=0.5"])
    assert result.exit_code == 2
    assert "--set training.diagnostics.growth=0.5: training.diagnostics.growth: expected a number > 1" \
        in result.output


# ---------------------------------------------------------------- fit --diagnose


def fit(*args):
    return CliRunner().invoke(cli, ["fit", *map(str, args)])


def only_run(out):
    [run] = [p for p in out.glob("*/*") if p.is_dir()]
    return run


def losses(run):
    return pd.read_csv(run / "history.csv").drop(columns="seconds")


def test_diagnose_changes_no_number_of_the_training(tmp_path):
    config = write_config(tmp_path, False, epochs=3, regularization={"l2": 0.01})
    for name, flags in (("plain", ()), ("diagnosed", ("--diagnose",))):
        result = fit(config, "--out", tmp_path / name, "--quiet", "--set", "training.clip_norm=0.5", *flags)
        assert result.exit_code == 0, result.output
    plain, diagnosed = only_run(tmp_path / "plain"), only_run(tmp_path / "diagnosed")
    assert not (plain / "diagnostics.csv").exists()
    pd.testing.assert_frame_equal(losses(plain), losses(diagnosed))
    with np.load(plain / "model.npz") as a, np.load(diagnosed / "model.npz") as b:
        assert a.files == b.files
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
    table = pd.read_csv(diagnosed / "diagnostics.csv")
    assert list(table.columns) == diagnostics.COLUMNS
    assert list(zip(table.epoch, table.layer)) == [(e, i) for e in (1, 2, 3) for i in (0, 1, 2)]
    assert table.dead_fraction.notna().tolist() == [True, False, False] * 3
    assert table.saturated_fraction.notna().tolist() == [False, True, False] * 3
    assert (table.grad_norm > 0).all() and (table.update_ratio > 0).all()


def test_diagnose_on_resume_starts_at_the_resumed_epoch(tmp_path):
    assert fit(write_config(tmp_path, False), "--out", tmp_path / "runs", "--quiet").exit_code == 0
    run = only_run(tmp_path / "runs")
    result = fit(run / "config.yaml", "--resume", run, "--set", "training.epochs=4", "--diagnose")
    assert result.exit_code == 0, result.output
    assert "gradient health, epoch 4" in result.output
    assert pd.read_csv(run / "history.csv").epoch.tolist() == [1, 2, 3, 4]
    assert sorted(set(pd.read_csv(run / "diagnostics.csv").epoch)) == [3, 4]
    # Resuming again with diagnostics keeps the recorded epochs and adds the new ones.
    result = fit(run / "config.yaml", "--resume", run, "--set", "training.epochs=5", "--quiet")
    assert result.exit_code == 0, result.output
    assert pd.read_csv(run / "diagnostics.csv").epoch.tolist() == [3] * 3 + [4] * 3 + [5] * 3


def test_the_table_prints_every_n_epochs_and_at_the_end(tmp_path):
    config = write_config(tmp_path, {"every": 2}, epochs=3)
    result = fit(config, "--out", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    out = result.output
    assert [line for line in out.splitlines() if line.startswith("gradient health")] == [
        "gradient health, epoch 2", "gradient health, epoch 3"]
    assert out.index("epoch 2/3") < out.index("gradient health, epoch 2") < out.index("epoch 3/3")
    assert "0 dense(8, relu)" in out and "1 dense(6, tanh)" in out and "\x1b" not in out
    quiet = fit(config, "--out", tmp_path / "quiet", "--quiet")
    assert "gradient health" not in quiet.output
    assert (only_run(tmp_path / "quiet") / "diagnostics.csv").exists()


def test_the_api_keeps_config_bounds_with_diagnose(tmp_path):
    run = api.fit(write_config(tmp_path, {"every": 5, "saturation_bound": 1.5}), out=tmp_path / "runs",
                  quiet=True, diagnose=True)
    assert run.config["training"]["diagnostics"]["saturation_bound"] == 1.5
    assert len(run.diagnostics) == 2 * 3
    assert yaml.safe_load((run.path / "config.yaml").read_text())["training"]["diagnostics"]["every"] == 5


# ---------------------------------------------------------------- the demonstration configs


def demo(name, tmp_path):
    result = fit(ROOT / "configs" / f"{name}.yaml", "--out", tmp_path, "--set", "training.epochs=3")
    assert result.exit_code == 0, result.output
    return result.output


def test_the_vanishing_demo_warns_and_the_healthy_one_does_not(tmp_path):
    vanishing = demo("vanishing_sigmoid", tmp_path)
    assert "warning: Vanishing gradients at model.layers[0] (dense(32, sigmoid))" in vanishing
    healthy = demo("healthy_relu", tmp_path)
    assert "gradient health, epoch 3" in healthy and "warning:" not in healthy
    assert len(load_config(ROOT / "configs" / "vanishing_sigmoid.yaml")["model"]["layers"]) == 6
    dense = [s for s in load_config(ROOT / "configs" / "healthy_relu.yaml")["model"]["layers"]
             if s["type"] == "dense"]
    assert len(dense) == 6
