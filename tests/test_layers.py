"""Layers: forward values, finite-difference gradients for inputs and params, bad specs."""

import numpy as np
import pytest

from nettrain.errors import ConfigError
from nettrain.nn.finite_differences import numerical_gradient, relative_error
from nettrain.nn.layers import BatchNorm, Dense, Dropout
from nettrain.nn.model import Model

N_IN = 4


def built(spec, seed=0, dtype=np.float64):
    """A layer built through the model, so specs are parsed as a config would be."""
    return Model([spec], N_IN, dtype=dtype, rng=seed).layers[0]


def check_layer(layer, x, training=True):
    """Backprop vs central differences of sum(layer(x) * r), for x (unless it holds integer token
    ids, which have no gradient) and every param; the entries `layer.frozen` names must get a
    gradient of exactly 0 instead."""
    r = np.random.default_rng(5).normal(size=layer.forward(x, training).shape)
    rng = getattr(layer, "rng", None)
    state = rng.bit_generator.state if rng is not None else None

    def f():
        if rng is not None:
            rng.bit_generator.state = state  # the same dropout mask in every evaluation
        return float((layer.forward(x, training) * r).sum())

    f()
    grad_in = layer.backward(r)
    analytic = {name: g.copy() for name, g in layer.grads.items()}
    if x.dtype.kind == "f":
        assert relative_error(grad_in, numerical_gradient(f, x)).max() < 1e-6
    for name, param in layer.params.items():
        frozen = layer.frozen(name)
        learns = np.setdiff1d(np.arange(param.size), [] if frozen is None else frozen)
        numeric = numerical_gradient(f, param, indices=learns).reshape(-1)[learns]
        assert relative_error(analytic[name].reshape(-1)[learns], numeric).max() < 1e-6, name
        assert not analytic[name].reshape(-1)[np.setdiff1d(np.arange(param.size), learns)].any(), name


def inputs(shape=(6, N_IN), seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 2, size=shape) * rng.choice([-1.0, 1.0], size=shape)


@pytest.mark.parametrize("activation", [None, "relu", {"name": "leaky_relu", "negative_slope": 0.1},
                                        "elu", "gelu", "sigmoid", "tanh", "softplus", "silu"], ids=str)
def test_dense_gradients(activation):
    # a few units and a bias that keep pre-activations away from 0, where relu has its kink
    layer = built({"type": "dense", "units": 3, "activation": activation})
    layer.params["b"][:] = [0.3, -0.4, 0.5]
    x = inputs()
    z = x @ layer.params["W"] + layer.params["b"]
    assert np.abs(z).min() > 1e-3
    check_layer(layer, x)


def test_dense_without_bias_has_only_w():
    layer = built({"type": "dense", "units": 2, "use_bias": False})
    assert set(layer.params) == {"W"}
    x = inputs()
    np.testing.assert_array_equal(layer.forward(x), x @ layer.params["W"])
    check_layer(layer, x)


def test_dense_forward_is_x_w_plus_b():
    layer = Dense(units=2)
    layer.build((3,), np.random.default_rng(0), np.float64)
    layer.params["W"][...] = [[1, 2], [3, 4], [5, 6]]
    layer.params["b"][...] = [0.5, -0.5]
    np.testing.assert_array_equal(layer.forward(np.array([[1.0, 0, -1]])), [[-3.5, -4.5]])
    # built on its own (no model around it), backward fills its own grads: x^T g, sum(g), g W^T
    np.testing.assert_array_equal(layer.backward(np.array([[1.0, 2.0]])), [[5, 11, 17]])
    np.testing.assert_array_equal(layer.grads["W"], [[1, 2], [0, 0], [-1, -2]])
    np.testing.assert_array_equal(layer.grads["b"], [1, 2])


def test_dense_skips_the_input_gradient_when_asked():
    layer = built({"type": "dense", "units": 2})
    layer.forward(inputs())
    assert layer.backward(np.ones((6, 2)), input_grad=False) is None
    np.testing.assert_allclose(layer.grads["b"], [6, 6])


