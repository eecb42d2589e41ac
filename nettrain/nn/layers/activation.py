"""An activation function as a layer of its own."""

from nettrain.nn.activations import get_activation
from nettrain.nn.layers.base import Layer, register_layer


@register_layer("activation")
class ActivationLayer(Layer):
    """An activation as a layer of its own: `{type: activation, activation: relu}`.

    Args:
        activation: an activation name or mapping, e.g. `{name: leaky_relu, negative_slope: 0.2}`.
    """

    def __init__(self, activation=None):
        super().__init__()
        if activation is None:
            raise ValueError("activation is required: an activation name such as relu.")
        self.activation = get_activation(activation)

    def forward(self, x, training=False):
        return self.activation.forward(x)

    def backward(self, grad_out, input_grad=True):
        return self.activation.backward(grad_out)

    def diagnosed_activation(self):
        return self.activation

    def _args(self):
        return {"activation": self.activation.config()}

    def describe(self):
        return repr(self.activation)
