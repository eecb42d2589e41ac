"""The network as ONNX nodes: one converter per layer type, one per activation.

A converter is `fn(b, layer, x) -> y`: `b` the GraphBuilder, `layer` a `LayerInfo` (the
layer's config arguments, its arrays and its sample shapes), `x` the name of its input
(a batch). Register a new layer type with `@register_layer_converter("type")`; a model holding
a layer type without one cannot be exported, and the error names the layer.

The maths is nettrain's (PyTorch's layouts): dense `W` is (in, out); conv2d `W` is
(filters, C, kh, kw) as ONNX's Conv wants it; recurrent weights are PyTorch's transposed,
gates in PyTorch's order (LSTM i, f, g, o; GRU r, z, n), which the ONNX RNN/LSTM/GRU ops
want in their own order (LSTM i, o, f, c; GRU z, r, h).
"""

import math
from dataclasses import dataclass, field

import numpy as np

from nettrain import registry
from nettrain.export.builder import ExportError, GraphBuilder, elem_type

LAYER_CONVERTERS = {}  # layer type -> fn(b, layer, x) -> y, filled by @register_layer_converter
ACTIVATION_CONVERTERS = {}  # activation name -> fn(b, x, args) -> y, by @register_activation_converter
register_layer_converter = registry.registrar("layer converter", LAYER_CONVERTERS, attribute=None)
register_activation_converter = registry.registrar("activation converter", ACTIVATION_CONVERTERS,
                                                   attribute=None)


@dataclass
class LayerInfo:
    """What a converter needs to know about one layer.

    Attributes:
        index: the position in model.layers (names the layer in errors and value names).
        type: the layer type, e.g. "dense".
        args: every argument of the layer (`layer.config()` without "type"), defaults included.
        arrays: params and buffers by name (`W`, `b`, `running_mean`, ...).
        input_shape, output_shape: sample shapes (without the batch axis).
    """

    index: int
    type: str
    args: dict
    arrays: dict = field(default_factory=dict)
    input_shape: tuple = ()
    output_shape: tuple = ()

    @property
    def where(self):
        return f"model.layers[{self.index}] ({self.type})"

    @property
    def prefix(self):
        return f"layers.{self.index}"


def layer_infos(model):
    """A LayerInfo per layer of a nettrain Model."""
    infos, shape = [], _sample_shape(model.input_shape)
    for i, layer in enumerate(model.layers):
        spec = dict(layer.config())
        kind = spec.pop("type")
        arrays = {k: np.asarray(v) for k, v in {**layer.params, **layer.buffers}.items()}
        out = _sample_shape(model.shapes[i])
        infos.append(LayerInfo(i, kind, spec, arrays, shape, out))
        shape = out
    return infos


def _sample_shape(shape):
    return tuple(shape) if isinstance(shape, (tuple, list)) else (int(shape),)


def convert_network(b, infos, x):
    """The network's output for the batch `x`, layer by layer."""
    missing = [info for info in infos if info.type not in LAYER_CONVERTERS]
    if missing:
        names = ", ".join(info.where for info in missing)
        raise ExportError(f"{names}: this layer type has no ONNX converter, so the run cannot "
                          f"be exported. Layer types that export: {', '.join(sorted(LAYER_CONVERTERS))}.")
    for info in infos:
        x = LAYER_CONVERTERS[info.type](b, info, x)
    return x


def activation(b, spec, x, where):
    """Apply an activation given as a config spec (a name or a mapping with `name`)."""
    if spec is None:
        return x
    name, args = (spec, {}) if isinstance(spec, str) else (spec["name"], {
        k: v for k, v in spec.items() if k != "name"})
    if name not in ACTIVATION_CONVERTERS:
        raise ExportError(f"{where}: the activation {name!r} has no ONNX converter, so the run "
                          f"cannot be exported. Activations that export: "
                          f"{', '.join(sorted(ACTIVATION_CONVERTERS))}.")
    return ACTIVATION_CONVERTERS[name](b, x, args)


# ---------------------------------------------------------------- activations


@register_activation_converter("identity", "linear")
def _identity(b, x, args):
    return x


@register_activation_converter("relu")
def _relu(b, x, args):
    return b.op("Relu", [x])


