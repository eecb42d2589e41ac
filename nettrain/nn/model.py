"""Model: the stack of layers built from `model.layers` specs, its parameters and model.npz."""

import json
import math
import numbers
import zipfile
import zlib

import numpy

from nettrain import registry
from nettrain.backend import xp
from nettrain.errors import ConfigError, ShapeError
from nettrain.nn.layers import LAYERS

DTYPES = ("float32", "float64")


class ParamList(list):
    """`(key, param, grad)` triples whose arrays are views, in order, into two flat buffers.

    `flat` is `(params, grads)`: optimizers and clipping update all parameters with a few
    whole-buffer operations instead of a few per parameter. `weights` are the triples the
    L1/L2 penalties apply to (each layer's `weight_keys`: no biases, no batchnorm).
    """

    def __init__(self, items, flat_params, flat_grads, weights=()):
        super().__init__(items)
        self.flat = (flat_params, flat_grads)
        self.weights = list(weights)


def flat_buffers(named_params):
    """The (params, grads) flat buffers behind a ParamList; None for a plain list of triples."""
    return named_params.flat if isinstance(named_params, ParamList) else None


def _dtype(dtype):
    try:
        name = xp.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}. Got {dtype!r}.")
    return xp.dtype(name)


def format_shape(shape):
    """A sample shape as users read it: `(32, 5, 5)`, `(784,)`."""
    return str(tuple(int(n) for n in shape))


def sample_shape(input_shape):
    """The sample shape as a tuple of ints; an int n (the old `n_in`) means `(n,)`."""
    if isinstance(input_shape, numbers.Integral):
        return (int(input_shape),)
    return tuple(int(n) for n in input_shape)


class Model:
    """A feed-forward stack of layers.

    Args:
        layer_specs: the `model.layers` list, e.g. `[{type: dense, units: 32, activation: relu}]`.
        input_shape: the shape of one sample, a tuple such as `(features,)` or `(1, 28, 28)`;
            an int n means `(n,)`.
        dtype: float32 or float64, for every parameter and activation.
        rng: the numpy Generator (or an int seed) that draws the initial weights and then
            the dropout masks.
        data_facts: what the data tells the layers before they are built, e.g.
            `{"vocab_size": 20000}` (see `Layer.use_data`).
    """

    def __init__(self, layer_specs, input_shape, dtype="float32", rng=None, data_facts=None):
        if not isinstance(layer_specs, (list, tuple)) or not layer_specs:
            raise ConfigError(f"model.layers must be a non-empty list of layers. Got {layer_specs!r}.")
        self.dtype = _dtype(dtype)
        self.input_shape = sample_shape(input_shape)
        self.rng = rng if isinstance(rng, numpy.random.Generator) else numpy.random.default_rng(rng)
        self.layers = [
            registry.get("layer", LAYERS, spec, where=f"model.layers[{i}]", name_key="type")
            for i, spec in enumerate(layer_specs)
        ]
        self.shapes = []  # each layer's output sample shape
        shape = self.input_shape
        for i, layer in enumerate(self.layers):
            layer.use_data(dict(data_facts or {}))
            try:
                shape = tuple(layer.build(shape, self.rng, self.dtype))
            except ShapeError as err:
                raise ConfigError(f"model.layers[{i}] ({layer.type}) gets {format_shape(shape)}: "
                                  f"{err.fix}") from None
            self.shapes.append(shape)
        self.output_shape = shape
        self._params = self._flatten()

    @property
    def n_in(self):
        """The number of input features (tables: the only entry of input_shape)."""
        return math.prod(self.input_shape)

    @property
    def n_out(self):
        """The number of outputs per sample."""
        return math.prod(self.output_shape)

    def _flatten(self):
        """Move every param and grad into one contiguous buffer each; layers keep views."""
        entries = [(f"layers.{i}.{name}", layer, name)
                   for i, layer in enumerate(self.layers) for name in layer.params]
        total = sum(layer.params[name].size for _, layer, name in entries)
        flat_params, flat_grads = xp.empty(total, self.dtype), xp.zeros(total, self.dtype)
        items, weights, offset = [], [], 0
        for key, layer, name in entries:
            shape = layer.params[name].shape
            size = layer.params[name].size
            view = flat_params[offset:offset + size].reshape(shape)
            view[...] = layer.params[name]
            layer.params[name] = view
            layer.grads[name] = flat_grads[offset:offset + size].reshape(shape)
            items.append((key, view, layer.grads[name]))
            if name in layer.weight_keys:
                weights.append(items[-1])
            offset += size
        return ParamList(items, flat_params, flat_grads, weights)

    def forward(self, x, training=False):
        """The output for a batch x of shape (n_samples, *input_shape)."""
        x = xp.asarray(x, dtype=self.dtype)
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, grad_out, input_grad=False):
        """Fill every layer's grads from the loss gradient; return the input gradient if asked."""
        for layer in reversed(self.layers[1:]):
            grad_out = layer.backward(grad_out)
        return self.layers[0].backward(grad_out, input_grad=input_grad)

    def named_params(self):
        """`(key, param, grad)` for every parameter, keys `layers.{i}.{name}` (a ParamList)."""
        return self._params

    def n_params(self):
        return int(self._params.flat[0].size)

    def state_dict(self):
        """Params and buffers by key (`layers.0.W`, `layers.2.running_mean`); copies."""
        state = {}
        for i, layer in enumerate(self.layers):
            for name, array in {**layer.params, **layer.buffers}.items():
                state[f"layers.{i}.{name}"] = array.copy()
        return state

    def load_state_dict(self, arrays, source="weights"):
        """Copy `arrays` (a mapping like state_dict's) into the model, in place.

        Raises ConfigError naming the key and both shapes when an array does not fit, and
        naming the keys when some are missing or unexpected.
        """
        targets = {}
        for i, layer in enumerate(self.layers):
            for name, array in {**layer.params, **layer.buffers}.items():
                targets[f"layers.{i}.{name}"] = array
        given = [k for k in arrays if k.startswith("layers.")]
        missing = [k for k in targets if k not in arrays]
        unexpected = [k for k in given if k not in targets]
        problems = []
        if missing:
            problems.append(f"{source} lacks {', '.join(missing)}: it was saved from a different "
                            "architecture than model.layers describes.")
        if unexpected:
            problems.append(f"{source} has {', '.join(unexpected)}, which model.layers does not "
                            "have: it was saved from a different architecture.")
        for key in (k for k in given if k in targets):
            have, want = numpy.shape(arrays[key]), targets[key].shape
            if have != want:
                problems.append(f"{source}: {key} has shape {have}, but model.layers needs {want}.")
        if problems:
            raise ConfigError(problems)
        for key, target in targets.items():
            target[...] = arrays[key]

    def architecture(self):
        """A JSON-able description that rebuilds the model: input_shape, dtype and layer specs."""
        return {"input_shape": list(self.input_shape), "dtype": self.dtype.name,
                "layers": [layer.config() for layer in self.layers]}

    def summary(self):
        """Rows (index, description, output shape, parameter count), one per layer."""
        return [(i, layer.describe(), batch_shape(shape), sum(p.size for p in layer.params.values()))
                for i, (layer, shape) in enumerate(zip(self.layers, self.shapes))]

    def rng_state(self):
        """The state of the Generator that draws dropout masks (a JSON-able dict)."""
        return self.rng.bit_generator.state

    def set_rng_state(self, state):
        self.rng.bit_generator.state = state


