"""Layers: dense, dropout, batchnorm and activation, each with its forward and backward pass.

Protocol: `build(n_in, rng, dtype) -> n_out` creates the arrays; `forward(x, training=False)`
caches what `backward` needs; `backward(grad_out, input_grad=True)` writes `grads` in place
and returns the input gradient (None when `input_grad` is False, which saves the first
layer a matrix product). `params` and `grads` are dicts of arrays with the same keys;
`buffers` holds state that is saved but not trained. Arrays are always reached through
these dicts and changed in place, because the model makes them views into one flat buffer.
"""

from nettrain.activations import get_activation
from nettrain.backend import xp
from nettrain.checks import check_bool, check_float, check_int
from nettrain.initializers import default_init, get_initializer


class Layer:
    """Base: a parameter-free identity layer."""

    type = "layer"
    weight_keys = ()  # params that regularization.l1/l2 apply to

    def __init__(self):
        self.params, self.grads, self.buffers = {}, {}, {}

    def build(self, n_in, rng, dtype):
        self.n_in = self.n_out = n_in
        self.dtype = xp.dtype(dtype)
        return self.n_out

    def forward(self, x, training=False):
        return x

    def backward(self, grad_out, input_grad=True):
        return grad_out

    def config(self):
        """The `model.layers` entry that rebuilds this layer."""
        return {"type": self.type, **self._args()}

    def describe(self):
        """A short description for model summaries, e.g. `dense(32, relu)`."""
        return f"{self.type}({', '.join(str(v) for v in self._args().values())})"

    def _args(self):
        return {}


class Dense(Layer):
    """y = act(x @ W + b), with W of shape (n_in, units) and b of shape (units,).

    Backward: with g = grad_out through the activation, dW = x^T g, db = sum_rows g,
    grad_in = g W^T.

    Args:
        units: the number of outputs, an integer >= 1.
        activation: an activation name or mapping applied to the output (default none).
        init: the initializer of W; default: he_normal for the ReLU family, glorot_uniform
            otherwise (see initializers.DEFAULT_INIT). b starts at zero.
        use_bias: whether to add b.
    """

    type = "dense"
    weight_keys = ("W",)

    def __init__(self, units=None, activation=None, init=None, use_bias=True):
        super().__init__()
        if units is None:
            raise ValueError("units is required: the number of outputs, an integer >= 1.")
        self.units = check_int("units", units, low=1)
        self.activation = None if activation is None else get_activation(activation)
        self.init = get_initializer(default_init(self.activation) if init is None else init)
        self.use_bias = check_bool("use_bias", use_bias)

    def build(self, n_in, rng, dtype):
        super().build(n_in, rng, dtype)
        self.n_out = self.units
        self.params["W"] = self.init((n_in, self.units), rng, self.dtype)
        self.grads["W"] = xp.zeros((n_in, self.units), self.dtype)
        if self.use_bias:
            self.params["b"] = xp.zeros(self.units, self.dtype)
            self.grads["b"] = xp.zeros(self.units, self.dtype)
        return self.n_out

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

    def _args(self):
        activation = self.activation.config() if self.activation else None
        return {"units": self.units, "activation": activation, "init": self.init.config(),
                "use_bias": self.use_bias}

    def describe(self):
        act = f", {self.activation!r}" if self.activation else ""
        return f"dense({self.units}{act})"


class Dropout(Layer):
    """Inverted dropout: in training y = x * mask / (1 - rate), mask ~ Bernoulli(1 - rate);
    at evaluation y = x. The mask comes from the Generator given to `build`, so resetting
    that Generator's state replays the same masks.

    Args:
        rate: the probability of zeroing a unit, in [0, 1).
    """

    type = "dropout"

    def __init__(self, rate=0.5):
        super().__init__()
        self.rate = check_float("rate", rate, low=0, high=1, high_open=True)

    def build(self, n_in, rng, dtype):
        self.rng = rng
        return super().build(n_in, rng, dtype)

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self.mask = None
            return x
        keep = self.rng.random(x.shape, dtype=self.dtype) >= self.rate
        self.mask = keep * xp.asarray(1 / (1 - self.rate), self.dtype)
        return x * self.mask

    def backward(self, grad_out, input_grad=True):
        return grad_out if self.mask is None else grad_out * self.mask

    def _args(self):
        return {"rate": self.rate}


