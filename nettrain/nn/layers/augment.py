"""Training-time image augmentation: random_flip and random_shift, drawn from the run's Generator.

Both are the identity at evaluation. Their draws come from the Generator given to `build`
(the model's, saved in checkpoints), so a resumed run replays the same flips and shifts.
"""

from nettrain.backend import xp
from nettrain.checks import check_choice, check_int
from nettrain.nn.layers.base import Layer, register_layer
from nettrain.nn.layers.spatial import image_shape

FLIP_MODES = ("horizontal", "vertical", "both")


@register_layer("random_flip")
class RandomFlip(Layer):
    """In training, each image flipped left-right (horizontal), top-bottom (vertical) or
    each independently (both) with probability 1/2. A flip is its own inverse, so backward
    flips the gradient the same way.

    Args:
        mode: horizontal (default), vertical or both.
    """

    def __init__(self, mode="horizontal"):
        super().__init__()
        self.mode = check_choice("mode", mode, FLIP_MODES)

    def build(self, input_shape, rng, dtype):
        image_shape(input_shape, self.type)
        self.rng = rng
        return super().build(input_shape, rng, dtype)

    def forward(self, x, training=False):
        self.flips = None
        if not training:
            return x
        axes = {"horizontal": (3,), "vertical": (2,), "both": (3, 2)}[self.mode]
        self.flips = [(axis, self.rng.random(len(x)) < 0.5) for axis in axes]
        return self._flip(x)

    def _flip(self, x):
        y = x.copy()
        for axis, chosen in self.flips:
            flipped = xp.flip(y[chosen], axis=axis)
            y[chosen] = flipped
        return y

    def backward(self, grad_out, input_grad=True):
        if not input_grad:
            return None
        return grad_out if self.flips is None else self._flip(grad_out)

    def _args(self):
        return {"mode": self.mode}

    def describe(self):
        return f"random_flip({self.mode})"


@register_layer("random_shift")
class RandomShift(Layer):
    """In training, each image moved by (dy, dx), each a whole number in [-max_pixels,
    max_pixels] drawn uniformly: y[..., r, c] = x[..., r - dy, c - dx], zero where that
    falls outside. Backward moves the gradient by (-dy, -dx).

    Args:
        max_pixels: the largest shift per axis, an integer >= 0 (default 2).
    """

    def __init__(self, max_pixels=2):
        super().__init__()
        self.max_pixels = check_int("max_pixels", max_pixels, low=0)

    def build(self, input_shape, rng, dtype):
        image_shape(input_shape, self.type)
        self.rng = rng
        return super().build(input_shape, rng, dtype)

    def forward(self, x, training=False):
        self.shifts = None
        if not training or self.max_pixels == 0:
            return x
        m = self.max_pixels
        self.shifts = self.rng.integers(-m, m + 1, size=(2, len(x)))
        return self._shift(x, self.shifts)

    def _shift(self, x, shifts):
        """Each image's window of the zero-padded batch that starts at (m - dy, m - dx)."""
        m, (n, c, h, w) = self.max_pixels, x.shape
        pad = xp.zeros((n, c, h + 2 * m, w + 2 * m), x.dtype)
        pad[:, :, m:m + h, m:m + w] = x
        windows = xp.lib.stride_tricks.sliding_window_view(pad, (h, w), axis=(2, 3))
        return windows[xp.arange(n), :, m - shifts[0], m - shifts[1]]

    def backward(self, grad_out, input_grad=True):
        if not input_grad:
            return None
        return grad_out if self.shifts is None else self._shift(grad_out, -self.shifts)

    def _args(self):
        return {"max_pixels": self.max_pixels}

    def describe(self):
        return f"random_shift({self.max_pixels})"