def test_dropout_gradient_with_a_fixed_mask():
    check_layer(built({"type": "dropout", "rate": 0.4}), inputs())


def test_dropout_is_inverted_and_identity_at_evaluation():
    layer = built({"type": "dropout", "rate": 0.25}, dtype=np.float32)
    x = np.ones((2000, N_IN), np.float32)
    y = layer.forward(x, training=True)
    assert y.dtype == np.float32
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert (y == 0).mean() == pytest.approx(0.25, abs=0.02)
    assert y.mean() == pytest.approx(1.0, abs=0.03)
    assert layer.forward(x, training=False) is x
    assert layer.backward(x) is x


def test_dropout_masks_replay_from_the_generator_state():
    layer = built({"type": "dropout", "rate": 0.5})
    state = layer.rng.bit_generator.state
    a = layer.forward(inputs(), training=True)
    layer.rng.bit_generator.state = state
    np.testing.assert_array_equal(a, layer.forward(inputs(), training=True))


def test_batchnorm_gradients_in_training_mode():
    layer = built({"type": "batchnorm"})
    layer.params["gamma"][:] = [1.5, 0.5, -1.0, 2.0]
    layer.params["beta"][:] = [0.1, -0.2, 0.3, 0.0]
    check_layer(layer, inputs(), training=True)


def test_batchnorm_gradients_in_evaluation_mode():
    layer = built({"type": "batchnorm"})
    layer.buffers["running_mean"][:] = [0.1, 0.2, -0.3, 0.0]
    layer.buffers["running_var"][:] = [0.5, 2.0, 1.0, 3.0]
    check_layer(layer, inputs(), training=False)


@pytest.mark.parametrize("n", [5, 2])  # two samples are the fewest with an unbiased variance
def test_batchnorm_normalizes_and_tracks_running_statistics(n):
    layer = built({"type": "batchnorm", "momentum": 0.2, "eps": 1e-5})
    x = inputs((n, N_IN))
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5))
    # torch: running = (1 - momentum) running + momentum * stat, the variance unbiased (n - 1)
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.8 * 0 + 0.2 * x.mean(0))
    np.testing.assert_allclose(layer.buffers["running_var"], 0.8 * 1 + 0.2 * x.var(0, ddof=1))
    y_eval = layer.forward(x, training=False)
    np.testing.assert_allclose(y_eval, (x - layer.buffers["running_mean"])
                               / np.sqrt(layer.buffers["running_var"] + 1e-5))


def test_batchnorm_single_sample_batch_keeps_running_statistics():
    layer = built({"type": "batchnorm"})
    layer.params["beta"][:] = 0.5
    y = layer.forward(inputs((1, N_IN)), training=True)
    np.testing.assert_array_equal(y, np.full((1, N_IN), 0.5))
    np.testing.assert_array_equal(layer.buffers["running_var"], np.ones(N_IN))
    assert np.all(layer.backward(np.ones((1, N_IN))) == 0)


@pytest.mark.parametrize("activation", ["tanh", {"name": "elu", "alpha": 0.5}], ids=str)
def test_activation_layer_gradients(activation):
    check_layer(built({"type": "activation", "activation": activation}), inputs())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_keep_the_dtype(dtype):
    model = Model([{"type": "dense", "units": 3, "activation": "relu"}, {"type": "dropout", "rate": 0.5},
                   {"type": "batchnorm"}, {"type": "activation", "activation": "tanh"}],
                  N_IN, dtype=dtype.__name__, rng=0)
    x = inputs().astype(dtype)
    assert model.forward(x, training=True).dtype == dtype
    model.backward(np.ones((6, 3), dtype))
    for _, param, grad in model.named_params():
        assert param.dtype == dtype and grad.dtype == dtype


