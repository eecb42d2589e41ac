"""Whole-model gradient checks: every layer, every loss, regularization, broken gradients caught."""

import numpy as np
import pytest

from nettrain.errors import RunError
from nettrain.nn.finite_differences import check_gradients, numerical_gradient, relative_error
from nettrain.nn.losses import get_loss
from nettrain.nn.model import Model
from nettrain.nn.optimizer_hooks import L2Penalty

RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 5))
HIDDEN = [{"type": "dense", "units": 6, "activation": "tanh"}, {"type": "dropout", "rate": 0.3},
          {"type": "batchnorm"}, {"type": "activation", "activation": "elu"},
          {"type": "dense", "units": 4, "activation": "gelu"}]
TARGETS = {
    "cross_entropy": (3, np.array([0, 1, 2, 0, 1, 2, 2, 1])),
    "binary_cross_entropy": (1, np.array([0, 1, 1, 0, 1, 0, 0, 1])),
    "mse": (2, RNG.normal(size=(8, 2))),
    "mae": (2, RNG.normal(size=(8, 2)) + 3),  # far from the outputs: no kink at 0
    "huber": (2, RNG.normal(size=(8, 2)) * 5),
}


def model_for(units, dtype="float64", hidden=HIDDEN):
    return Model(hidden + [{"type": "dense", "units": units}], 5, dtype=dtype, rng=np.random.default_rng(1))


@pytest.mark.parametrize("loss_name", sorted(TARGETS))
def test_every_layer_and_loss_with_regularization(loss_name):
    units, y = TARGETS[loss_name]
    rows = check_gradients(model_for(units), get_loss(loss_name), X, y, l1=0.01, l2=0.1)
    assert [(layer, name) for layer, name, _, _ in rows] == [
        ("layers.0", "W"), ("layers.0", "b"), ("layers.2", "gamma"), ("layers.2", "beta"),
        ("layers.4", "W"), ("layers.4", "b"), ("layers.5", "W"), ("layers.5", "b")]
    for layer, name, abs_err, rel_err in rows:
        assert rel_err < 1e-6 and abs_err < 1e-8, (layer, name, rel_err)


def test_label_smoothing_and_class_weights():
    loss = get_loss({"name": "cross_entropy", "label_smoothing": 0.1, "class_weights": [1.0, 2.0, 0.5]})
    rows = check_gradients(model_for(3), loss, X, TARGETS["cross_entropy"][1])
    assert max(r[3] for r in rows) < 1e-6


def test_relu_and_leaky_relu_stacks():
    hidden = [{"type": "dense", "units": 7, "activation": "relu"},
              {"type": "dense", "units": 5, "activation": {"name": "leaky_relu", "negative_slope": 0.1}},
              {"type": "dense", "units": 5, "activation": "silu"}, {"type": "dense", "units": 5, "activation": "softplus"},
              {"type": "dense", "units": 4, "activation": "sigmoid"}]
    rows = check_gradients(model_for(3, hidden=hidden), get_loss("cross_entropy"), X,
                           TARGETS["cross_entropy"][1], l2=0.05)
    assert max(r[3] for r in rows) < 1e-6


def test_a_wrong_backward_is_caught():
    model = model_for(2)
    dense = model.layers[4]
    original = dense.backward

    def off_by_a_factor(grad_out, input_grad=True):
        out = original(grad_out, input_grad)
        dense.grads["W"] *= 1.01
        return out

    dense.backward = off_by_a_factor
    rows = {(layer, name): rel for layer, name, _, rel in
            check_gradients(model, get_loss("mse"), X, TARGETS["mse"][1])}
    assert rows[("layers.4", "W")] > 1e-3
    assert rows[("layers.0", "W")] < 1e-6


def test_forgetting_the_l2_gradient_is_caught(monkeypatch):
    model = model_for(2)
    monkeypatch.setattr(L2Penalty, "__call__", lambda self, named: None)  # the term without its gradient
    rows = check_gradients(model, get_loss("mse"), X, TARGETS["mse"][1], l2=0.5)
    assert max(r[3] for r in rows if r[1] == "W") > 1e-3
    assert max(r[3] for r in rows if r[1] != "W") < 1e-6


