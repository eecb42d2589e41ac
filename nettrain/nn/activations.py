"""Elementwise activation functions with their derivatives, looked up by config name.

Each activation is a small object: `forward(x, inplace=False)` caches only what `backward`
needs and `backward(grad_out)` returns the gradient with respect to `x`. With
`inplace=True` the result overwrites `x`; a dense layer uses it on the pre-activation it
owns, never on an input it was given.
"""

import math

from nettrain import registry
from nettrain.backend import xp
from nettrain.checks import check_float


def sigmoid(x):
    """1 / (1 + exp(-x)) without overflow: exp only ever sees -|x|."""
    e = xp.exp(-xp.abs(x))
    s = 1 / (1 + e)
    return xp.where(x >= 0, s, e * s)


ACTIVATIONS = {}  # name -> Activation class, filled by @register_activation
register_activation = registry.registrar("activation", ACTIVATIONS)


class Activation:
    """Base: the identity. Subclasses override `forward` and `backward`.

    Class attributes a new activation sets: `name`; `default_init`, the initializer of the
    weights feeding it (He for the ReLU family keeps the variance of a deep stack constant,
    half the units being zeroed; Glorot suits units whose slope near 0 is about 1);
    `diagnostic_kind`, what gradient-health diagnostics watch in its inputs: "dead" (units
    that never turn on), "saturated" (inputs beyond the flat tails) or None.
    """

    name = "identity"
    default_init = "glorot_uniform"
    diagnostic_kind = None

    def forward(self, x, inplace=False):
        return x

    def backward(self, grad_out):
        return grad_out

    def config(self):
        """The spec that rebuilds this activation: its name, or a mapping with its arguments."""
        args = self._args()
        return {"name": self.name, **args} if args else self.name

    def _args(self):
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self._args().items())
        return f"{self.name}({args})" if args else self.name


@register_activation("identity", "linear")
class Identity(Activation):
    """y = x."""


@register_activation("relu")
class ReLU(Activation):
    """y = max(x, 0); dy/dx = 1 where x > 0, else 0."""

    default_init, diagnostic_kind = "he_normal", "dead"

    def forward(self, x, inplace=False):
        # The mask in x's dtype: float * float runs about 3 times faster than float * bool,
        # which NumPy casts element by element.
        self.mask = (x > 0).astype(x.dtype)
        return xp.multiply(x, self.mask, out=x if inplace else None)

    def backward(self, grad_out):
        return grad_out * self.mask


@register_activation("leaky_relu")
class LeakyReLU(Activation):
    """y = x where x > 0, else negative_slope * x.

    Args:
        negative_slope: the slope for x <= 0 (torch's default 0.01).
    """

    default_init, diagnostic_kind = "he_normal", "dead"

    def __init__(self, negative_slope=0.01):
        self.negative_slope = check_float("negative_slope", negative_slope, low=0)

    def forward(self, x, inplace=False):
        one, slope = xp.asarray(1, x.dtype), xp.asarray(self.negative_slope, x.dtype)
        self.slope = xp.where(x > 0, one, slope)  # the derivative, also the factor of x
        return xp.multiply(x, self.slope, out=x if inplace else None)

    def backward(self, grad_out):
        return grad_out * self.slope

    def _args(self):
        return {"negative_slope": self.negative_slope}


@register_activation("elu")
class ELU(Activation):
    """y = x where x > 0, else alpha * (exp(x) - 1); dy/dx = 1 or y + alpha.

    Args:
        alpha: the value y approaches as x -> -inf is -alpha (default 1.0).
    """

    default_init, diagnostic_kind = "he_normal", "dead"

    def __init__(self, alpha=1.0):
        self.alpha = check_float("alpha", alpha, low=0)

    def forward(self, x, inplace=False):
        positive = x > 0
        negative_part = self.alpha * xp.expm1(xp.minimum(x, 0))  # minimum keeps exp finite
        self.slope = xp.where(positive, xp.asarray(1, x.dtype), negative_part + self.alpha)
        return xp.where(positive, x, negative_part)

    def backward(self, grad_out):
        return grad_out * self.slope

    def _args(self):
        return {"alpha": self.alpha}


@register_activation("gelu")
class GELU(Activation):
    """The tanh form of GELU (torch's `gelu(approximate='tanh')`):

    y = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
    dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2),  t = tanh(u)

    The tanh form has an exact closed-form derivative in NumPy (the erf form would need an
    erf that NumPy lacks) and differs from it by less than 1e-3.
    """

    default_init, diagnostic_kind = "he_normal", "dead"
    _C = math.sqrt(2 / math.pi)
    _K = 0.044715

    def forward(self, x, inplace=False):
        self.x = x.copy() if inplace else x
        self.t = xp.tanh(self._C * (x + self._K * x ** 3))
        return xp.multiply(0.5 * x, 1 + self.t, out=x if inplace else None)

    def backward(self, grad_out):
        x, t = self.x, self.t
        du = self._C * (1 + 3 * self._K * x * x)
        return grad_out * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)


@register_activation("sigmoid")
class Sigmoid(Activation):
    """y = 1 / (1 + exp(-x)); dy/dx = y (1 - y), a function of the output, so only y is kept."""

    diagnostic_kind = "saturated"

    def forward(self, x, inplace=False):
        self.y = sigmoid(x)
        return self.y

    def backward(self, grad_out):
        return grad_out * self.y * (1 - self.y)


@register_activation("tanh")
class Tanh(Activation):
    """y = tanh(x); dy/dx = 1 - y^2, a function of the output, so only y is kept."""

    diagnostic_kind = "saturated"

    def forward(self, x, inplace=False):
        self.y = xp.tanh(x, out=x if inplace else None)
        return self.y

    def backward(self, grad_out):
        return grad_out * (1 - self.y * self.y)


@register_activation("softplus")
class Softplus(Activation):
    """y = log(1 + exp(x)) (computed as logaddexp(0, x)); dy/dx = sigmoid(x)."""

    default_init = "he_normal"

    def forward(self, x, inplace=False):
        self.slope = sigmoid(x)
        return xp.logaddexp(0, x, out=x if inplace else None)

    def backward(self, grad_out):
        return grad_out * self.slope


@register_activation("silu", "swish")
class SiLU(Activation):
    """y = x sigmoid(x) (swish); dy/dx = s (1 + x (1 - s)), s = sigmoid(x)."""

    default_init, diagnostic_kind = "he_normal", "dead"

    def forward(self, x, inplace=False):
        s = sigmoid(x)
        self.slope = s * (1 + x * (1 - s))
        return xp.multiply(x, s, out=x if inplace else None)

    def backward(self, grad_out):
        return grad_out * self.slope


def get_activation(spec, where=None):
    """An activation from a name (`relu`) or a mapping (`{name: leaky_relu, negative_slope: 0.2}`)."""
    return registry.get("activation", ACTIVATIONS, spec, where=where)
