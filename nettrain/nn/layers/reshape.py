"""Flatten: (n, ...) -> (n, prod) in C order, as torch.flatten(x, 1)."""

import math

from nettrain.nn.layers.base import Layer, register_layer


@register_layer("flatten")
class Flatten(Layer):
    """y = x.reshape(n, -1) in C order over (C, H, W), so a dense layer after it sees
    PyTorch's feature order. Backward reshapes the gradient back."""

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        self.output_shape = (math.prod(input_shape),)
        return self.output_shape

    def forward(self, x, training=False):
        self.x_shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, grad_out, input_grad=True):
        return grad_out.reshape(self.x_shape) if input_grad else None

    def describe(self):
        return "flatten"