def batch_shape(shape):
    """A batch of samples of `shape` as summaries print it: `(n, 32)`, `(n, 32, 26, 26)`."""
    return "(" + ", ".join(["n", *(str(int(s)) for s in shape)]) + ")"


def architecture_input_shape(arch):
    """The sample shape an architecture dict was built for (files before shapes: `n_in`)."""
    return sample_shape(arch["input_shape"] if "input_shape" in arch else arch["n_in"])


def save_model(model, file):
    """Write model.npz to a path or an open binary file: `layers.{i}.{name}` + `architecture`."""
    numpy.savez(file, architecture=numpy.array(json.dumps(model.architecture())),
                **model.state_dict())


class UnreadableModel(Exception):
    """model.npz cannot be used. `kind`: "missing", "corrupt", "no_architecture" or
    "not_numeric"; `detail`: what the reader saw. Callers word it for their place."""

    def __init__(self, kind, detail=""):
        self.kind, self.detail = kind, detail
        super().__init__(f"{kind}: {detail}")


def read_model_file(file):
    """(architecture dict, {key: array}) from a model.npz path or binary file object: the one
    reader of model.npz. No pickles are read; the architecture must be a JSON object and every
    array numeric. Raises UnreadableModel."""
    try:
        with numpy.load(file, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except FileNotFoundError as err:
        raise UnreadableModel("missing", str(err)) from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise UnreadableModel("corrupt", str(err)) from None
    if "architecture" not in arrays:
        raise UnreadableModel("no_architecture")
    try:
        arch = json.loads(str(arrays.pop("architecture")))
    except ValueError as err:
        raise UnreadableModel("corrupt", str(err)) from None
    if not isinstance(arch, dict):
        raise UnreadableModel("corrupt", "the architecture entry is not a JSON object")
    bad = [k for k, v in arrays.items() if v.dtype.kind not in "fiu"]
    if bad:
        raise UnreadableModel("not_numeric", ", ".join(bad))
    return arch, arrays


def load_model(file, rng=None, dtype=None):
    """A Model rebuilt from a model.npz path or file object (no pickles are read).

    Args:
        rng: the Generator for later dropout masks.
        dtype: build in this dtype instead of the saved one (gradcheck uses float64).
    """
    source = str(getattr(file, "name", file))
    try:
        arch, arrays = read_model_file(file)
    except UnreadableModel as err:
        if err.kind == "no_architecture":
            raise ConfigError(f"{source} has no 'architecture' entry: it is not a nettrain "
                              "model.npz.") from None
        raise ConfigError(f"{source} is not a readable model.npz: {err.detail or err.kind}") from None
    model = Model(arch["layers"], architecture_input_shape(arch), dtype=dtype or arch["dtype"], rng=rng)
    model.load_state_dict(arrays, source=source)
    return model
