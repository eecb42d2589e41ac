"""Model: parameters and keys, regularization, state, model.npz, summary, reproducibility."""

import io
import json

import numpy as np
import pytest

from nettrain.errors import ConfigError
from nettrain.nn.losses import get_loss
from nettrain.nn.model import Model, load_model, save_model

SPECS = [{"type": "dense", "units": 5, "activation": "relu"}, {"type": "dropout", "rate": 0.2},
         {"type": "batchnorm"}, {"type": "activation", "activation": "tanh"},
         {"type": "dense", "units": 3, "use_bias": False}]
X = np.random.default_rng(3).normal(size=(8, 4))
Y = np.array([0, 1, 2, 0, 1, 2, 0, 1])


def make(dtype="float64", seed=0, specs=SPECS):
    return Model(specs, 4, dtype=dtype, rng=np.random.default_rng(seed))


def train_steps(model, steps=3, lr=0.1):
    loss = get_loss("cross_entropy")
    for _ in range(steps):
        loss.forward(model.forward(X, training=True), Y)
        model.backward(loss.backward())
        for _, p, g in model.named_params():
            p -= lr * g


def test_named_params_keys_and_views_of_one_buffer():
    model = make()
    keys = [k for k, _, _ in model.named_params()]
    assert keys == ["layers.0.W", "layers.0.b", "layers.2.gamma", "layers.2.beta", "layers.4.W"]
    flat_params, flat_grads = model.named_params().flat
    assert flat_params.size == model.n_params() == 4 * 5 + 5 + 5 + 5 + 5 * 3
    for _, p, g in model.named_params():
        assert np.shares_memory(p, flat_params) and np.shares_memory(g, flat_grads)
    model.layers[0].params["W"][0, 0] = 42.0
    assert flat_params[0] == 42.0


def test_backward_fills_grads_in_place_and_returns_input_grad_on_request():
    model = make()
    grads_before = [g for _, _, g in model.named_params()]
    loss = get_loss("cross_entropy")
    loss.forward(model.forward(X, training=True), Y)
    assert model.backward(loss.backward()) is None
    assert all(g is g2 for g, (_, _, g2) in zip(grads_before, model.named_params()))
    assert any(np.abs(g).sum() > 0 for g in grads_before)
    assert model.backward(loss.backward(), input_grad=True).shape == X.shape


def test_state_dict_holds_params_and_buffers_and_loads_back():
    model = make()
    train_steps(model)
    state = model.state_dict()
    assert set(state) == {"layers.0.W", "layers.0.b", "layers.2.gamma", "layers.2.beta",
                          "layers.2.running_mean", "layers.2.running_var", "layers.4.W"}
    other = make(seed=9)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.forward(X), model.forward(X))
    # loading copies in place: the flat buffer still backs the layers
    assert np.shares_memory(other.layers[0].params["W"], other.named_params().flat[0])


def test_load_state_dict_names_the_key_and_both_shapes():
    state = make().state_dict()
    bigger = make(specs=[{**SPECS[0], "units": 6}] + SPECS[1:])
    with pytest.raises(ConfigError, match=r"init.npz: layers.0.W has shape \(4, 5\), but model.layers "
                                          r"needs \(4, 6\)") as err:
        bigger.load_state_dict(state, source="init.npz")
    assert any("layers.2.gamma has shape (5,)" in p for p in err.value.problems)


def test_load_state_dict_names_missing_and_unexpected_keys():
    state = make().state_dict()
    del state["layers.2.running_var"]
    state["layers.7.W"] = np.zeros((2, 2))
    with pytest.raises(ConfigError) as err:
        make().load_state_dict(state, source="run/model.npz")
    text = str(err.value)
    assert "run/model.npz lacks layers.2.running_var" in text
    assert "run/model.npz has layers.7.W, which model.layers does not have" in text


def test_save_and_load_model_npz_without_pickles():
    model = make()
    train_steps(model)
    buffer = io.BytesIO()
    save_model(model, buffer)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        assert "layers.0.W" in npz.files and "layers.2.running_mean" in npz.files
        arch = json.loads(str(npz["architecture"]))
    assert arch == model.architecture()
    assert arch["input_shape"] == [4] and arch["dtype"] == "float64" and arch["layers"][1] == {"type": "dropout", "rate": 0.2}
    buffer.seek(0)
    loaded = load_model(buffer)
    np.testing.assert_array_equal(loaded.forward(X), model.forward(X))
    buffer.seek(0)
    as32 = load_model(buffer, dtype="float32")
    assert as32.dtype == np.float32
    np.testing.assert_allclose(as32.forward(X), model.forward(X), rtol=1e-5, atol=1e-6)


def test_load_model_rejects_other_files(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, W=np.zeros(3))
    with pytest.raises(ConfigError, match="has no 'architecture' entry: it is not a nettrain model.npz"):
        load_model(path)
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(ConfigError, match="is not a readable model.npz"):
        load_model(bad)
    with pytest.raises(ConfigError, match="absent.npz"):
        load_model(tmp_path / "absent.npz")
    listed = tmp_path / "listed.npz"  # valid JSON, but a list where the architecture object goes
    np.savez(listed, architecture=np.array('[{"type": "dense"}]'), W=np.zeros(3))
    with pytest.raises(ConfigError, match="is not a readable model.npz.*not a JSON object"):
        load_model(listed)


def test_load_model_refuses_weights_stored_as_text(tmp_path):
    """Text that reads as numbers would otherwise be converted into the weights silently."""
    model = Model([{"type": "dense", "units": 2}], 3, dtype="float64", rng=0)
    path = tmp_path / "model.npz"
    save_model(model, path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays["layers.0.b"] = np.array(["0.5", "1.5"])
    np.savez(path, **arrays)
    with pytest.raises(ConfigError, match=r"model.npz is not a readable model.npz: layers.0.b$"):
        load_model(path)


def test_architecture_rebuilds_the_same_model():
    model = make()
    arch = json.loads(json.dumps(model.architecture()))
    rebuilt = Model(arch["layers"], tuple(arch["input_shape"]), dtype=arch["dtype"], rng=np.random.default_rng(0))
    np.testing.assert_array_equal(rebuilt.forward(X), model.forward(X))


def test_summary_rows():
    rows = make().summary()
    assert rows == [(0, "dense(5, relu)", "(n, 5)", 25), (1, "dropout(0.2)", "(n, 5)", 0),
                    (2, "batchnorm", "(n, 5)", 10), (3, "tanh", "(n, 5)", 0), (4, "dense(3)", "(n, 3)", 15)]


def test_same_seed_same_run_bit_for_bit_and_rng_state_replays_dropout():
    a, b = make(seed=5), make(seed=5)
    train_steps(a)
    train_steps(b)
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[key])
    state = a.rng_state()
    json.dumps(state)  # JSON-able, for checkpoints
    first = a.forward(X, training=True)
    a.set_rng_state(state)
    np.testing.assert_array_equal(a.forward(X, training=True), first)


def test_float32_end_to_end():
    model = make("float32")
    train_steps(model)
    assert all(v.dtype == np.float32 for v in model.state_dict().values())
    assert model.forward(X).dtype == np.float32


@pytest.mark.parametrize("args, message", [
    (([], 4), "model.layers must be a non-empty list of layers"),
    (({"type": "dense"}, 4), "model.layers must be a non-empty list"),
    ((SPECS, 4, "float16"), "dtype must be one of float32, float64. Got 'float16'."),
    ((SPECS, 4, "double precision"), "dtype must be one of float32, float64"),
])
def test_bad_model_arguments(args, message):
    with pytest.raises(ConfigError, match=message):
        Model(*args)
