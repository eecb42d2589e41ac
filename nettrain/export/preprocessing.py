"""The run's preprocessing and decoding as ONNX nodes, as `nettrain predict` applies them.

Inputs: one per raw column of a table (numeric columns in the run's float dtype, categorical
columns as strings, each of shape (n,), or (n, steps) for a time-series window), one array `X`
for data that comes as arrays, or token ids `X` (n, T) for a text model.
Then, in predict's order: missing values (`mean`: a NaN or infinite number takes the train
mean; a missing or unseen category encodes as all zeros), one-hot levels, scaling. Outputs:
`probabilities` (n, classes) and `label` (n,) in the original class names, or `value`
(n, targets) in the targets' units (float64, as predict computes it).
"""

import numpy as np

from .builder import ExportError, elem_type

# Cells pandas reads as missing (its default na_values): a category input holding one of
# these is a missing value, as in predict.
NA_STRINGS = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
              "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")
BATCH = "n"


def table_inputs(b, pre, steps=None):
    """Graph inputs for the raw columns of a table; returns (X, missing_row_mask or None).

    X is (n, n_features) as the network sees it; with `steps` (a time-series window) each
    input is (n, steps), one window of the column per sample, and X is (n, steps, n_features).
    The mask is a bool (n,) that marks samples predict would refuse or leave out
    (data.missing error or drop), else None.
    """
    dtype, pieces, missing = b.dtype, [], []
    shape = [BATCH] if steps is None else [BATCH, steps]
    for name in pre.features:
        levels = pre.levels.get(name)
        if levels is None:
            x = b.add_input(name, dtype, shape)
            if pre.missing != "mean":
                missing.append(_non_finite(b, x))
            pieces.append(b.op("Unsqueeze", [x, b.ints([-1])], f"{name}.column"))
            continue
        x = b.add_input(name, "string", shape)
        keys = list(levels) + [s for s in NA_STRINGS if s not in levels]
        codes = list(range(len(levels))) + [-2] * (len(keys) - len(levels))
        code = b.op("LabelEncoder", [x], f"{name}.code", domain="ai.onnx.ml",
                    keys_strings=keys, values_int64s=codes, default_int64=-1)
        if pre.missing != "mean":
            missing.append(b.op("Equal", [code, b.ints(-2, "na_code")]))
        hit = b.op("Equal", [b.op("Unsqueeze", [code, b.ints([-1])]),
                             b.ints(np.arange(len(levels)), f"{name}.levels")])
        pieces.append(b.op("Cast", [hit], f"{name}.onehot", to=elem_type(dtype)))
    X = pieces[0] if len(pieces) == 1 else b.op("Concat", pieces, "features", axis=-1)
    X = numeric_steps(b, pre, X, _numeric_positions(pre))
    mask = None
    for m in missing:
        mask = m if mask is None else b.op("Or", [mask, m])
    if mask is not None and steps is not None:  # a window with a missing value anywhere
        mask = b.op("Cast", [b.op("ReduceMax", [b.op("Cast", [mask], to=elem_type("int64"))],
                                  axes=[1], keepdims=0)], to=elem_type("bool"))
    return X, mask


def token_id_input(b, shape):
    """The one input `X`: token ids (n, T) as int64, never scaled."""
    return b.add_input("X", "int64", [BATCH, *shape]), None


def array_input(b, pre, sample_shape, model_shape):
    """The one input `X` (n, *sample_shape) for array data, its scaling, then the model's
    sample shape (data.shape reshapes each preprocessed row in C order).

    Statistics come per feature (one per value of a sample) or per channel (the sample's
    first axis, images).
    """
    x = b.add_input("X", b.dtype, [BATCH, *sample_shape])
    if pre.levels:
        raise ExportError("A categorical column in array data has no ONNX form here: export "
                          "needs numeric arrays or table columns.")
    mask = None
    if pre.missing != "mean":
        flat = b.op("Flatten", [_non_finite(b, x, cast=True)], axis=1)
        mask = b.op("Cast", [b.op("ReduceMax", [flat], axes=[1], keepdims=0)],
                    to=elem_type("bool"))
    size = int(np.prod(sample_shape))
    stats = next((v for v in (pre.center, pre.fill) if v is not None), None)
    if stats is None or len(stats) == size:  # per feature, on the flattened sample
        x = b.op("Flatten", [x], axis=1) if len(sample_shape) > 1 else x
        x = numeric_steps(b, pre, x, None)
    elif len(stats) == sample_shape[0]:  # per channel
        x = numeric_steps(b, pre, x, None, (len(stats),) + (1,) * (len(sample_shape) - 1))
    else:
        raise ExportError(f"The run's scaling has {len(stats)} statistics for samples of shape "
                          f"{tuple(sample_shape)}: neither per value nor per channel, so it has "
                          "no ONNX form here.")
    if tuple(model_shape) != (size,) or len(sample_shape) > 1:
        x = b.op("Reshape", [x, b.ints([0, *model_shape])], "sample")
    return x, mask