@register_activation_converter("leaky_relu")
def _leaky_relu(b, x, args):
    # written out: LeakyRelu's alpha attribute is a float32, off by 1e-8 for a float64 model
    slope = b.op("Mul", [x, b.scalar(float(args["negative_slope"]))])
    return b.op("Where", [b.op("Greater", [x, b.scalar(0.0)]), x, slope])


@register_activation_converter("elu")
def _elu(b, x, args):
    # written out: ONNX Runtime's Elu has no float64 kernel
    negative = b.op("Sub", [b.op("Exp", [b.op("Min", [x, b.scalar(0.0)])]), b.scalar(1.0)])
    negative = b.op("Mul", [b.scalar(float(args["alpha"])), negative])
    return b.op("Where", [b.op("Greater", [x, b.scalar(0.0)]), x, negative])


@register_activation_converter("gelu")
def _gelu(b, x, args):
    # the tanh form, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); opset 17 has no Gelu op
    cube = b.op("Mul", [b.op("Mul", [x, x]), x])
    inner = b.op("Add", [x, b.op("Mul", [b.scalar(0.044715), cube])])
    t = b.op("Tanh", [b.op("Mul", [b.scalar(math.sqrt(2 / math.pi)), inner])])
    return b.op("Mul", [b.op("Mul", [b.scalar(0.5), x]), b.op("Add", [b.scalar(1.0), t])])


@register_activation_converter("sigmoid")
def _sigmoid(b, x, args):
    return b.op("Sigmoid", [x])


@register_activation_converter("tanh")
def _tanh(b, x, args):
    return b.op("Tanh", [x])


@register_activation_converter("softplus")
def _softplus(b, x, args):
    # log(1 + exp(x)) as max(x, 0) + log(1 + exp(-|x|)): finite for every x (as logaddexp)
    tail = b.op("Log", [b.op("Add", [b.scalar(1.0), b.op("Exp", [b.op("Neg", [b.op("Abs", [x])])])])])
    return b.op("Add", [b.op("Relu", [x]), tail])


@register_activation_converter("silu", "swish")
def _silu(b, x, args):
    return b.op("Mul", [x, b.op("Sigmoid", [x])])


# ---------------------------------------------------------------- layers


@register_layer_converter("dense")
def _dense(b, layer, x):
    p = layer.prefix
    y = b.op("MatMul", [x, b.const(layer.arrays["W"], f"{p}.W")], f"{p}.matmul")
    if "b" in layer.arrays:
        y = b.op("Add", [y, b.const(layer.arrays["b"], f"{p}.b")], f"{p}.add")
    return activation(b, layer.args["activation"], y, layer.where)


@register_layer_converter("dropout", "random_flip", "random_shift")
def _identity_at_inference(b, layer, x):
    return x  # training-only layers: the identity when predicting


@register_layer_converter("activation")
def _activation_layer(b, layer, x):
    return activation(b, layer.args["activation"], x, layer.where)


@register_layer_converter("batchnorm")
def _batchnorm(b, layer, x):
    """Evaluation mode, as nettrain computes it: ((x - mean) * (1 / sqrt(var + eps))) * gamma + beta,
    per channel (the sample's first axis)."""
    a, p = layer.arrays, layer.prefix
    dtype = a["running_var"].dtype
    inv_std = 1 / np.sqrt(a["running_var"] + dtype.type(layer.args["eps"]))
    shape = _channel_shape(layer, a["gamma"].size)
    consts = {k: b.const(v.reshape(shape), f"{p}.{k}") for k, v in
              (("running_mean", a["running_mean"]), ("inv_std", inv_std),
               ("gamma", a["gamma"]), ("beta", a["beta"]))}
    y = b.op("Sub", [x, consts["running_mean"]])
    y = b.op("Mul", [y, consts["inv_std"]])
    y = b.op("Mul", [y, consts["gamma"]])
    return b.op("Add", [y, consts["beta"]], f"{p}.batchnorm")


def _channel_shape(layer, size):
    """How the per-channel statistics broadcast against one sample: along its first axis,
    (C,) for features, (C, 1, 1) for images (C, H, W), (C, 1) for (C, L)."""
    return (size,) + (1,) * (len(layer.input_shape) - 1)


