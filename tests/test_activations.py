"""Activations: values, finite-difference gradients, in-place use, registry lookups."""

import math

import numpy as np
import pytest

from nettrain.errors import ConfigError
from nettrain.nn.activations import ACTIVATIONS, get_activation, sigmoid
from nettrain.nn.finite_differences import numerical_gradient, relative_error

SPECS = ["identity", "relu", {"name": "leaky_relu", "negative_slope": 0.2}, {"name": "elu", "alpha": 0.7},
         "gelu", "sigmoid", "tanh", "softplus", "silu"]


def away_from_kinks(shape, seed=0):
    """Values in [-3, -0.1] U [0.1, 3]: no finite difference straddles the kink at 0."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 3, size=shape) * rng.choice([-1.0, 1.0], size=shape)


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_gradient_matches_central_differences(spec):
    act = get_activation(spec)
    x = away_from_kinks((6, 5))
    r = np.random.default_rng(1).normal(size=x.shape)
    act.forward(x.copy())
    analytic = act.backward(r)
    numeric = numerical_gradient(lambda: float((act.forward(x) * r).sum()), x)
    assert relative_error(analytic, numeric).max() < 1e-6


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_inplace_gives_the_same_result_and_gradient(spec):
    x = away_from_kinks((4, 3), seed=2)
    r = np.ones_like(x)
    plain, inplace = get_activation(spec), get_activation(spec)
    y = plain.forward(x)
    assert np.array_equal(x, away_from_kinks((4, 3), seed=2)), "forward must not modify its input"
    z = x.copy()
    y2 = inplace.forward(z, inplace=True)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(plain.backward(r), inplace.backward(r))


def test_known_values():
    x = np.array([-2.0, -0.5, 0.5, 2.0])
    np.testing.assert_array_equal(get_activation("relu").forward(x), [0, 0, 0.5, 2])
    np.testing.assert_allclose(get_activation({"name": "leaky_relu", "negative_slope": 0.1}).forward(x),
                               [-0.2, -0.05, 0.5, 2])
    np.testing.assert_allclose(get_activation("elu").forward(x), [math.exp(-2) - 1, math.exp(-0.5) - 1, 0.5, 2])
    np.testing.assert_allclose(get_activation("softplus").forward(x), np.log1p(np.exp(x)))
    np.testing.assert_allclose(get_activation("silu").forward(x), x / (1 + np.exp(-x)))


def test_gelu_is_the_tanh_form_close_to_the_erf_form():
    x = np.linspace(-4, 4, 81)
    y = get_activation("gelu").forward(x)
    # gelu(1) of the tanh form: 0.5 (1 + tanh(sqrt(2/pi) * 1.044715))
    assert y[50] == pytest.approx(0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * 1.044715)), abs=1e-15)
    assert y[50] == pytest.approx(0.8411919906, abs=1e-9)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    assert np.abs(y - exact).max() < 1e-3


def test_sigmoid_is_stable_for_huge_inputs():
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        s = sigmoid(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]))
    assert s[0] == 0 and s[-1] == 1 and s[2] == 0.5
    assert s[1] == pytest.approx(math.exp(-50), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    x = away_from_kinks((3, 2)).astype(dtype)
    for spec in SPECS:
        act = get_activation(spec)
        assert act.forward(x.copy(), inplace=True).dtype == dtype
        assert act.backward(np.ones_like(x)).dtype == dtype


def test_config_round_trips():
    for spec in SPECS:
        assert get_activation(spec).config() == spec


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"Unknown activation 'rlu' at model.layers\[1\].activation. "
                                          r"Did you mean 'relu'\?"):
        get_activation("rlu", where="model.layers[1].activation")


def test_bad_arguments_name_the_field():
    with pytest.raises(ConfigError, match="negative_slope must be a number >= 0. Got -1"):
        get_activation({"name": "leaky_relu", "negative_slope": -1})
    with pytest.raises(ConfigError, match="Unknown key 'slope'.*Accepted: negative_slope"):
        get_activation({"name": "leaky_relu", "slope": 0.1})
    with pytest.raises(ConfigError, match="alpha must be a number >= 0. Got 'big'"):
        get_activation({"name": "elu", "alpha": "big"})


def test_every_registered_name_builds():
    for name in ACTIVATIONS:
        assert get_activation(name).forward(np.ones((1, 1))).shape == (1, 1)
