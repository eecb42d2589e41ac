"""Normalization layers: batch normalization."""

from nettrain.backend import xp
from nettrain.checks import check_float
from nettrain.nn.layers.base import Layer, register_layer


@register_layer("batchnorm")
class BatchNorm(Layer):
    """Batch normalization, as torch's BatchNorm1d on (features,) samples and BatchNorm2d
    on (channels, height, width) ones: statistics per feature or per channel, over the batch
    (and the spatial axes).

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

    normalizes = True

    def __init__(self, momentum=0.1, eps=1e-5):
        super().__init__()
        self.momentum = check_float("momentum", momentum, low=0, high=1)
        self.eps = check_float("eps", eps, low=0, low_open=True)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        channels = self.input_shape[0]
        # Statistics per feature (channels,) or per channel (channels, *spatial): over the
        # batch axis and every axis after the channel axis.
        self.axes = (0,) + tuple(range(2, len(self.input_shape) + 1))
        self.stat_shape = (channels,) + (1,) * (len(self.input_shape) - 1)
        self.params = {"gamma": xp.ones(channels, self.dtype), "beta": xp.zeros(channels, self.dtype)}
        self.grads = {k: xp.zeros(channels, self.dtype) for k in self.params}
        self.buffers = {"running_mean": xp.zeros(channels, self.dtype),
                        "running_var": xp.ones(channels, self.dtype)}
        return self.output_shape

    def _stat(self, array):
        """A (channels,) array shaped to broadcast against the input (a view)."""
        return array.reshape(self.stat_shape)

    def forward(self, x, training=False):
        self.training = training
        if training:
            mean = x.mean(axis=self.axes)
            centered = x - self._stat(mean)
            square = xp.multiply(centered, centered)
            var = square.mean(axis=self.axes)
            self._update_running(mean, var, x.size // len(mean))
        else:
            centered = x - self._stat(self.buffers["running_mean"])
            var = self.buffers["running_var"]
        self.inv_std = self._stat(1 / xp.sqrt(var + self.eps))
        # In place where the arrays are ours: on images each full-size temporary is a pass
        # over memory, and these element-wise passes are what batchnorm's time is made of.
        self.xhat = xp.multiply(centered, self.inv_std, out=centered)
        out = xp.multiply(self.xhat, self._stat(self.params["gamma"]))
        out += self._stat(self.params["beta"])
        return out

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
        xp.sum(grad_out, axis=self.axes, out=self.grads["beta"])
        product = xp.multiply(grad_out, self.xhat)
        xp.sum(product, axis=self.axes, out=self.grads["gamma"])
        if not input_grad:
            return None
        scale = self._stat(self.params["gamma"]) * self.inv_std
        if not self.training:  # the running statistics are constants
            return grad_out * scale
        n = grad_out.size // len(self.grads["beta"])
        dx = grad_out - self._stat(self.grads["beta"]) / n
        dx -= xp.multiply(self.xhat, self._stat(self.grads["gamma"]) / n, out=product)
        dx *= scale
        return dx

    def _args(self):
        return {"momentum": self.momentum, "eps": self.eps}

    def describe(self):
        return "batchnorm"
