"""The run's preprocessing and decoding as ONNX nodes, as `nettrain predict` applies them.

Inputs, as the run's data kind asks for them through `InputBuilder`: one per raw column of a
table (numeric columns in the run's float dtype, categorical columns as strings, each of shape
(n,), or (n, steps) for a time-series window), one array `X` for data that comes as arrays,
or token ids `X` (n, T) for a text model.
Then, in predict's order: missing values (`mean`: a NaN or infinite number takes the train
mean; a missing or unseen category encodes as all zeros), one-hot levels, scaling. Outputs:
`probabilities` (n, classes) and `label` (n,) in the original class names, or `value`
(n, targets) in the targets' units (float64, as predict computes it).
"""

import numpy as np

from nettrain.export.builder import ExportError, elem_type

# Cells pandas reads as missing (its default na_values): a category input holding one of
# these is a missing value, as in predict.
NA_STRINGS = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
              "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")
BATCH = "n"


class InputBuilder:
    """What a data kind is handed to add its inputs and preprocessing to the graph
    (`DataKind.export_inputs`). Each input method adds graph inputs and returns (the model's
    input, a bool (n,) mask of the samples predict would refuse or leave out, or None).

    Args:
        b: the GraphBuilder of the model being exported.
    """

    def __init__(self, b):
        self.b = b
        self.documents = {}  # name -> JSON document written beside the model

    def table_columns(self, pre, model_shape, steps=None):
        """One input per raw column of the table `pre` encodes (see `table_inputs`)."""
        return table_inputs(self.b, pre, model_shape, steps)

    def array(self, pre, sample_shape, model_shape):
        """One input `X` (n, *sample_shape) of array data (see `array_input`)."""
        return array_input(self.b, pre, sample_shape, model_shape)

    def token_ids(self, shape):
        """One input `X`: token ids (n, *shape) as int64, never scaled."""
        return token_id_input(self.b, shape)

    def document(self, name, doc):
        """Write the JSON document `doc` beside the model as `<stem>.<name>.json`."""
        self.documents[name] = doc

    def refuse(self, reason):
        """The run has no ONNX form: an ExportError saying why."""
        raise ExportError(reason)


def table_inputs(b, pre, model_shape, steps=None):
    """Graph inputs for the raw columns of a table; returns (X, missing_row_mask or None).

    X is what the network takes: each row's features (numbers and one-hot levels) imputed,
    scaled and reshaped to `model_shape` (data.shape). With `steps` (a time-series window)
    each input is (n, steps), one window of the column per sample, and X (n, steps, features).
    The mask is a bool (n,) marking samples predict would refuse or leave out (data.missing
    error or drop), else None.
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
    mask = None
    for m in missing:
        mask = m if mask is None else b.op("Or", [mask, m])
    if mask is not None and steps is not None:  # a window with a missing value anywhere
        mask = _any_row(b, b.op("Cast", [mask], to=elem_type(dtype)))
    if steps is not None:
        model_shape = None  # (steps, features) already
    return to_sample(b, pre, X, _numeric_positions(pre), model_shape), mask


def token_id_input(b, shape):
    """The one input `X`: token ids (n, T) as int64, never scaled."""
    return b.add_input("X", "int64", [BATCH, *shape]), None


def array_input(b, pre, sample_shape, model_shape):
    """The one input `X` (n, *sample_shape) for array data (an .npz X, images), imputed,
    scaled and reshaped to the model's `model_shape`."""
    x = b.add_input("X", b.dtype, [BATCH, *sample_shape])
    if pre.levels:
        raise ExportError("A categorical column in array data has no ONNX form here: export "
                          "needs numeric arrays or table columns.")
    mask = _any_row(b, _non_finite(b, x, cast=True)) if pre.missing != "mean" else None
    if len(sample_shape) > 1:
        x = b.op("Flatten", [x], axis=1)
    return to_sample(b, pre, x, None, model_shape), mask


