"""Losses: values against their definitions, finite-difference gradients, stability, bad input."""

import math

import numpy as np
import pytest

from nettrain.errors import ConfigError, DataError
from nettrain.nn.finite_differences import numerical_gradient, relative_error
from nettrain.nn.losses import LOSSES, get_loss

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(6, 3)) * 2
LABELS = np.array([0, 2, 1, 1, 0, 2])
REG_OUT = RNG.normal(size=(6, 2))
# differences output - y away from 0 (mae's kink) and from +-0.3, +-1 (huber's switch)
REG_Y = REG_OUT - np.array([[1.4, -1.25], [0.5, 0.8], [-0.9, -0.15], [1.6, 0.22], [-1.5, -2.4], [0.7, -1.3]])


def check_loss_gradient(loss, output, y):
    loss.forward(output, y)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: loss.forward(output, y), output)
    assert relative_error(analytic, numeric).max() < 1e-6


def reference_cross_entropy(z, y, smoothing=0.0, weights=None):
    """torch's decomposition: (1 - e) * weighted NLL mean + e / C * weighted smooth term."""
    n, c = z.shape
    w = np.ones(c) if weights is None else np.asarray(weights, float)
    logp = [[z[i, k] - math.log(sum(math.exp(v) for v in z[i])) for k in range(c)] for i in range(n)]
    total = sum(w[y[i]] for i in range(n))
    nll = sum(-w[y[i]] * logp[i][y[i]] for i in range(n)) / total
    smooth = sum(-w[k] * logp[i][k] for i in range(n) for k in range(c)) / total
    return (1 - smoothing) * nll + smoothing / c * smooth


CE_SPECS = ["cross_entropy", {"name": "cross_entropy", "label_smoothing": 0.2},
            {"name": "cross_entropy", "class_weights": [1.0, 3.0, 0.5]},
            {"name": "cross_entropy", "label_smoothing": 0.1, "class_weights": [2.0, 0.0, 1.0]}]


@pytest.mark.parametrize("spec", CE_SPECS, ids=str)
def test_cross_entropy_value_and_gradient(spec):
    loss = get_loss(spec)
    args = spec if isinstance(spec, dict) else {}
    expected = reference_cross_entropy(LOGITS, LABELS, args.get("label_smoothing", 0.0),
                                       args.get("class_weights"))
    assert loss.forward(LOGITS, LABELS) == pytest.approx(expected, rel=1e-12)
    check_loss_gradient(loss, LOGITS.copy(), LABELS)


def test_cross_entropy_known_value_and_fused_gradient():
    loss = get_loss("cross_entropy")
    # -log softmax([1, 2, 3])[2] = log(1 + e^-1 + e^-2)
    assert loss.forward(np.array([[1.0, 2.0, 3.0]]), np.array([2])) == pytest.approx(
        math.log(1 + math.exp(-1) + math.exp(-2)), rel=1e-14)
    p = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    np.testing.assert_allclose(loss.backward(), [p - [0, 0, 1]])


def test_cross_entropy_is_stable_for_huge_logits():
    loss = get_loss("cross_entropy")
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = loss.forward(np.array([[1000.0, 0.0], [0.0, -1000.0]]), np.array([1, 0]))
        grad = loss.backward()
    assert value == pytest.approx(500.0)
    np.testing.assert_allclose(grad, [[0.5, -0.5], [0.0, 0.0]], atol=1e-300)


def test_binary_cross_entropy_value_gradient_and_stability():
    loss = get_loss("binary_cross_entropy")
    z = np.array([[0.5], [-1.5], [2.0], [-0.3]])
    y = np.array([1, 0, 0, 1])
    s = 1 / (1 + np.exp(-z[:, 0]))
    expected = -np.mean(y * np.log(s) + (1 - y) * np.log(1 - s))
    assert loss.forward(z, y) == pytest.approx(expected, rel=1e-12)
    assert loss.forward(z, y[:, None]) == pytest.approx(expected, rel=1e-12)
    check_loss_gradient(loss, z.copy(), y)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        # log(1 + e^-60) ~ 8.8e-27: the naive form would give log(0) for the first two
        big = loss.forward(np.array([[60.0], [-60.0], [60.0]]), np.array([1, 0, 0]))
        grad = loss.backward()
    assert big == pytest.approx((2 * math.exp(-60) + 60) / 3, rel=1e-12)
    # sigmoid(60) - 1 rounds to 0 in float64: the gradient is exact to 1e-16 absolute
    np.testing.assert_allclose(grad[:, 0], [-math.exp(-60) / 3, math.exp(-60) / 3, 1 / 3], atol=1e-16)
    np.testing.assert_allclose(loss.link(np.array([[0.0], [100.0]])), [[0.5], [1.0]])