@register_layer_converter("flatten")
def _flatten(b, layer, x):
    return b.op("Flatten", [x], f"{layer.prefix}.flatten", axis=1)


def _pair(value):
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)] * 2


def _conv_pads(padding, kernel, stride):
    """ONNX pads [top, left, bottom, right] for nettrain's/PyTorch's padding argument."""
    if padding == "valid":
        return [0, 0, 0, 0]
    if padding == "same":  # PyTorch: total k - 1, the smaller half before
        total = [k - 1 for k in kernel]
        before = [t // 2 for t in total]
        return before + [t - s for t, s in zip(total, before)]
    ph, pw = _pair(padding)
    return [ph, pw, ph, pw]


@register_layer_converter("conv2d")
def _conv2d(b, layer, x):
    a, p = layer.arrays, layer.prefix
    kernel = list(a["W"].shape[2:])
    stride = _pair(layer.args["stride"])
    pads = _conv_pads(layer.args["padding"], kernel, stride)
    if b.dtype == np.float32:
        inputs = [x, b.const(a["W"], f"{p}.W")] + ([b.const(a["b"], f"{p}.b")] if "b" in a else [])
        y = b.op("Conv", inputs, f"{p}.conv", kernel_shape=kernel, strides=stride, pads=pads)
    else:  # ONNX Runtime has no float64 Conv: the same sums as one product of patches
        filters, channels = a["W"].shape[:2]
        patches = [b.op("Unsqueeze", [q, b.ints([2])])
                   for q in _patches(b, layer, x, kernel, stride, pads)]
        cols = b.op("Concat", patches, axis=2)  # (n, C, kh*kw, Ho, Wo)
        ho, wo = layer.output_shape[1:]
        cols = b.op("Reshape", [cols, b.ints([0, channels * len(patches), ho * wo])])
        W = a["W"].reshape(filters, -1)  # (filters, C*kh*kw), the same (c, i, j) order
        y = b.op("MatMul", [b.const(W, f"{p}.W"), cols])
        y = b.op("Reshape", [y, b.ints([0, filters, ho, wo])], f"{p}.conv")
        if "b" in a:
            y = b.op("Add", [y, b.const(a["b"].reshape(-1, 1, 1), f"{p}.b")])
    return activation(b, layer.args["activation"], y, layer.where)


def _patches(b, layer, x, kernel, stride, pads):
    """For each kernel offset (i, j), in C order: the input values it meets at every output
    position, (n, C, Ho, Wo), taken from the zero-padded input with a strided Slice."""
    if any(pads):
        x = b.op("Pad", [x, b.ints([0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]])])
    ho, wo = layer.output_shape[1:]
    out = []
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            ends = [i + (ho - 1) * stride[0] + 1, j + (wo - 1) * stride[1] + 1]
            out.append(b.op("Slice", [x, b.ints([i, j]), b.ints(ends), b.ints([2, 3]),
                                      b.ints(stride)]))
    return out


def _pool_attrs(layer):
    size = _pair(layer.args["pool_size"])
    stride, padding = layer.args["stride"], layer.args["padding"]
    return {"kernel_shape": size, "strides": _pair(size if stride is None else stride),
            "pads": _conv_pads(padding, size, None) if padding in ("same", "valid")
            else _pair(padding) * 2}


@register_layer_converter("max_pool2d")
def _max_pool2d(b, layer, x):
    return b.op("MaxPool", [x], f"{layer.prefix}.maxpool", **_pool_attrs(layer))


@register_layer_converter("avg_pool2d")
def _avg_pool2d(b, layer, x):
    attrs = _pool_attrs(layer)
    if b.dtype == np.float32:
        return b.op("AveragePool", [x], f"{layer.prefix}.avgpool", count_include_pad=1, **attrs)
    # ONNX Runtime has no float64 AveragePool: the window sums over the zero-padded input
    patches = _patches(b, layer, x, attrs["kernel_shape"], attrs["strides"], attrs["pads"])
    total = b.op("Sum", patches)
    return b.op("Div", [total, b.scalar(float(len(patches)))], f"{layer.prefix}.avgpool")


