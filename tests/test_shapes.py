"""Sample shapes through the model: build(input_shape) -> output_shape, shape errors,
per-channel batch normalization, the summary's shapes and model.npz files from before shapes."""

import io
import json
import shutil

import numpy as np
import pytest
from trained_runs import trained_runs

import nettrain
from nettrain.errors import ConfigError, ShapeError
from nettrain.nn.finite_differences import numerical_gradient, relative_error
from nettrain.nn.layers import BatchNorm, Dense
from nettrain.nn.model import Model, load_model, save_model

SPECS = [{"type": "dense", "units": 5, "activation": "relu"}, {"type": "dropout", "rate": 0.1},
         {"type": "batchnorm"}, {"type": "dense", "units": 3}]


def test_each_layer_returns_its_output_sample_shape():
    model = Model(SPECS, (4,), dtype="float64", rng=0)
    assert model.input_shape == (4,)
    assert model.shapes == [(5,), (5,), (5,), (3,)]
    assert model.output_shape == (3,) and model.n_out == 3
    assert Dense(units=7).build((2,), np.random.default_rng(0), np.float32) == (7,)


def test_an_int_input_shape_means_one_feature_axis():
    a, b = Model(SPECS, 4, rng=0), Model(SPECS, (4,), rng=0)
    assert a.input_shape == (4,)
    for (_, pa, _), (_, pb, _) in zip(a.named_params(), b.named_params()):
        np.testing.assert_array_equal(pa, pb)


def test_summary_prints_batch_shapes():
    rows = Model(SPECS, (4,), rng=0).summary()
    assert [shape for _, _, shape, _ in rows] == ["(n, 5)", "(n, 5)", "(n, 5)", "(n, 3)"]
    assert [count for *_, count in rows] == [4 * 5 + 5, 0, 10, 5 * 3 + 3]


def test_dense_on_an_image_shape_names_the_layer_the_shape_and_the_fix():
    with pytest.raises(ShapeError, match=r"add \{type: flatten\} before it"):
        Dense(units=2).build((1, 28, 28), np.random.default_rng(0), np.float32)
    with pytest.raises(ConfigError) as err:
        Model([{"type": "batchnorm"}, {"type": "dense", "units": 3}], (32, 5, 5), rng=0)
    assert str(err.value) == "model.layers[1] (dense) gets (32, 5, 5): add {type: flatten} before it"


def test_architecture_stores_the_input_shape():
    model = Model(SPECS, (4,), rng=0)
    arch = model.architecture()
    assert arch["input_shape"] == [4] and "n_in" not in arch
    json.dumps(arch)


def _old_format(model):
    """model.npz as written before sample shapes: the architecture has `n_in`, an int."""
    arch = model.architecture()
    arch = {"n_in": arch["input_shape"][0], "dtype": arch["dtype"], "layers": arch["layers"]}
    buffer = io.BytesIO()
    np.savez(buffer, architecture=np.array(json.dumps(arch)), **model.state_dict())
    buffer.seek(0)
    return buffer


def test_a_model_npz_with_n_in_still_loads():
    model = Model(SPECS, (4,), dtype="float64", rng=3)
    loaded = load_model(_old_format(model))
    assert loaded.input_shape == (4,)
    x = np.random.default_rng(0).normal(size=(6, 4))
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))
    fresh = io.BytesIO()
    save_model(loaded, fresh)  # and is written back in today's format
    fresh.seek(0)
    with np.load(fresh, allow_pickle=False) as npz:
        assert json.loads(str(npz["architecture"]))["input_shape"] == [4]


def test_a_run_directory_with_an_old_model_npz_still_loads(tmp_path_factory, tmp_path):
    run = trained_runs(tmp_path_factory.getbasetemp())["iris"]
    copy = tmp_path / "run"
    shutil.copytree(run.path, copy)
    model = load_model(copy / "model.npz")
    (copy / "model.npz").write_bytes(_old_format(model).getvalue())
    loaded = nettrain.load(copy)
    assert loaded.model.input_shape == (4,)
    report, original = loaded.evaluate(split="test"), nettrain.load(run.path).evaluate(split="test")
    assert {**report, "run": None} == {**original, "run": None}


def batchnorm_reference(x, gamma, beta, eps):
    """Per-channel normalization of (n, C, H, W), written channel by channel."""
    out = np.empty_like(x)
    for c in range(x.shape[1]):
        xc = x[:, c]
        out[:, c] = (xc - xc.mean()) / np.sqrt(xc.var() + eps) * gamma[c] + beta[c]
    return out


def test_batchnorm_normalizes_images_per_channel():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(4, 3, 5, 6))
    layer = BatchNorm(momentum=0.25)
    assert layer.build((3, 5, 6), rng, np.float64) == (3, 5, 6)
    layer.params["gamma"][...] = [1.0, 2.0, 0.5]
    layer.params["beta"][...] = [0.0, -1.0, 3.0]
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y, batchnorm_reference(x, layer.params["gamma"], layer.params["beta"], 1e-5),
                               rtol=1e-12, atol=1e-12)
    n = 4 * 5 * 6
    means = x.transpose(1, 0, 2, 3).reshape(3, -1).mean(axis=1)
    variances = x.transpose(1, 0, 2, 3).reshape(3, -1).var(axis=1) * n / (n - 1)
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.25 * means)
    np.testing.assert_allclose(layer.buffers["running_var"], 0.75 + 0.25 * variances)
    expected = (x - (0.25 * means)[:, None, None]) / np.sqrt(0.75 + 0.25 * variances + 1e-5)[:, None, None]
    np.testing.assert_allclose(layer.forward(x, training=False),
                               expected * layer.params["gamma"][:, None, None] + layer.params["beta"][:, None, None])


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_image_gradients(training):
    rng = np.random.default_rng(1)
    layer = Model([{"type": "batchnorm"}], (2, 3, 3), dtype="float64", rng=0).layers[0]
    layer.params["gamma"][...] = [1.5, -0.5]
    layer.params["beta"][...] = [0.2, 0.1]
    layer.buffers["running_mean"][...] = [0.3, -0.2]
    layer.buffers["running_var"][...] = [2.0, 0.5]
    x = rng.normal(size=(3, 2, 3, 3))
    r = rng.normal(size=x.shape)

    def f():
        return float((layer.forward(x, training) * r).sum())

    f()
    grad_in = layer.backward(r)
    analytic = {k: g.copy() for k, g in layer.grads.items()}
    running = {k: b.copy() for k, b in layer.buffers.items()}

    def g():
        value = f()
        for k, b in layer.buffers.items():  # finite differences must not move the statistics
            b[...] = running[k]
        return value

    assert relative_error(grad_in, numerical_gradient(g, x)).max() < 1e-6
    for name, param in layer.params.items():
        assert relative_error(analytic[name], numerical_gradient(g, param)).max() < 1e-6, name
