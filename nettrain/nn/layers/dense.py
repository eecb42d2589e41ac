"""The dense (fully connected) layer."""

from nettrain.backend import xp
from nettrain.checks import check_bool, check_int
from nettrain.errors import ShapeError
from nettrain.nn.activations import get_activation
from nettrain.nn.initializers import default_init, get_initializer
from nettrain.nn.layers.base import Layer, register_layer


@register_layer("dense")
class Dense(Layer):
    """y = act(x @ W + b), with W of shape (n_in, units) and b of shape (units,); input (n_in,).

    Backward: with g = grad_out through the activation, dW = x^T g, db = sum_rows g,
    grad_in = g W^T.

    Args:
        units: the number of outputs, an integer >= 1.
        activation: an activation name or mapping applied to the output (default none).
        init: the initializer of W; default: he_normal for the ReLU family, glorot_uniform
            otherwise (the activation's default_init). b starts at zero.
        use_bias: whether to add b.
    """

    weight_keys = ("W",)
    sets_output_width = True

    def __init__(self, units=None, activation=None, init=None, use_bias=True):
        super().__init__()
        if units is None:
            raise ValueError("units is required: the number of outputs, an integer >= 1.")
        self.units = check_int("units", units, low=1)
        self.activation = None if activation is None else get_activation(activation)
        self.init = get_initializer(default_init(self.activation) if init is None else init)
        self.use_bias = check_bool("use_bias", use_bias)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        if len(self.input_shape) != 1:
            raise ShapeError("add {type: flatten} before it")
        n_in = self.input_shape[0]
        self.output_shape = (self.units,)
        self.params["W"] = self.init((n_in, self.units), rng, self.dtype)
        self.grads["W"] = xp.zeros((n_in, self.units), self.dtype)
        if self.use_bias:
            self.params["b"] = xp.zeros(self.units, self.dtype)
            self.grads["b"] = xp.zeros(self.units, self.dtype)
        return self.output_shape

    def forward(self, x, training=False):
        self.x = x
        z = x @ self.params["W"]
        if self.use_bias:
            z += self.params["b"]
        return self.activation.forward(z, inplace=True) if self.activation else z

    def backward(self, grad_out, input_grad=True):
        g = self.activation.backward(grad_out) if self.activation else grad_out
        xp.matmul(self.x.T, g, out=self.grads["W"])
        if self.use_bias:
            xp.sum(g, axis=0, out=self.grads["b"])
        return g @ self.params["W"].T if input_grad else None

    def diagnosed_activation(self):
        return self.activation

    def weight_initializer(self):
        return self.init

    def _args(self):
        activation = self.activation.config() if self.activation else None
        return {"units": self.units, "activation": activation, "init": self.init.config(),
                "use_bias": self.use_bias}

    def describe(self):
        act = f", {self.activation!r}" if self.activation else ""
        return f"dense({self.units}{act})"
