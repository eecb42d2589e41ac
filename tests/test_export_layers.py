"""The ONNX layer converters against PyTorch's forward pass on the same weights.

Each converter gets a `LayerInfo` (the layer's config arguments and arrays in nettrain's
layout: dense/recurrent weights are PyTorch's transposed, conv2d's are PyTorch's) built from a
torch module, and ONNX Runtime's output must match the module's: 1e-9 in float64 (where the
converter writes the op out, as ONNX Runtime lacks float64 Conv, AveragePool and recurrent
kernels) and 1e-5 in float32 (ONNX's own Conv, AveragePool, RNN, LSTM and GRU ops).
"""

import numpy as np
import onnxruntime as ort
import pytest

from nettrain.export.builder import GraphBuilder
from nettrain.export.layers import LayerInfo, convert_network

torch = pytest.importorskip("torch")
DTYPES = {"float64": (torch.float64, 1e-9), "float32": (torch.float32, 1e-5)}


def onnx_forward(infos, x, dtype, in_dtype=None):
    b = GraphBuilder(dtype)
    name = b.add_input("X", in_dtype or dtype, ["n", *x.shape[1:]])
    y = convert_network(b, infos, name)
    b.add_output("y", y, dtype, ["n", *infos[-1].output_shape])
    sess = ort.InferenceSession(b.model("t").SerializeToString())
    return sess.run(None, {"X": x})[0]


def np_(t, dtype):
    return t.detach().numpy().astype(dtype)


def check(infos, x, want, dtype, in_dtype=None):
    got = onnx_forward(infos, x, dtype, in_dtype)
    assert got.shape == tuple(want.shape)
    np.testing.assert_allclose(got, np_(want, dtype), rtol=0, atol=DTYPES[dtype][1])


@pytest.fixture(params=list(DTYPES))
def dtype(request):
    torch.manual_seed(0)
    return request.param


@pytest.mark.parametrize("kernel, stride, padding", [
    (3, 1, 0), (3, 2, 1), ((5, 3), 1, [2, 1]), (4, 1, "same"), (3, 1, "same"), (2, 2, "valid")])
def test_conv2d(dtype, kernel, stride, padding):
    tdt = DTYPES[dtype][0]
    x = torch.randn(4, 3, 11, 10, dtype=tdt)
    pad = tuple(padding) if isinstance(padding, list) else padding
    conv = torch.nn.Conv2d(3, 5, kernel, stride=stride, padding=pad, dtype=tdt)
    want = torch.relu(conv(x))
    info = LayerInfo(0, "conv2d", {"filters": 5, "kernel_size": kernel, "stride": stride,
                                   "padding": padding, "activation": "relu"},
                     {"W": np_(conv.weight, dtype), "b": np_(conv.bias, dtype)},
                     (3, 11, 10), tuple(want.shape[1:]))
    check([info], np_(x, dtype), want, dtype)


@pytest.mark.parametrize("size, stride, padding", [(2, None, 0), (3, 2, 1), (3, 1, 0)])
def test_pooling(dtype, size, stride, padding):
    x = torch.randn(4, 3, 11, 10, dtype=DTYPES[dtype][0])
    F = torch.nn.functional
    args = {"pool_size": size, "stride": stride, "padding": padding}
    for kind, want in (("max_pool2d", F.max_pool2d(x, size, stride, padding)),
                       ("avg_pool2d", F.avg_pool2d(x, size, stride, padding,
                                                   count_include_pad=True))):
        info = LayerInfo(0, kind, args, {}, (3, 11, 10), tuple(want.shape[1:]))
        check([info], np_(x, dtype), want, dtype)


def test_global_pool_flatten_batchnorm2d(dtype):
    tdt = DTYPES[dtype][0]
    x = torch.randn(4, 3, 11, 10, dtype=tdt)
    check([LayerInfo(0, "global_avg_pool2d", {}, {}, (3, 11, 10), (3,))], np_(x, dtype),
          x.mean(dim=(2, 3)), dtype)
    check([LayerInfo(0, "flatten", {}, {}, (3, 11, 10), (330,))], np_(x, dtype),
          torch.flatten(x, 1), dtype)
    bn = torch.nn.BatchNorm2d(3, eps=1e-3, dtype=tdt).eval()
    with torch.no_grad():
        for t, lo, hi in ((bn.running_mean, -1, 1), (bn.running_var, 0.5, 2),
                          (bn.weight, 0.5, 2), (bn.bias, -1, 1)):
            t.uniform_(lo, hi)
    arrays = {"gamma": bn.weight, "beta": bn.bias, "running_mean": bn.running_mean,
              "running_var": bn.running_var}
    info = LayerInfo(0, "batchnorm", {"momentum": 0.1, "eps": 1e-3},
                     {k: np_(v, dtype) for k, v in arrays.items()}, (3, 11, 10), (3, 11, 10))
    check([info], np_(x, dtype), bn(x), dtype)


def test_embedding_takes_token_ids(dtype):
    emb = torch.nn.Embedding(20, 6, padding_idx=0, dtype=DTYPES[dtype][0])
    ids = torch.randint(0, 20, (5, 7))
    ids[0, :3] = 0
    info = LayerInfo(0, "embedding", {"output_dim": 6}, {"W": np_(emb.weight, dtype)}, (7,), (7, 6))
    check([info], ids.numpy(), emb(ids), dtype, in_dtype="int64")