@register_layer_converter("global_avg_pool2d")
def _global_avg_pool2d(b, layer, x):
    return b.op("ReduceMean", [x], f"{layer.prefix}.mean", axes=[2, 3], keepdims=0)


@register_layer_converter("embedding")
def _embedding(b, layer, x):
    ids = b.op("Cast", [x], to=elem_type("int64"))
    return b.op("Gather", [b.const(layer.arrays["W"], f"{layer.prefix}.W"), ids],
                f"{layer.prefix}.embedding", axis=0)


# ---------------------------------------------------------------- recurrent layers

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
# PyTorch's gate blocks in the order the ONNX op wants them
ONNX_GATE_ORDER = {"rnn": [0], "lstm": [0, 3, 1, 2], "gru": [1, 0, 2]}


@register_layer_converter("rnn", "lstm", "gru")
def _recurrent(b, layer, x):
    """ONNX's RNN/LSTM/GRU op in float32; a Scan of the same cell in float64, which ONNX
    Runtime's recurrent ops do not support."""
    if layer.arrays["W_ih"].dtype == np.float32:
        return _recurrent_op(b, layer, x)
    return _recurrent_scan(b, layer, x)


def _directions(layer):
    return [""] + (["_reverse"] if layer.args["bidirectional"] else [])


def _units(layer):
    return layer.arrays["W_hh"].shape[0]


def _reorder(matrix, kind, units):
    """Gate blocks (rows of a (G*units, ...) matrix) from PyTorch's order to ONNX's."""
    blocks = [matrix[g * units:(g + 1) * units] for g in ONNX_GATE_ORDER[kind]]
    return np.concatenate(blocks, axis=0)


def _recurrent_op(b, layer, x):
    a, p, kind, units = layer.arrays, layer.prefix, layer.type, _units(layer)
    dirs = _directions(layer)
    W = np.stack([_reorder(a[f"W_ih{d}"].T, kind, units) for d in dirs])
    R = np.stack([_reorder(a[f"W_hh{d}"].T, kind, units) for d in dirs])
    inputs = [b.op("Transpose", [x], f"{p}.time_major", perm=[1, 0, 2]),
              b.const(W, f"{p}.W"), b.const(R, f"{p}.R")]
    if "b_ih" in a:
        B = np.stack([np.concatenate([_reorder(a[f"b_ih{d}"], kind, units),
                                      _reorder(a[f"b_hh{d}"], kind, units)]) for d in dirs])
        inputs.append(b.const(B, f"{p}.B"))
    attrs = {"hidden_size": units,
             "direction": "bidirectional" if len(dirs) == 2 else "forward"}
    if kind == "gru":
        attrs["linear_before_reset"] = 1
    if kind == "rnn":
        attrs["activations"] = [_rnn_activation(layer).capitalize()] * len(dirs)
    outs = b.op(kind.upper(), inputs, f"{p}.{kind}", outputs=2, **attrs)
    seq, last = outs  # Y (T, dirs, n, units), Y_h (dirs, n, units)
    if layer.args["return_sequences"]:
        y = b.op("Transpose", [seq], perm=[2, 0, 1, 3])
        return b.op("Reshape", [y, b.ints([0, 0, len(dirs) * units])], f"{p}.sequences")
    y = b.op("Transpose", [last], perm=[1, 0, 2])
    return b.op("Reshape", [y, b.ints([0, len(dirs) * units])], f"{p}.last")


def _rnn_activation(layer):
    act = layer.args["activation"]
    name = act if isinstance(act, str) else act["name"]
    if name not in ("tanh", "relu"):
        raise ExportError(f"{layer.where}: activation {name!r} has no ONNX form for rnn "
                          "(tanh or relu).")
    return name


