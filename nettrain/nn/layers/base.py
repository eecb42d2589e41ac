"""The layer protocol: the `Layer` base class and the table of layer types.

Protocol: `build(input_shape, rng, dtype) -> output_shape` creates the arrays (shapes are
sample shapes, tuples without the batch axis: `(features,)`, `(channels, height, width)`);
`forward(x, training=False)` caches what `backward` needs; `backward(grad_out,
input_grad=True)` writes `grads` in place and returns the input gradient (None when
`input_grad` is False, which saves the first layer a matrix product). `params` and `grads`
are dicts of arrays with the same keys; `buffers` holds state that is saved but not trained.
Arrays are always reached through these dicts and changed in place, because the model makes
them views into one flat buffer.

A new layer type is one class in one module of this package, registered with
`@register_layer("name")`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from nettrain import registry
from nettrain.backend import xp

Shape = tuple[int, ...]  # one sample's shape, without the batch axis
Array = Any  # an array of nettrain.backend.xp (NumPy's ndarray today)
Generator = Any  # the model's random Generator (xp.random.Generator)

LAYERS: dict[str, type[Layer]] = {}  # type name -> Layer class, filled by @register_layer
register_layer = registry.registrar("layer type", LAYERS, attribute="type")  # @register_layer("dense")


class Layer:
    """Base: a parameter-free identity layer.

    What the rest of nettrain asks a layer, so that no other module needs its type name:
    `weight_keys`, the params regularization.l1/l2 apply to; `sets_output_width`, whether
    the `units` argument is the output's width (the config check finds the output layer by
    it); `normalizes`, whether it normalizes with batch statistics; `input_kind`, what its
    input is ("token_ids": the data side leaves them unscaled); `diagnosed_activation()`
    and `weight_initializer()`, what gradient diagnostics look at.
    """

    type: ClassVar[str] = "layer"
    weight_keys: ClassVar[tuple[str, ...]] = ()  # params that regularization.l1/l2 apply to
    sets_output_width: ClassVar[bool] = False
    normalizes: ClassVar[bool] = False
    input_kind: ClassVar[str] = "values"

    params: dict[str, Array]
    grads: dict[str, Array]
    buffers: dict[str, Array]

    def __init__(self) -> None:
        self.params, self.grads, self.buffers = {}, {}, {}

    def build(self, input_shape: Shape, rng: Generator, dtype: Any) -> Shape:
        """Create the arrays for samples of `input_shape`; return the output's sample shape.

        Shapes are tuples without the batch axis: `(features,)` for tables, `(channels,
        height, width)` for images. Raise `nettrain.errors.ShapeError(fix)` for a shape the
        layer cannot take. The base keeps the shape (a parameter-free, shape-keeping layer).
        """
        self.input_shape = self.output_shape = tuple(input_shape)
        self.dtype = xp.dtype(dtype)
        return self.output_shape

    def use_data(self, facts: dict[str, Any]) -> None:
        """Fill arguments that default to a property of the data, before `build`.

        `facts` is a dict the data side provides, e.g. `{"vocab_size": 20000}` for token
        ids; the base needs none.
        """

    def frozen(self, name: str) -> Array | None:
        """Flat positions of `params[name]` that never learn (their gradient is 0 by
        definition, as an embedding's padding row), or None; gradient checks skip them."""
        return None

    def time_gradient(self) -> float | None:
        """For a layer that carries state through time: in the latest backward pass, the norm
        of the gradient at the sequence's first step over that at its last step (about 1 is
        healthy, far below vanishing, far above exploding). None for other layers."""
        return None

    def time_fixes(self, kind: str) -> list[str]:
        """What a config can change when gradients are "vanishing" or "exploding" through
        this layer's time steps (phrases for a diagnostic's Fix:)."""
        return []

    def forward(self, x: Array, training: bool = False) -> Array:
        return x

    def diagnosed_activation(self) -> Any:
        """The activation applied to this layer's output (a `nettrain.nn.activations.Activation`,
        whose `forward` diagnostics wrap to watch for dead or saturated units), or None."""
        return None

    def weight_initializer(self) -> Any:
        """The initializer of the layer's weights (diagnostics name a fixed-scale one), or None."""
        return None

    def backward(self, grad_out: Array, input_grad: bool = True) -> Array | None:
        return grad_out

    def config(self) -> dict[str, Any]:
        """The `model.layers` entry that rebuilds this layer."""
        return {"type": self.type, **self._args()}

    def describe(self) -> str:
        """A short description for model summaries, e.g. `dense(32, relu)`."""
        return f"{self.type}({', '.join(str(v) for v in self._args().values())})"

    def _args(self) -> dict[str, Any]:
        return {}
