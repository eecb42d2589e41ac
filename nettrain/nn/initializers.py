"""Weight initializers for a (fan_in, fan_out) matrix, and the default for each activation.

Values are drawn in float64 and then cast, so a float32 and a float64 run with the same
seed start from the same weights (up to rounding).
"""

import math

from nettrain import registry
from nettrain.backend import xp
from nettrain.checks import check_float

INITIALIZERS = {}  # name -> Initializer class, filled by @register_initializer
register_initializer = registry.registrar("initializer", INITIALIZERS)


class Initializer:
    """Base: `init(shape, rng, dtype)` returns a new array; fan_in = shape[0], fan_out = shape[-1].

    `fixed_scale`: the scale ignores the layer's width (gradient diagnostics then suggest a
    scaled initializer for a deep stack).
    """

    name = "zeros"
    fixed_scale = True

    def __call__(self, shape, rng, dtype):
        return self.sample(shape, rng).astype(dtype, copy=False)

    def sample(self, shape, rng):
        return xp.zeros(shape)

    def config(self):
        return self.name

    @staticmethod
    def fans(shape):
        """(fan_in, fan_out): a matrix is (in, out); a conv kernel (filters, C, kh, kw) has
        fan_in = C * kh * kw and fan_out = filters * kh * kw, as torch counts them."""
        if len(shape) > 2:
            receptive = math.prod(shape[2:])
            return shape[1] * receptive, shape[0] * receptive
        return shape[0], shape[-1]


class _Scaled(Initializer):
    """Normal(0, std) or Uniform(-limit, limit) with std = sqrt(gain / fan) (limit = sqrt(3) std)."""

    fixed_scale = False
    gain = 2.0
    fan = "in"  # in | avg
    uniform = False

    def sample(self, shape, rng):
        fan_in, fan_out = self.fans(shape)
        fan = fan_in if self.fan == "in" else (fan_in + fan_out) / 2
        std = math.sqrt(self.gain / fan)
        if self.uniform:
            limit = math.sqrt(3) * std
            return rng.uniform(-limit, limit, size=shape)
        return rng.normal(0.0, std, size=shape)


@register_initializer("he_normal", "kaiming_normal")
class HeNormal(_Scaled):
    """He/Kaiming normal: N(0, 2 / fan_in) (torch `kaiming_normal_`, relu gain, fan_in)."""


@register_initializer("he_uniform", "kaiming_uniform")
class HeUniform(_Scaled):
    """He/Kaiming uniform: U(-sqrt(6 / fan_in), sqrt(6 / fan_in))."""

    uniform = True


@register_initializer("glorot_normal", "xavier_normal")
class GlorotNormal(_Scaled):
    """Glorot/Xavier normal: N(0, 2 / (fan_in + fan_out))."""

    gain, fan = 1.0, "avg"


@register_initializer("glorot_uniform", "xavier_uniform")
class GlorotUniform(_Scaled):
    """Glorot/Xavier uniform: U(-sqrt(6 / (fan_in + fan_out)), +sqrt(6 / (fan_in + fan_out)))."""

    gain, fan, uniform = 1.0, "avg", True


@register_initializer("lecun_normal")
class LecunNormal(_Scaled):
    """LeCun normal: N(0, 1 / fan_in)."""

    gain = 1.0


@register_initializer("lecun_uniform")
class LecunUniform(_Scaled):
    """LeCun uniform: U(-sqrt(3 / fan_in), sqrt(3 / fan_in))."""

    gain, uniform = 1.0, True


@register_initializer("normal")
class Normal(Initializer):
    """N(mean, std^2).

    Args:
        std: the standard deviation (default 0.05).
        mean: the mean (default 0).
    """

    def __init__(self, std=0.05, mean=0.0):
        self.std = check_float("std", std, low=0)
        self.mean = check_float("mean", mean)

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.std, size=shape)

    def config(self):
        return {"name": self.name, "std": self.std, "mean": self.mean}


@register_initializer("uniform")
class Uniform(Initializer):
    """U(low, high).

    Args:
        low: the lower bound (default -0.05).
        high: the upper bound (default 0.05).
    """

    def __init__(self, low=-0.05, high=0.05):
        self.low = check_float("low", low)
        self.high = check_float("high", high, low=self.low)

    def sample(self, shape, rng):
        return rng.uniform(self.low, self.high, size=shape)

    def config(self):
        return {"name": self.name, "low": self.low, "high": self.high}


@register_initializer("zeros")
class Zeros(Initializer):
    """All zeros (for a layer that must start as a no-op)."""


def get_initializer(spec, where=None):
    """An initializer from a name (`he_normal`) or a mapping (`{name: normal, std: 0.01}`)."""
    return registry.get("initializer", INITIALIZERS, spec, where=where)


def default_init(activation):
    """The initializer name for an activation (a name, an activation object or None): the
    activation's `default_init`."""
    if activation is None:
        return "glorot_uniform"
    if isinstance(activation, (str, dict)):
        from nettrain.nn.activations import get_activation

        activation = get_activation(activation)
    return activation.default_init


def initialize(spec, shape, rng, dtype):
    """A new array of `shape` and `dtype` drawn by the initializer `spec` from `rng`."""
    return get_initializer(spec)(tuple(shape), rng, dtype)