def _any_row(b, flags):
    """bool (n,): whether any value of a sample is flagged (flags: 1/0 floats, any shape)."""
    flat = b.op("Flatten", [flags], axis=1)
    return b.op("Cast", [b.op("ReduceMax", [flat], axes=[1], keepdims=0)], to=elem_type("bool"))


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


def to_sample(b, pre, X, pos, model_shape):
    """Fill missing numbers with train means, scale, and reshape each row to the model's
    sample shape, in predict's dtype and order.

    X holds the features on its last axis; `pos` are its numeric ones (None: all). Statistics
    come per feature, or per channel for a (C, H, W) sample (one per channel, scaled after
    the reshape). One-hot columns get fill 0 / center 0 / spread 1 in the full-width
    constants, which leaves them exactly as they are.
    """
    dtype, width = b.dtype, int(pre.n_features)
    numeric = pos is None or len(pos) > 0

    def full(values, other):
        values = np.asarray(values).astype(dtype)
        if pos is None or len(values) != len(pos):
            return values
        out = np.full(width, other, dtype=dtype)
        out[pos] = values
        return out

    if pre.missing == "mean" and pre.fill is not None and numeric:
        X = b.op("Where", [_non_finite(b, X), b.const(full(pre.fill, 0), "fill"), X], "filled")
    reshape = model_shape is not None and tuple(model_shape) != (width,)
    center = None if pre.scale == "none" or not numeric else pre.center
    if center is not None and len(center) not in (width, len(pos) if pos is not None else width):
        if not (reshape and len(model_shape) == 3 and len(center) == model_shape[0]):
            raise ExportError(f"The run's scaling has {len(center)} statistics for samples of "
                              f"shape {tuple(model_shape or (width,))}: neither per feature nor "
                              "per channel, so it has no ONNX form here.")
        X, reshape = b.op("Reshape", [X, b.ints([0, *model_shape])], "sample"), False
        stat = (len(center), 1, 1)  # per channel
        X = b.op("Sub", [X, b.const(np.asarray(center).astype(dtype).reshape(stat), "center")])
        X = b.op("Div", [X, b.const(np.asarray(pre.spread).astype(dtype).reshape(stat), "spread")],
                 "scaled")
    elif center is not None:
        X = b.op("Sub", [X, b.const(full(center, 0), "center")])
        X = b.op("Div", [X, b.const(full(pre.spread, 1), "spread")], "scaled")
    if reshape:
        X = b.op("Reshape", [X, b.ints([0, *model_shape])], "sample")
    return X


def outputs(b, pre, loss_name, y, mask, decision=(1, 0.5)):
    """Graph outputs from the network output y: classification or regression.

    `decision` is a two-class model's (positive class index, probability threshold): the
    positive class where its probability >= threshold, as predict decides.
    """
    if pre.task == "classification":
        return _classification(b, pre, loss_name, y, mask, decision)
    value = b.op("Cast", [y], to=elem_type("float64"))
    if pre.target_center is not None:  # predict undoes target scaling in float64
        value = b.op("Mul", [value, b.const(np.asarray(pre.target_spread, np.float64), "target_spread")])
        value = b.op("Add", [value, b.const(np.asarray(pre.target_center, np.float64), "target_center")])
    if mask is not None:
        value = _where_rows(b, mask, np.float64(np.nan), value, "float64")
    b.add_output("value", value, "float64", [BATCH, len(pre.targets)])


def _classification(b, pre, loss_name, y, mask, decision):
    classes = np.asarray(pre.classes)
    if loss_name == "binary_cross_entropy":
        p = b.op("Sigmoid", [y])  # (n, 1): the second class's probability
        proba = b.op("Concat", [b.op("Sub", [b.scalar(1.0), p]), p], axis=1)
    else:
        proba = b.op("Softmax", [y], axis=1)
    if len(classes) == 2:
        pos, threshold = decision
        p_pos = b.op("Gather", [proba, b.ints(pos, "positive")], axis=1)
        index = b.op("Where", [b.op("GreaterOrEqual", [p_pos, b.scalar(threshold, "threshold")]),
                               b.ints(pos, "positive_index"), b.ints(1 - pos, "negative_index")])
    else:
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