def test_model_state_and_rng_are_left_as_found():
    model = model_for(2)
    before, rng_before = model.state_dict(), model.rng_state()
    check_gradients(model, get_loss("mse"), X, TARGETS["mse"][1], l1=0.1)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    assert model.rng_state() == rng_before


def test_sampled_entries():
    model = Model([{"type": "dense", "units": 30, "activation": "tanh"}, {"type": "dense", "units": 2}], 5,
                  dtype="float64", rng=0)
    rows = check_gradients(model, get_loss("mse"), X, TARGETS["mse"][1], max_entries=20)
    assert len(rows) == 4 and max(r[3] for r in rows) < 1e-6


def test_float32_models_are_refused():
    with pytest.raises(RunError, match="need a float64 model; this one is float32"):
        check_gradients(model_for(2, dtype="float32"), get_loss("mse"), X, TARGETS["mse"][1])


def test_numerical_gradient_of_a_known_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    grad = numerical_gradient(lambda: float((x ** 3).sum()), x)
    assert relative_error(grad, 3 * x ** 2).max() < 1e-8
    np.testing.assert_array_equal(x, [[1.0, -2.0], [0.5, 3.0]])  # restored exactly


CONFIG = """
seed: 3
data: {path: data.csv, target: label}
model:
  layers:
    - {type: dense, units: 6, activation: relu}
    - {type: batchnorm}
    - {type: dropout, rate: 0.2}
    - {type: dense, units: UNITS}
loss: {name: cross_entropy, label_smoothing: 0.1}
regularization: {l1: 0.001, l2: 0.01}
"""


@pytest.fixture
def config_file(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["x1,x2,x3,label"] + [f"{a:.3f},{b:.3f},{c:.3f},{'abc'[i % 3]}"
                                 for i, (a, b, c) in enumerate(rng.normal(size=(30, 3)))]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")

    def write(units=3):
        path = tmp_path / "config.yaml"
        path.write_text(CONFIG.replace("UNITS", str(units)))
        return str(path)
    return write


def test_command_prints_a_row_per_parameter_and_passes(config_file):
    from click.testing import CliRunner

    from nettrain.cli import cli

    result = CliRunner().invoke(cli, ["gradcheck", config_file(), "--rows", "8"])
    assert result.exit_code == 0, result.output
    for layer, name in [("layers.0", "W"), ("layers.0", "b"), ("layers.1", "gamma"), ("layers.1", "beta"),
                        ("layers.3", "W"), ("layers.3", "b")]:
        assert any(layer in line and f" {name} " in line for line in result.output.splitlines()), (layer, name)
    assert "OK: every gradient matches within a relative error of 1e-06." in result.output
    assert "(float64, 8 rows)" in result.output


def test_command_names_the_rows_it_used_on_a_small_train_split(config_file):
    from click.testing import CliRunner

    from nettrain.cli import cli

    result = CliRunner().invoke(cli, ["gradcheck", config_file(), "--rows", "1000"])
    assert result.exit_code == 0, result.output
    # 30 rows, the default split {train: 0.7, val: 0.15, test: 0.15}: 21 train rows
    assert "(float64, 21 rows)" in result.output


def test_command_exits_1_when_a_gradient_is_wrong(config_file, monkeypatch):
    from click.testing import CliRunner

    from nettrain.cli import cli
    from nettrain.training import config_gradients

    real = config_gradients.check_gradients

    def one_wrong(*args, **kwargs):
        rows = real(*args, **kwargs)
        return rows[:1] + [(rows[1][0], rows[1][1], 1e-5, 3e-4)] + rows[2:]

    monkeypatch.setattr(config_gradients, "check_gradients", one_wrong)
    result = CliRunner().invoke(cli, ["gradcheck", config_file()])
    assert result.exit_code == 1
    assert "Gradient check failed: the relative error of layers.0.b (3.0e-04) exceeds 1e-06" in result.output


def test_command_reports_a_bad_config_with_exit_2(config_file):
    from click.testing import CliRunner

    from nettrain.cli import cli

    result = CliRunner().invoke(cli, ["gradcheck", config_file(units=0)])
    assert result.exit_code == 2
    assert "model.layers[3]: units must be an integer >= 1. Got 0." in result.output
    assert "Traceback" not in result.output