def _recurrent_scan(b, layer, x):
    """The cell written out in a Scan over time (any dtype), PyTorch's equations."""
    a, p, kind, units = layer.arrays, layer.prefix, layer.type, _units(layer)
    n_states = 2 if kind == "lstm" else 1
    batch = b.op("Shape", [x], start=0, end=1)
    zeros_shape = b.op("Concat", [batch, b.ints([units])], axis=0)
    from onnx import numpy_helper

    zero = numpy_helper.from_array(np.zeros(1, a["W_ih"].dtype))
    h0 = b.op("ConstantOfShape", [zeros_shape], f"{p}.h0", value=zero)
    lasts, seqs = [], []
    for d in _directions(layer):
        xw = b.op("MatMul", [x, b.const(a[f"W_ih{d}"], f"{p}.W_ih{d}")])
        if "b_ih" in a:
            xw = b.op("Add", [xw, b.const(a[f"b_ih{d}"], f"{p}.b_ih{d}")])
        xw = b.op("Transpose", [xw], perm=[1, 0, 2])  # (T, n, G*units)
        body = _cell_body(b, layer, d, units)
        reverse = 1 if d else 0
        outs = b.op("Scan", [h0] * n_states + [xw], f"{p}.scan{d}", outputs=n_states + 1,
                    body=body, num_scan_inputs=1, scan_input_directions=[reverse],
                    scan_output_directions=[reverse])
        lasts.append(outs[0])
        seqs.append(b.op("Transpose", [outs[-1]], perm=[1, 0, 2]))
    if layer.args["return_sequences"]:
        return seqs[0] if len(seqs) == 1 else b.op("Concat", seqs, f"{p}.sequences", axis=2)
    return lasts[0] if len(lasts) == 1 else b.op("Concat", lasts, f"{p}.last", axis=1)


def _cell_body(b, layer, d, units):
    """The Scan body: states (and the step's x W_ih + b_ih) in, new states and h out."""
    from onnx import helper

    a, p, kind = layer.arrays, layer.prefix, layer.type
    dtype = a["W_ih"].dtype
    g = GraphBuilder(dtype, parent=b)
    t = elem_type(dtype)
    h = g.fresh(f"{p}.h_in{d}")
    states = [h]
    if kind == "lstm":
        states.append(g.fresh(f"{p}.c_in{d}"))
    xw = g.fresh(f"{p}.xw_t{d}")
    g.inputs = [helper.make_tensor_value_info(n, t, [None, units]) for n in states]
    g.inputs.append(helper.make_tensor_value_info(xw, t, [None, len(ONNX_GATE_ORDER[kind]) * units]))
    hw = g.op("MatMul", [h, g.const(a[f"W_hh{d}"], f"{p}.W_hh{d}")])
    if "b_hh" in a:
        hw = g.op("Add", [hw, g.const(a[f"b_hh{d}"], f"{p}.b_hh{d}")])
    if kind == "rnn":
        pre = g.op("Add", [xw, hw])
        new = [g.op("Relu" if _rnn_activation(layer) == "relu" else "Tanh", [pre])]
    elif kind == "lstm":
        i, f, gg, o = g.op("Split", [g.op("Add", [xw, hw])], outputs=4, axis=1)
        c = g.op("Add", [g.op("Mul", [g.op("Sigmoid", [f]), states[1]]),
                         g.op("Mul", [g.op("Sigmoid", [i]), g.op("Tanh", [gg])])])
        new = [g.op("Mul", [g.op("Sigmoid", [o]), g.op("Tanh", [c])]), c]
    else:  # gru: r, z, n with n = tanh(x W_in + b_in + r * (h W_hn + b_hn))
        xr, xz, xn = g.op("Split", [xw], outputs=3, axis=1)
        hr, hz, hn = g.op("Split", [hw], outputs=3, axis=1)
        r = g.op("Sigmoid", [g.op("Add", [xr, hr])])
        z = g.op("Sigmoid", [g.op("Add", [xz, hz])])
        n = g.op("Tanh", [g.op("Add", [xn, g.op("Mul", [r, hn])])])
        new = [g.op("Add", [g.op("Mul", [g.op("Sub", [g.scalar(1.0), z]), n]), g.op("Mul", [z, h])])]
    outs = [g.op("Identity", [v], f"{p}.state{d}") for v in new]
    outs.append(g.op("Identity", [new[0]], f"{p}.h_t{d}"))
    g.outputs = [helper.make_tensor_value_info(n, t, [None, units]) for n in outs]
    return g.graph(f"{p}.cell{d}")