class BatchNorm(Layer):
    """Batch normalization over the batch axis, as torch's BatchNorm1d.

    Training: y = gamma * xhat + beta, xhat = (x - mean) / sqrt(var + eps) with the batch
    mean and biased variance; running = (1 - momentum) * running + momentum * batch stat,
    with the unbiased variance for running_var. Evaluation uses the running statistics.
    A one-sample training batch has no variance: it is normalized to beta and leaves the
    running statistics unchanged.
    Backward (training): dx = gamma / std * (g - mean(g) - xhat * mean(g * xhat)).

    Args:
        momentum: the weight of the new batch in the running statistics, in [0, 1].
        eps: added to the variance, > 0.
    """

    type = "batchnorm"

    def __init__(self, momentum=0.1, eps=1e-5):
        super().__init__()
        self.momentum = check_float("momentum", momentum, low=0, high=1)
        self.eps = check_float("eps", eps, low=0, low_open=True)

    def build(self, n_in, rng, dtype):
        super().build(n_in, rng, dtype)
        self.params = {"gamma": xp.ones(n_in, self.dtype), "beta": xp.zeros(n_in, self.dtype)}
        self.grads = {k: xp.zeros(n_in, self.dtype) for k in self.params}
        self.buffers = {"running_mean": xp.zeros(n_in, self.dtype),
                        "running_var": xp.ones(n_in, self.dtype)}
        return n_in

    def forward(self, x, training=False):
        self.training = training
        if training:
            mean = x.mean(axis=0)
            centered = x - mean
            var = xp.mean(centered * centered, axis=0)
            self._update_running(mean, var, len(x))
        else:
            centered = x - self.buffers["running_mean"]
            var = self.buffers["running_var"]
        self.inv_std = 1 / xp.sqrt(var + self.eps)
        self.xhat = centered * self.inv_std
        return self.xhat * self.params["gamma"] + self.params["beta"]

    def _update_running(self, mean, var, n):
        if n < 2:
            return
        m = self.momentum
        running_mean, running_var = self.buffers["running_mean"], self.buffers["running_var"]
        running_mean *= 1 - m
        running_mean += m * mean
        running_var *= 1 - m
        running_var += (m * n / (n - 1)) * var

    def backward(self, grad_out, input_grad=True):
        xp.sum(grad_out, axis=0, out=self.grads["beta"])
        xp.sum(grad_out * self.xhat, axis=0, out=self.grads["gamma"])
        if not input_grad:
            return None
        scale = self.params["gamma"] * self.inv_std
        if not self.training:  # the running statistics are constants
            return grad_out * scale
        n = len(grad_out)
        return scale * (grad_out - self.grads["beta"] / n - self.xhat * (self.grads["gamma"] / n))

    def _args(self):
        return {"momentum": self.momentum, "eps": self.eps}

    def describe(self):
        return "batchnorm"


class ActivationLayer(Layer):
    """An activation as a layer of its own: `{type: activation, activation: relu}`.

    Args:
        activation: an activation name or mapping, e.g. `{name: leaky_relu, negative_slope: 0.2}`.
    """

    type = "activation"

    def __init__(self, activation=None):
        super().__init__()
        if activation is None:
            raise ValueError("activation is required: an activation name such as relu.")
        self.activation = get_activation(activation)

    def forward(self, x, training=False):
        return self.activation.forward(x)

    def backward(self, grad_out, input_grad=True):
        return self.activation.backward(grad_out)

    def _args(self):
        return {"activation": self.activation.config()}

    def describe(self):
        return repr(self.activation)


LAYERS = {
    "dense": Dense,
    "dropout": Dropout,
    "batchnorm": BatchNorm,
    "activation": ActivationLayer,
}