def test_regression_values():
    out, y = np.array([[0.0, 1.0], [2.0, -1.0]]), np.array([[0.5, 1.0], [-1.0, 1.0]])
    # differences -0.5, 0, 3, -2
    assert get_loss("mse").forward(out, y) == pytest.approx((0.25 + 9 + 4) / 4)
    assert get_loss("mae").forward(out, y) == pytest.approx((0.5 + 3 + 2) / 4)
    # huber delta 1: 0.5 * 0.25, 0, 1 * (3 - 0.5), 1 * (2 - 0.5)
    assert get_loss("huber").forward(out, y) == pytest.approx((0.125 + 2.5 + 1.5) / 4)
    # huber delta 2.5: 0.5 * 0.25, 0, 2.5 * (3 - 1.25), 0.5 * 4
    assert get_loss({"name": "huber", "delta": 2.5}).forward(out, y) == pytest.approx(
        (0.125 + 4.375 + 2) / 4)


@pytest.mark.parametrize("spec", ["mse", "mae", "huber", {"name": "huber", "delta": 0.3}], ids=str)
def test_regression_gradients(spec):
    check_loss_gradient(get_loss(spec), REG_OUT.copy(), REG_Y)


def test_single_target_may_be_one_dimensional():
    loss = get_loss("mse")
    assert loss.forward(np.array([[1.0], [2.0]]), np.array([0.0, 0.0])) == pytest.approx(2.5)
    assert loss.backward().shape == (2, 1)


def test_link_gives_probabilities_or_the_output():
    probs = get_loss("cross_entropy").link(LOGITS)
    np.testing.assert_allclose(probs.sum(axis=1), 1)
    assert get_loss("mse").link(REG_OUT) is REG_OUT


@pytest.mark.parametrize("name", ["cross_entropy", "binary_cross_entropy", "mse", "mae", "huber"])
def test_float32_in_float32_out(name):
    loss = get_loss(name)
    out = (LOGITS[:, :1] if name == "binary_cross_entropy" else LOGITS).astype(np.float32)
    y = (LABELS % 2) if name == "binary_cross_entropy" else (LABELS if name == "cross_entropy" else out + 1)
    assert isinstance(loss.forward(out, y), float)
    assert loss.backward().dtype == np.float32


def test_bad_targets_raise_data_errors():
    with pytest.raises(DataError, match=r"class index 3 is outside 0..2: the last layer has 3 units"):
        get_loss("cross_entropy").forward(LOGITS, np.array([0, 1, 2, 3, 0, 1]))
    with pytest.raises(DataError, match=r"integer class indices of shape \(6,\)"):
        get_loss("cross_entropy").forward(LOGITS, LABELS.astype(float))
    with pytest.raises(DataError, match=r"targets have shape \(6, 3\) but the model outputs \(6, 2\)"):
        get_loss("mse").forward(REG_OUT, np.zeros((6, 3)))
    with pytest.raises(ConfigError, match="needs one output unit.*the last layer has 3"):
        get_loss("binary_cross_entropy").forward(LOGITS, LABELS % 2)
    with pytest.raises(ConfigError, match="class_weights has 2 weights but the model has 3 classes"):
        get_loss({"name": "cross_entropy", "class_weights": [1, 2]}).forward(LOGITS, LABELS)
    with pytest.raises(DataError, match="every sample of the batch has class weight 0"):
        get_loss({"name": "cross_entropy", "class_weights": [0, 1, 1]}).forward(LOGITS, np.zeros(6, int))


def test_bad_specs_raise_config_errors():
    with pytest.raises(ConfigError, match="Unknown loss 'cross_entropyy' at loss. Did you mean 'cross_entropy'"):
        get_loss("cross_entropyy")
    with pytest.raises(ConfigError, match=r"loss: delta must be a number > 0. Got 0"):
        get_loss({"name": "huber", "delta": 0})
    with pytest.raises(ConfigError, match=r"label_smoothing must be a number in \[0, 1\). Got 1"):
        get_loss({"name": "cross_entropy", "label_smoothing": 1})
    with pytest.raises(ConfigError, match=r"class_weights\[1\] must be a number >= 0. Got -1"):
        get_loss({"name": "cross_entropy", "class_weights": [1, -1]})
    with pytest.raises(ConfigError, match="class_weights must be 'balanced', a list of numbers"):
        get_loss({"name": "cross_entropy", "class_weights": "even"})
    with pytest.raises(ConfigError, match=r"class_weights\['yes'\] must be a number >= 0. Got -2"):
        get_loss({"name": "binary_cross_entropy", "class_weights": {"yes": -2}})
    with pytest.raises(ConfigError, match="Unknown key 'delt'.*Did you mean 'delta'"):
        get_loss({"name": "huber", "delt": 1})


def test_config_round_trips():
    for spec in ["mse", {"name": "huber", "delta": 0.5}, *CE_SPECS]:
        assert get_loss(spec).config() == spec
    assert set(LOSSES) >= {"cross_entropy", "binary_cross_entropy", "mse", "mae", "huber"}
