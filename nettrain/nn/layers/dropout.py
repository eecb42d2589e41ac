"""Inverted dropout."""

from nettrain.backend import xp
from nettrain.checks import check_float
from nettrain.nn.layers.base import Layer, register_layer


@register_layer("dropout")
class Dropout(Layer):
    """Inverted dropout: in training y = x * mask / (1 - rate), mask ~ Bernoulli(1 - rate);
    at evaluation y = x. The mask comes from the Generator given to `build`, so resetting
    that Generator's state replays the same masks.

    Args:
        rate: the probability of zeroing a unit, in [0, 1).
    """

    def __init__(self, rate=0.5):
        super().__init__()
        self.rate = check_float("rate", rate, low=0, high=1, high_open=True)

    def build(self, input_shape, rng, dtype):
        self.rng = rng
        return super().build(input_shape, rng, dtype)

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