def test_config_round_trips():
    specs = [{"type": "dense", "units": 3, "activation": {"name": "leaky_relu", "negative_slope": 0.2},
              "init": {"name": "normal", "std": 0.1, "mean": 0.0}, "use_bias": False},
             {"type": "dropout", "rate": 0.1}, {"type": "batchnorm", "momentum": 0.3, "eps": 0.001},
             {"type": "activation", "activation": "relu"}]
    model = Model(specs, N_IN, rng=0)
    assert [layer.config() for layer in model.layers] == specs


def test_dense_default_init_follows_the_activation():
    assert built({"type": "dense", "units": 2, "activation": "relu"}).config()["init"] == "he_normal"
    assert built({"type": "dense", "units": 2, "activation": "tanh"}).config()["init"] == "glorot_uniform"
    assert built({"type": "dense", "units": 2}).config()["init"] == "glorot_uniform"


BAD_SPECS = [
    ({"type": "dense"}, r"model.layers\[0\]: units is required"),
    ({"type": "dense", "units": 0}, r"model.layers\[0\]: units must be an integer >= 1. Got 0."),
    ({"type": "dense", "units": "32"}, r"model.layers\[0\]: units must be an integer >= 1. Got '32'."),
    ({"type": "dense", "units": 2.5}, r"units must be an integer >= 1. Got 2.5"),
    ({"type": "dense", "units": True}, r"units must be an integer >= 1. Got True"),
    ({"type": "dense", "units": 4, "use_bias": "yes"}, r"use_bias must be true or false. Got 'yes'"),
    ({"type": "dense", "unit": 4}, r"Unknown key 'unit' at model.layers\[0\]. Did you mean 'units'\?"),
    ({"type": "dense", "units": 4, "activation": "rlu"},
     r"model.layers\[0\]: Unknown activation 'rlu'. Did you mean 'relu'\?"),
    ({"type": "dense", "units": 4, "init": "he_norml"},
     r"model.layers\[0\]: Unknown initializer 'he_norml'. Did you mean 'he_normal'\?"),
    ({"type": "dense", "units": 4, "activation": 3}, r"model.layers\[0\]: activation must be"),
    ({"type": "dens", "units": 4}, r"Unknown layer 'dens' at model.layers\[0\]. Did you mean 'dense'\?"),
    ({"units": 4}, r"model.layers\[0\] needs a 'type' key"),
    ({"type": "dropout", "rate": 1}, r"model.layers\[0\]: rate must be a number in \[0, 1\). Got 1."),
    ({"type": "dropout", "rate": -0.1}, r"rate must be a number in \[0, 1\). Got -0.1"),
    ({"type": "dropout", "rate": "half"}, r"rate must be a number in \[0, 1\). Got 'half'"),
    ({"type": "batchnorm", "momentum": 2}, r"momentum must be a number in \[0, 1\]. Got 2"),
    ({"type": "batchnorm", "eps": 0}, r"eps must be a number > 0. Got 0"),
    ({"type": "activation"}, r"model.layers\[0\]: activation is required"),
    ({"type": "activation", "activation": {"name": "leaky_relu", "negative_slope": -2}},
     r"model.layers\[0\]: activation 'leaky_relu': negative_slope must be a number >= 0"),
    (42, r"model.layers\[0\] must be a layer name or a mapping with 'type'"),
]


@pytest.mark.parametrize("spec, message", BAD_SPECS, ids=[m for _, m in BAD_SPECS])
def test_bad_layer_specs_name_the_layer_and_field(spec, message):
    with pytest.raises(ConfigError, match=message):
        Model([spec], N_IN)


def test_bad_spec_names_its_own_index():
    with pytest.raises(ConfigError, match=r"model.layers\[2\]: units must be an integer >= 1. Got -3."):
        Model([{"type": "dense", "units": 4}, {"type": "dropout"}, {"type": "dense", "units": -3}], N_IN)


def test_layer_classes_are_usable_directly():
    for layer in (Dense(units=2), Dropout(0.5), BatchNorm()):
        assert layer.build((3,), np.random.default_rng(0), np.float32) in ((2,), (3,))
