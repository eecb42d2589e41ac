"""Initializers: their variances, reproducibility, dtypes and per-activation defaults."""

import math

import numpy as np
import pytest

from nettrain.errors import ConfigError
from nettrain.nn.activations import get_activation
from nettrain.nn.initializers import INITIALIZERS, default_init, get_initializer, initialize

FAN_IN, FAN_OUT = 400, 200
# name -> the variance the documented formula gives for a (400, 200) matrix
VARIANCES = {
    "he_normal": 2 / FAN_IN,
    "he_uniform": 2 / FAN_IN,              # limit^2 / 3 = (6 / fan_in) / 3
    "glorot_normal": 2 / (FAN_IN + FAN_OUT),
    "glorot_uniform": 2 / (FAN_IN + FAN_OUT),
    "lecun_normal": 1 / FAN_IN,
    "lecun_uniform": 1 / FAN_IN,
}


@pytest.mark.parametrize("name", sorted(VARIANCES))
def test_variance_follows_the_formula(name):
    w = initialize(name, (FAN_IN, FAN_OUT), np.random.default_rng(0), np.float64)
    assert w.shape == (FAN_IN, FAN_OUT)
    assert abs(w.mean()) < 0.05 * np.sqrt(VARIANCES[name])
    assert w.var() == pytest.approx(VARIANCES[name], rel=0.02)
    beyond = np.mean(np.abs(w) > np.sqrt(3 * VARIANCES[name]))  # sqrt(3) standard deviations
    if name.endswith("uniform"):
        assert np.abs(w).max() <= np.sqrt(3 * VARIANCES[name])
    else:  # a normal draw lies beyond sqrt(3) standard deviations with probability erfc(sqrt(1.5))
        assert beyond == pytest.approx(math.erfc(math.sqrt(1.5)), abs=0.005)


def test_aliases_are_the_same_initializer():
    for alias, name in [("kaiming_normal", "he_normal"), ("kaiming_uniform", "he_uniform"),
                        ("xavier_normal", "glorot_normal"), ("xavier_uniform", "glorot_uniform")]:
        a = initialize(alias, (5, 3), np.random.default_rng(4), np.float64)
        b = initialize(name, (5, 3), np.random.default_rng(4), np.float64)
        np.testing.assert_array_equal(a, b)


def test_normal_uniform_zeros_take_their_arguments():
    rng = np.random.default_rng(1)
    w = initialize({"name": "normal", "std": 0.01, "mean": 1.0}, (300, 300), rng, np.float64)
    assert w.mean() == pytest.approx(1.0, abs=1e-3) and w.std() == pytest.approx(0.01, rel=0.02)
    u = initialize({"name": "uniform", "low": 2, "high": 3}, (100, 10), rng, np.float64)
    assert 2 <= u.min() and u.max() <= 3
    assert not initialize("zeros", (3, 2), rng, np.float32).any()


def test_same_seed_same_weights_in_both_dtypes():
    a = initialize("he_normal", (6, 4), np.random.default_rng(7), np.float32)
    b = initialize("he_normal", (6, 4), np.random.default_rng(7), np.float64)
    assert a.dtype == np.float32 and b.dtype == np.float64
    np.testing.assert_array_equal(a, b.astype(np.float32))


def test_defaults_per_activation():
    assert default_init("relu") == "he_normal"
    assert default_init(get_activation({"name": "leaky_relu", "negative_slope": 0.1})) == "he_normal"
    assert default_init("tanh") == "glorot_uniform"
    assert default_init(None) == "glorot_uniform"


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_default_keeps_a_deep_stack_from_vanishing(activation):
    """20 layers of 256 units: with the default init the signal keeps its scale; with a
    naive N(0, 0.01^2) it vanishes."""
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(256, 256))

    def final_std(init):
        x = x0
        for _ in range(20):
            w = initialize(init, (256, 256), rng, np.float64)
            x = get_activation(activation).forward(x @ w)
        return x.std()

    scale = final_std(default_init(activation))
    assert 0.1 < scale < 10
    assert final_std({"name": "normal", "std": 0.01}) < 1e-6


def test_bad_specs_raise_config_errors():
    with pytest.raises(ConfigError, match="Unknown initializer 'he_norml'.*Did you mean 'he_normal'"):
        get_initializer("he_norml", where="model.layers[0].init")
    with pytest.raises(ConfigError, match="std must be a number >= 0. Got -1"):
        get_initializer({"name": "normal", "std": -1})
    with pytest.raises(ConfigError, match="high must be a number >= 1.0. Got 0"):
        get_initializer({"name": "uniform", "low": 1, "high": 0})


def test_every_registered_name_builds():
    for name in INITIALIZERS:
        assert initialize(name, (3, 2), np.random.default_rng(0), np.float32).dtype == np.float32


def test_uniform_defaults_to_plus_minus_0_05():
    """Its documented bounds (the docstring and docs/config.md): U(-0.05, 0.05)."""
    w = initialize("uniform", (400, 200), np.random.default_rng(0), np.float64)
    assert -0.05 <= w.min() < -0.0499 and 0.0499 < w.max() <= 0.05


def test_normal_defaults_to_mean_0_std_0_05():
    """Its documented defaults (the docstring and docs/config.md): N(0, 0.05^2)."""
    w = initialize("normal", (400, 200), np.random.default_rng(0), np.float64)
    assert w.std() == pytest.approx(0.05, rel=0.01) and abs(w.mean()) < 0.001