def recurrent_info(module, kind, sequences, bidirectional, dtype, **args):
    """LayerInfo with nettrain's names: W_ih = weight_ih_l0.T, ..., `_reverse` for backward."""
    arrays = {}
    for suffix in ("", "_reverse")[:2 if bidirectional else 1]:
        for ours, theirs in (("W_ih", "weight_ih"), ("W_hh", "weight_hh"),
                             ("b_ih", "bias_ih"), ("b_hh", "bias_hh")):
            value = np_(getattr(module, f"{theirs}_l0{suffix}"), dtype)
            arrays[f"{ours}{suffix}"] = value.T.copy() if ours.startswith("W") else value
    return LayerInfo(0, kind, {"units": module.hidden_size, "return_sequences": sequences,
                               "bidirectional": bidirectional, **args}, arrays)


@pytest.mark.parametrize("kind, act", [("rnn", "tanh"), ("rnn", "relu"), ("lstm", None),
                                       ("gru", None)])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("sequences", [False, True])
def test_recurrent(dtype, kind, act, bidirectional, sequences):
    tdt = DTYPES[dtype][0]
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    module = cls(4, 6, batch_first=True, bidirectional=bidirectional, dtype=tdt,
                 **({"nonlinearity": act} if act else {}))
    x = torch.randn(5, 9, 4, dtype=tdt)
    out = module(x)[0]
    if not sequences:  # the forward direction's last step, the backward direction's first
        out = torch.cat([out[:, -1, :6], out[:, 0, 6:]], dim=1) if bidirectional else out[:, -1]
    info = recurrent_info(module, kind, sequences, bidirectional, dtype,
                          **({"activation": act} if act else {}))
    info.input_shape, info.output_shape = (9, 4), tuple(out.shape[1:])
    check([info], np_(x, dtype), out, dtype)


def test_float32_scan_matches_the_onnx_ops():
    """The written-out cell (used in float64) agrees with ONNX's LSTM op in float32 too."""
    from nettrain.export import layers

    torch.manual_seed(1)
    module = torch.nn.LSTM(4, 6, batch_first=True, bidirectional=True)
    x = np_(torch.randn(3, 8, 4), "float32")
    info = recurrent_info(module, "lstm", True, True, "float32")
    info.input_shape, info.output_shape = (8, 4), (8, 12)
    b = GraphBuilder("float32")
    y = layers._recurrent_scan(b, info, b.add_input("X", "float32", ["n", 8, 4]))
    b.add_output("y", y, "float32", ["n", 8, 12])
    got = ort.InferenceSession(b.model("t").SerializeToString()).run(None, {"X": x})[0]
    np.testing.assert_allclose(got, onnx_forward([info], x, "float32"), atol=1e-5)


NETWORKS = {
    "cnn": ((2, 12, 11), [
        {"type": "random_flip"}, {"type": "random_shift", "max_pixels": 1},
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "batchnorm"},
        {"type": "max_pool2d", "pool_size": 2},
        {"type": "conv2d", "filters": 5, "kernel_size": [3, 2], "stride": 2, "padding": 1,
         "activation": "elu"},
        {"type": "avg_pool2d", "pool_size": 3, "stride": 1, "padding": 1},
        {"type": "dropout", "rate": 0.3},
        {"type": "flatten"}, {"type": "dense", "units": 3}]),
    "cnn_global": ((3, 9, 9), [
        {"type": "conv2d", "filters": 6, "kernel_size": 2, "use_bias": False},
        {"type": "global_avg_pool2d"}, {"type": "dense", "units": 2}]),
    "recurrent": ((7, 3), [
        {"type": "lstm", "units": 5, "return_sequences": True, "bidirectional": True},
        {"type": "gru", "units": 4, "return_sequences": True},
        {"type": "rnn", "units": 3, "activation": "relu", "bidirectional": True},
        {"type": "dense", "units": 2}]),
    "text": ((6,), [
        {"type": "embedding", "output_dim": 4, "input_dim": 11},
        {"type": "gru", "units": 5, "bidirectional": True}, {"type": "dense", "units": 3}]),
}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_network_matches_nettrain_forward(dtype, name):
    """The converters chained over a nettrain Model give its evaluation-mode forward pass."""
    from nettrain.export.layers import layer_infos
    from nettrain.nn.layers import LAYERS
    from nettrain.nn.model import Model

    shape, specs = NETWORKS[name]
    absent = sorted({s["type"] for s in specs} - set(LAYERS))
    if absent:
        pytest.skip(f"layer types not in this version: {', '.join(absent)}")
    rng = np.random.default_rng(3)
    model = Model(specs, shape, dtype=dtype, rng=1)
    for layer in model.layers:  # trained-looking statistics, not the initial 0 and 1
        for key, low in (("running_mean", -1), ("running_var", 0.5)):
            if key in layer.buffers:
                layer.buffers[key][...] = rng.uniform(low, low + 1.5, layer.buffers[key].shape)
    if name == "text":
        x, in_dtype = rng.integers(0, 11, (8, *shape)), "int64"
    else:
        x, in_dtype = rng.normal(size=(8, *shape)).astype(dtype), dtype
    want = model.forward(x.astype(dtype), training=False)
    got = onnx_forward(layer_infos(model), x, dtype, in_dtype)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=DTYPES[dtype][1])