def _non_finite(b, x, cast=False):
    bad = b.op("Or", [b.op("IsNaN", [x]), b.op("IsInf", [x])])
    return b.op("Cast", [bad], to=elem_type(b.dtype)) if cast else bad


def _numeric_positions(pre):
    pos, at = [], 0
    for name in pre.features:
        if name in pre.levels:
            at += len(pre.levels[name])
        else:
            pos.append(at)
            at += 1
    return np.array(pos, dtype=np.int64)


def numeric_steps(b, pre, X, pos, stat_shape=None):
    """Fill missing numbers with train means, then scale, in predict's dtype and order.

    `pos` are the numeric columns of X (None: every column). One-hot columns get fill 0 /
    center 0 / spread 1 in the full-width constants, which leaves them exactly as they are.
    `stat_shape` reshapes per-channel statistics to broadcast against a sample.
    """
    dtype, width = b.dtype, int(pre.n_features)

    def full(values, other):
        if pos is None:
            values = np.asarray(values).astype(dtype)
            return values if stat_shape is None else values.reshape(stat_shape)
        out = np.full(width, other, dtype=dtype)
        out[pos] = np.asarray(values).astype(dtype)
        return out

    if pre.missing == "mean" and pre.fill is not None and (pos is None or len(pos)):
        bad = _non_finite(b, X)
        X = b.op("Where", [bad, b.const(full(pre.fill, 0), "fill"), X], "filled")
    if pre.scale != "none" and pre.center is not None and (pos is None or len(pos)):
        X = b.op("Sub", [X, b.const(full(pre.center, 0), "center")])
        X = b.op("Div", [X, b.const(full(pre.spread, 1), "spread")], "scaled")
    return X


def outputs(b, pre, loss_name, y, mask):
    """Graph outputs from the network output y: classification or regression."""
    if pre.task == "classification":
        return _classification(b, pre, loss_name, y, mask)
    value = b.op("Cast", [y], to=elem_type("float64"))
    if pre.target_center is not None:  # predict undoes target scaling in float64
        value = b.op("Mul", [value, b.const(np.asarray(pre.target_spread, np.float64), "target_spread")])
        value = b.op("Add", [value, b.const(np.asarray(pre.target_center, np.float64), "target_center")])
    if mask is not None:
        value = _where_rows(b, mask, np.float64(np.nan), value, "float64")
    b.add_output("value", value, "float64", [BATCH, len(pre.targets)])


def _classification(b, pre, loss_name, y, mask):
    classes = np.asarray(pre.classes)
    if loss_name == "binary_cross_entropy":
        p = b.op("Sigmoid", [y])  # (n, 1): the second class's probability
        proba = b.op("Concat", [b.op("Sub", [b.scalar(1.0), p]), p], axis=1)
        index = b.op("Cast", [b.op("GreaterOrEqual", [p, b.scalar(0.5)])], to=elem_type("int64"))
        index = b.op("Squeeze", [index, b.ints([1])])
    else:
        proba = b.op("Softmax", [y], axis=1)
        index = b.op("ArgMax", [proba], axis=1, keepdims=0)
    if classes.dtype.kind in "iub":
        table, kind = classes.astype(np.int64), "int64"
    elif classes.dtype.kind == "f":
        table, kind = classes.astype(np.float64), "float64"
    else:
        table, kind = np.array([str(c) for c in classes.tolist()], dtype=object), "string"
    label = b.op("Gather", [b.const(table, "classes"), index], axis=0)
    if mask is not None:
        proba = _where_rows(b, mask, b.dtype.type(np.nan), proba, b.dtype)
        blank = {"string": "", "float64": np.float64(np.nan)}.get(kind)
        if blank is not None:  # an integer label has no blank; its probabilities are NaN
            label = b.op("Where", [mask, b.const(np.array(blank, dtype=object if kind == "string"
                                                           else np.float64), "blank"), label])
    b.add_output("label", label, kind, [BATCH])
    b.add_output("probabilities", proba, b.dtype, [BATCH, len(classes)])


def _where_rows(b, mask, blank, value, dtype):
    rows = b.op("Unsqueeze", [mask, b.ints([1])])
    return b.op("Where", [rows, b.const(np.asarray(blank, dtype=dtype), "nan"), value])
