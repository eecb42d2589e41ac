"""Recurrent and embedding layers against torch (float64), finite differences through time
and hand-computed cases."""

import math

import numpy as np
import pytest
import torch

from nettrain.errors import DataError, ShapeError
from nettrain.nn.layers.embedding import Embedding
from nettrain.nn.layers.recurrent import GRU, LSTM, RNN

CASES = [("rnn", {"activation": "tanh"}), ("rnn", {"activation": "relu"}), ("lstm", {}), ("gru", {})]
CLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def make(kind, kw, units, seq, bi, F=4, T=5, dtype="float64", seed=0):
    layer = CLS[kind](units=units, return_sequences=seq, bidirectional=bi, **kw)
    out = layer.build((T, F), np.random.default_rng(seed), dtype)
    return layer, out


def torch_twin(kind, kw, layer, F):
    args = dict(input_size=F, hidden_size=layer.units, batch_first=True, bidirectional=layer.bidirectional,
                dtype=torch.float64)
    if kind == "rnn":
        m = torch.nn.RNN(nonlinearity=kw["activation"], **args)
    else:
        m = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](**args)
    with torch.no_grad():
        for s in layer.suffixes:
            getattr(m, "weight_ih_l0" + s).copy_(torch.tensor(layer.params["W_ih" + s].T))
            getattr(m, "weight_hh_l0" + s).copy_(torch.tensor(layer.params["W_hh" + s].T))
            getattr(m, "bias_ih_l0" + s).copy_(torch.tensor(layer.params["b_ih" + s]))
            getattr(m, "bias_hh_l0" + s).copy_(torch.tensor(layer.params["b_hh" + s]))
    return m


@pytest.mark.parametrize("kind,kw", CASES)
@pytest.mark.parametrize("seq", [False, True])
@pytest.mark.parametrize("bi", [False, True])
def test_matches_torch(kind, kw, seq, bi):
    F, T, n, units = 4, 5, 3, 6
    layer, out_shape = make(kind, kw, units, seq, bi, F, T)
    m = torch_twin(kind, kw, layer, F)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, T, F))
    y = layer.forward(x, training=True)
    assert y.shape == (n,) + out_shape
    xt = torch.tensor(x, requires_grad=True)
    out, hn = m(xt)
    if kind == "lstm":
        hn = hn[0]
    ref = out if seq else torch.cat(list(hn), dim=1)
    if not seq and not bi:
        assert torch.allclose(out[:, -1], hn[0])
    np.testing.assert_allclose(y, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.normal(size=y.shape)
    dx = layer.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for s in layer.suffixes:
        for mine, theirs, tr in (("W_ih", "weight_ih_l0", True), ("W_hh", "weight_hh_l0", True),
                                 ("b_ih", "bias_ih_l0", False), ("b_hh", "bias_hh_l0", False)):
            t = getattr(m, theirs + s).grad.numpy()
            np.testing.assert_allclose(layer.grads[mine + s], t.T if tr else t, rtol=1e-10, atol=1e-12,
                                       err_msg=mine + s)


@pytest.mark.parametrize("kind,kw", CASES)
@pytest.mark.parametrize("seq,bi", [(False, False), (True, True)])
def test_finite_differences_through_time(kind, kw, seq, bi):
    F, T, n, units = 3, 6, 2, 4
    layer, _ = make(kind, kw, units, seq, bi, F, T, seed=3)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(n, T, F))
    if kw.get("activation") == "relu":
        x += 0.5        # keep pre-activations away from the kink
    R = rng.normal(size=layer.forward(x).shape)
    def loss():
        return float(np.sum(layer.forward(x) * R))

    layer.forward(x, training=True)
    dx = layer.backward(R)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    eps = 1e-6

    def numeric(arr):
        out = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + eps
            up = loss()
            arr[i] = old - eps
            down = loss()
            arr[i] = old
            out[i] = (up - down) / (2 * eps)
        return out

    for k in layer.params:
        np.testing.assert_allclose(grads[k], numeric(layer.params[k]), rtol=1e-6, atol=1e-8, err_msg=k)
    np.testing.assert_allclose(dx, numeric(x), rtol=1e-6, atol=1e-8)


def sig(v):
    return 1 / (1 + math.exp(-v))


def set_params(layer, **vals):
    for k, v in vals.items():
        layer.params[k][...] = v


def test_hand_rnn():
    layer, _ = make("rnn", {"activation": "tanh"}, 1, True, False, F=1, T=2)
    set_params(layer, W_ih=0.5, W_hh=-1.0, b_ih=0.1, b_hh=0.2)
    y = layer.forward(np.array([[[1.0], [2.0]]]))
    h1 = math.tanh(0.5 + 0.3)
    h2 = math.tanh(1.0 - h1 + 0.3)
    np.testing.assert_allclose(y.ravel(), [h1, h2], rtol=1e-14)
    layer.backward(np.array([[[0.0], [1.0]]]))
    # dL/dW_hh = h1 * (1 - h2^2)
    np.testing.assert_allclose(layer.grads["W_hh"].ravel(), [h1 * (1 - h2 ** 2)], rtol=1e-14)


