"""A small builder over `onnx.helper`: unique value names, constants, nodes, the checked model.

The preprocessing and network modules only call `const`, `op`, `add_input` and `add_output`;
`onnx` is imported when a graph is built, so nettrain runs without it until an export.
"""

import json

import numpy as np

from nettrain.errors import NettrainError

OPSET = 17  # the default domain's opset: RNN/LSTM/GRU, Softmax on an axis, LabelEncoder below
ML_OPSET = 2  # ai.onnx.ml: LabelEncoder with string keys
INSTALL = 'pip install "nettrain[onnx]"'


class ExportError(NettrainError):
    """A run that cannot be written as ONNX: a layer or a preprocessing step with no ONNX form."""


def require_onnx():
    """The onnx module, or an ExportError that says how to install it."""
    try:
        import onnx
    except ImportError:
        raise ExportError("Exporting to ONNX needs the onnx package, which is not installed. "
                          f"Install it with: {INSTALL}") from None
    return onnx


def elem_type(dtype):
    """The ONNX element type of a NumPy dtype (or "string")."""
    from onnx import TensorProto

    if dtype == "string":
        return TensorProto.STRING
    kind = np.dtype(dtype)
    return {np.dtype("float32"): TensorProto.FLOAT, np.dtype("float64"): TensorProto.DOUBLE,
            np.dtype("int64"): TensorProto.INT64, np.dtype("bool"): TensorProto.BOOL}[kind]


class GraphBuilder:
    """Collects the inputs, nodes, constants and outputs of one graph.

    Args:
        dtype: the model's float dtype; `scalar` and `const` use it for Python numbers.
        parent: the builder of the enclosing graph, for a Scan body: names stay unique across
            both, and the body's constants live in the outer graph (read as outer-scope values).
    """

    def __init__(self, dtype, parent=None):
        self.dtype = np.dtype(dtype)
        self.parent = parent
        self._used = parent._used if parent else set()
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self.domains = parent.domains if parent else {"": OPSET}

    def fresh(self, hint):
        """A value name not used yet, built from `hint`."""
        name, i = hint, 1
        while name in self._used:
            name, i = f"{hint}_{i}", i + 1
        self._used.add(name)
        return name

    def const(self, value, hint="const", dtype=None):
        """An initializer holding `value` (an array, a number, or strings); its name."""
        if self.parent is not None:
            return self.parent.const(value, hint, dtype)
        from onnx import TensorProto, helper, numpy_helper

        array = np.asarray(value, dtype=dtype)
        if array.dtype.kind in "fc" and dtype is None and not isinstance(value, np.ndarray):
            array = array.astype(self.dtype)  # Python floats take the model's dtype
        name = self.fresh(hint)
        if array.dtype.kind in "OUS":
            data = [str(s).encode("utf-8") for s in array.ravel().tolist()]
            tensor = helper.make_tensor(name, TensorProto.STRING, array.shape, data)
        else:
            tensor = numpy_helper.from_array(array.copy(order="C"), name)  # keeps 0-d arrays 0-d
        self.initializers.append(tensor)
        return name

    def scalar(self, value, hint="c"):
        """A 0-d constant in the model's dtype (broadcasts against any tensor)."""
        return self.const(np.asarray(value, dtype=self.dtype), hint)

    def ints(self, values, hint="shape"):
        return self.const(np.asarray(values, dtype=np.int64), hint)

    def op(self, op_type, inputs, hint=None, outputs=1, domain="", **attrs):
        """Append one node; return its output name (or the list of names for outputs > 1)."""
        from onnx import helper

        names = [self.fresh(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names,
                                           domain=domain or None, **attrs))
        if domain:
            self.domains.setdefault(domain, ML_OPSET)
        return names[0] if outputs == 1 else names

    def add_input(self, name, dtype, shape):
        """A graph input; `shape` uses None or a string for a free dimension."""
        from onnx import helper

        if name in self._used:
            raise ExportError(f"Two inputs would both be called {name!r}.")
        self._used.add(name)
        self.inputs.append(helper.make_tensor_value_info(name, elem_type(dtype), shape))
        return name

    def add_output(self, name, value, dtype, shape):
        """Expose `value` as the graph output `name`."""
        from onnx import helper

        out = self.fresh(name)
        self.nodes.append(helper.make_node("Identity", [value], [out]))
        self.outputs.append(helper.make_tensor_value_info(out, elem_type(dtype), shape))
        return out

    def graph(self, name):
        from onnx import helper

        return helper.make_graph(self.nodes, name, self.inputs, self.outputs, self.initializers)

    def model(self, name, doc="", metadata=None):
        """The checked ModelProto (onnx.checker with full shape and type inference)."""
        onnx = require_onnx()
        from onnx import helper

        opsets = [helper.make_opsetid(d, v) for d, v in self.domains.items()]
        model = helper.make_model(self.graph(name), opset_imports=opsets,
                                  producer_name="nettrain", doc_string=doc)
        model.ir_version = min(model.ir_version, 8)  # readable by ONNX Runtime 1.10 and later
        for key, value in (metadata or {}).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
        onnx.checker.check_model(model, full_check=True)
        return model

