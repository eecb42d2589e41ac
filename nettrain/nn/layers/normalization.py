"""Normalization layers: batch normalization."""

from nettrain.backend import xp
from nettrain.checks import check_float
from nettrain.nn.layers.base import Layer, register_layer


@register_layer("batchnorm")
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