def test_hand_lstm():
    layer, _ = make("lstm", {}, 1, False, False, F=1, T=2)
    set_params(layer, W_ih=[[0.1, 0.2, 0.3, 0.4]], W_hh=[[0.5, -0.5, 0.25, 1.0]], b_ih=0.0, b_hh=[0.1, 0, 0, 0])
    x = [1.0, -2.0]
    h = c = 0.0
    for xv in x:
        i = sig(0.1 * xv + 0.5 * h + 0.1)
        f = sig(0.2 * xv - 0.5 * h)
        g = math.tanh(0.3 * xv + 0.25 * h)
        o = sig(0.4 * xv + 1.0 * h)
        c = f * c + i * g
        h = o * math.tanh(c)
    y = layer.forward(np.array(x).reshape(1, 2, 1))
    np.testing.assert_allclose(y.ravel(), [h], rtol=1e-14)


def test_hand_gru():
    layer, _ = make("gru", {}, 1, False, False, F=1, T=2)
    set_params(layer, W_ih=[[0.1, 0.2, 0.3]], W_hh=[[0.5, -0.5, 2.0]], b_ih=[0, 0, 0.1], b_hh=[0, 0, -0.3])
    h = 0.0
    for xv in (1.0, -2.0):
        r = sig(0.1 * xv + 0.5 * h)
        z = sig(0.2 * xv - 0.5 * h)
        nn = math.tanh(0.3 * xv + 0.1 + r * (2.0 * h - 0.3))
        h = (1 - z) * nn + z * h
    y = layer.forward(np.array([1.0, -2.0]).reshape(1, 2, 1))
    np.testing.assert_allclose(y.ravel(), [h], rtol=1e-14)


def test_init_bounds_and_shapes():
    layer, out = make("lstm", {}, 16, False, True, F=3, T=7, dtype="float32")
    assert out == (32,)
    assert layer.params["W_ih"].shape == (3, 64) and layer.params["W_hh_reverse"].shape == (16, 64)
    assert layer.params["b_hh"].dtype == np.float32
    for v in layer.params.values():
        assert np.abs(v).max() <= 0.25 and np.abs(v).max() > 0.2
    assert layer.weight_keys == ("W_ih", "W_hh", "W_ih_reverse", "W_hh_reverse")


def test_shape_error():
    with pytest.raises(ShapeError, match="sequences of shape"):
        LSTM(units=3).build((10,), np.random.default_rng(0), "float32")
    with pytest.raises(ShapeError, match="token ids"):
        Embedding(output_dim=3, input_dim=9).build((4, 2), np.random.default_rng(0), "float32")


def test_float32_runs():
    layer, _ = make("gru", {}, 8, True, True, dtype="float32")
    y = layer.forward(np.ones((2, 5, 4), np.float32))
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32


def test_embedding_matches_torch():
    emb = Embedding(output_dim=3, input_dim=7)
    emb.build((4,), np.random.default_rng(0), "float64")
    assert np.all(emb.params["W"][0] == 0)
    ids = np.array([[0, 1, 2, 2], [6, 0, 1, 3]], dtype=np.float64)
    m = torch.nn.Embedding(7, 3, padding_idx=0, dtype=torch.float64)
    with torch.no_grad():
        m.weight.copy_(torch.tensor(emb.params["W"]))
    y = emb.forward(ids)
    ref = m(torch.tensor(ids, dtype=torch.long))
    np.testing.assert_array_equal(y, ref.detach().numpy())
    g = np.random.default_rng(1).normal(size=y.shape)
    emb.backward(g, input_grad=False)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(emb.grads["W"], m.weight.grad.numpy(), rtol=1e-14)
    assert np.all(emb.grads["W"][0] == 0)


def test_embedding_bad_ids():
    emb = Embedding(output_dim=3, input_dim=5)
    emb.build((2,), np.random.default_rng(0), "float32")
    with pytest.raises(DataError, match="at least 8"):
        emb.forward(np.array([[1, 7]], np.float32))
    with pytest.raises(DataError, match="whole numbers"):
        emb.forward(np.array([[1, 2.5]], np.float32))


def test_dense_after_a_sequence_names_the_fix():
    from nettrain.errors import ConfigError
    from nettrain.nn.model import Model
    with pytest.raises(ConfigError, match=r"model.layers\[1\] \(dense\) gets \(12, 8\): add \{type: flatten\}"):
        Model([{"type": "lstm", "units": 8, "return_sequences": True}, {"type": "dense", "units": 1}],
              (12, 3))
    with pytest.raises(ConfigError, match=r"model.layers\[0\] \(gru\) gets \(5,\): .*embedding"):
        Model([{"type": "gru", "units": 8}, {"type": "dense", "units": 1}], (5,))


def test_embedding_input_dim_comes_from_the_data_and_survives_saving(tmp_path):
    from nettrain.errors import ConfigError
    from nettrain.nn.model import Model, load_model, save_model
    specs = [{"type": "embedding", "output_dim": 4}, {"type": "gru", "units": 3, "bidirectional": True},
             {"type": "dense", "units": 2}]
    with pytest.raises(ConfigError, match="input_dim is unknown"):
        Model(specs, (6,))
    model = Model(specs, (6,), rng=0, data_facts={"vocab_size": 11})
    assert model.layers[0].params["W"].shape == (11, 4) and model.output_shape == (2,)
    assert model.shapes == [(6, 4), (6,), (2,)]  # bidirectional: 2 * 3 units
    ids = np.array([[0, 0, 3, 10, 2, 1], [0, 5, 5, 5, 5, 5]], np.float32)
    out = model.forward(ids)
    save_model(model, tmp_path / "m.npz")
    again = load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(again.forward(ids), out)
    with pytest.raises(DataError, match="token id 11.*at least 12"):
        model.forward(ids + 1)
