"""Helpers shared by the image layers: argument pairs, padding, output sizes and windows.

Image layers take and return PyTorch's (n, C, H, W) batches but compute on (n, H, W, C)
arrays: `x.transpose(0, 2, 3, 1)` of a batch this package produced is a free view, the
channels are the contiguous axis the matrix products and the window copies run along,
and the result goes back as the (n, C, H, W) view of that memory.
"""

from nettrain.backend import xp
from nettrain.errors import ShapeError


def pair(name, value, low=1):
    """An int or a pair of ints (height, width), each >= low, as a tuple."""
    items = list(value) if isinstance(value, (list, tuple)) else [value, value]
    if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < low
                              for v in items):
        raise ValueError(f"{name} must be an integer >= {low} or a pair [height, width] of "
                         f"them. Got {value!r}.")
    return tuple(items)


def padding_amounts(padding, kernel, stride):
    """(top, bottom, left, right) for padding 'valid', 'same', an int or a pair.

    'same' pads k - 1 in all, the odd one at the bottom/right, as torch does; it keeps the
    size only with stride 1, so it is refused with a larger stride, as torch refuses it.
    """
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise ValueError("padding 'same' needs stride 1 (it cannot keep the size with "
                             f"stride {list(stride)}): give padding as a number instead, e.g. "
                             f"padding: {kernel[0] // 2}.")
        (kh, kw) = kernel
        return ((kh - 1) // 2, kh - 1 - (kh - 1) // 2, (kw - 1) // 2, kw - 1 - (kw - 1) // 2)
    if isinstance(padding, str):
        raise ValueError(f"padding must be 'same', 'valid', an integer or a pair. Got {padding!r}.")
    ph, pw = pair("padding", padding, low=0)
    return (ph, ph, pw, pw)


def image_shape(input_shape, what):
    """(C, H, W) from a sample shape, or a ShapeError naming the fix."""
    if len(input_shape) != 3:
        fix = ("reshape the data with data.shape: [C, H, W]" if len(input_shape) == 1
               else "give it (C, H, W) images")
        raise ShapeError(f"{what} takes (C, H, W) images: {fix}")
    return tuple(input_shape)


def output_size(size, kernel, stride, pad, what):
    """Output length along one axis, or a ShapeError when the window does not fit."""
    padded = size + pad
    if padded < kernel:
        raise ShapeError(f"its {what} {kernel} is larger than the (padded) input {padded}: use "
                         f"a smaller {what} or more padding, or remove a pooling layer before it")
    return (padded - kernel) // stride + 1


def window(x, i, j, out_hw, stride):
    """The (n, Ho, Wo, C) view of NHWC `x` that kernel offset (i, j) meets."""
    (ho, wo), (sh, sw) = out_hw, stride
    return x[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]


def padded(x, pads, fill, out=None):
    """x (n, H, W, C) inside a border `pads` (top, bottom, left, right) of `fill`; x itself
    without padding. `out`, when given and of the right shape, is reused."""
    t, b, l, r = pads
    if not any(pads):
        return x
    n, h, w, c = x.shape
    shape = (n, h + t + b, w + l + r, c)
    if out is None or out.shape != shape or out.dtype != x.dtype:
        out = xp.empty(shape, x.dtype)
    out.fill(fill)
    out[:, t:t + h, l:l + w] = x
    return out


def to_nhwc(x):
    return x.transpose(0, 2, 3, 1)


def to_nchw(x):
    return x.transpose(0, 3, 1, 2)
