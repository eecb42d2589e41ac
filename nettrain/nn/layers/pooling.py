"""Pooling over image windows: max_pool2d, avg_pool2d and global_avg_pool2d, as torch's."""

from nettrain.backend import xp
from nettrain.nn.layers.base import Layer, register_layer
from nettrain.nn.layers.spatial import image_shape, output_size, padded, pair, to_nchw, to_nhwc, window


class _Pool2D(Layer):
    """Base: windows of pool_size moved by stride over (n, C, H, W), per channel."""

    def __init__(self, pool_size=2, stride=None, padding=0):
        super().__init__()
        self.pool_size = pair("pool_size", pool_size)
        self.stride = self.pool_size if stride is None else pair("stride", stride)
        self.padding = pair("padding", padding, low=0)
        ph, pw = self.padding
        if ph > self.pool_size[0] // 2 or pw > self.pool_size[1] // 2:
            raise ValueError(f"padding must be at most half the pool_size (as torch requires): "
                             f"got padding {list(self.padding)} for pool_size "
                             f"{list(self.pool_size)}.")
        self.pads = (ph, ph, pw, pw)

    def build(self, input_shape, rng, dtype):
        c, h, w = image_shape(input_shape, self.type)
        super().build(input_shape, rng, dtype)
        (kh, kw), (sh, sw), (ph, pw) = self.pool_size, self.stride, self.padding
        self.out_hw = (output_size(h, kh, sh, 2 * ph, "pool_size"),
                       output_size(w, kw, sw, 2 * pw, "pool_size"))
        self.output_shape = (c, *self.out_hw)
        return self.output_shape

    def _offsets(self):
        kh, kw = self.pool_size
        return [(i, j) for i in range(kh) for j in range(kw)]

    def _args(self):
        return {"pool_size": list(self.pool_size), "stride": list(self.stride),
                "padding": list(self.padding)}

    def describe(self):
        (kh, kw), stride = self.pool_size, ""
        if self.stride != self.pool_size:
            stride = f", stride {self.stride[0]}"
        return f"{self.type}({kh}x{kw}{stride})"

    def _grad_input(self, part_of):
        """The (n, C, H, W) input gradient from `part_of(k, out=None)`, offset k's (n, Ho, Wo, C)
        share. Disjoint windows write their share in place; overlapping ones add it up."""
        n, c, h, w = self.x_shape
        (ph, pw), (kh, kw), (sh, sw), (ho, wo) = self.padding, self.pool_size, self.stride, self.out_hw
        disjoint = sh >= kh and sw >= kw
        covered = disjoint and ho * sh == h + 2 * ph and wo * sw == w + 2 * pw
        dxpad = (xp.empty if covered else xp.zeros)((n, h + 2 * ph, w + 2 * pw, c), self.dtype)
        for k, (i, j) in enumerate(self._offsets()):
            view = window(dxpad, i, j, self.out_hw, self.stride)
            if disjoint:
                part_of(k, out=view)
            else:
                view += part_of(k)
        return to_nchw(dxpad[:, ph:ph + h, pw:pw + w])


@register_layer("max_pool2d")
class MaxPool2D(_Pool2D):
    """y = the largest value in each window, as torch's max_pool2d (padding counts as -inf).

    Backward: each output's gradient goes to its window's first largest value (row-major
    order, as torch picks it).

    Args:
        pool_size: an int or [kh, kw] (default 2).
        stride: an int or pair (default: pool_size).
        padding: an int or pair, at most half the pool_size (default 0).
    """

    def forward(self, x, training=False):
        self.x_shape = x.shape
        xpad = padded(to_nhwc(x), self.pads, -xp.inf)
        parts = [window(xpad, i, j, self.out_hw, self.stride) for i, j in self._offsets()]
        y = parts[0].copy()
        for part in parts[1:]:
            xp.maximum(y, part, out=y)
        # The first largest offset's index = the number of offsets before the first equal
        # one: counting leading misses measured 2.4x faster than masked index updates.
        miss = parts[0] != y
        self.argmax = miss.astype(xp.uint8 if len(parts) < 256 else xp.int32)
        other = xp.empty(y.shape, bool)
        for part in parts[1:-1]:
            xp.not_equal(part, y, out=other)
            miss &= other
            self.argmax += miss
        return to_nchw(y)

    def backward(self, grad_out, input_grad=True):
        if not input_grad:
            return None
        g = to_nhwc(grad_out)
        hit = xp.empty(g.shape, bool)

        def part_of(k, out=None):
            xp.equal(self.argmax, k, out=hit)
            return xp.multiply(g, hit, out=out)
        return self._grad_input(part_of)


@register_layer("avg_pool2d")
class AvgPool2D(_Pool2D):
    """y = the mean of each window, padding zeros included (torch's count_include_pad=True).

    Args:
        pool_size: an int or [kh, kw] (default 2).
        stride: an int or pair (default: pool_size).
        padding: an int or pair, at most half the pool_size (default 0).
    """

    def forward(self, x, training=False):
        self.x_shape = x.shape
        xpad = padded(to_nhwc(x), self.pads, 0)
        offsets, scale = self._offsets(), xp.asarray(1 / len(self._offsets()), x.dtype)
        y = window(xpad, *offsets[0], self.out_hw, self.stride).copy()
        for i, j in offsets[1:]:
            y += window(xpad, i, j, self.out_hw, self.stride)
        y *= scale
        return to_nchw(y)

    def backward(self, grad_out, input_grad=True):
        if not input_grad:
            return None
        part = to_nhwc(grad_out) * xp.asarray(1 / len(self._offsets()), grad_out.dtype)

        def part_of(k, out=None):
            if out is None:
                return part
            out[...] = part
        return self._grad_input(part_of)


@register_layer("global_avg_pool2d")
class GlobalAvgPool2D(Layer):
    """y[n, c] = mean over H and W of x[n, c]: (n, C, H, W) -> (n, C)."""

    def build(self, input_shape, rng, dtype):
        c, h, w = image_shape(input_shape, self.type)
        super().build(input_shape, rng, dtype)
        self.output_shape = (c,)
        return self.output_shape

    def forward(self, x, training=False):
        self.x_shape = x.shape
        return to_nhwc(x).mean(axis=(1, 2))

    def backward(self, grad_out, input_grad=True):
        if not input_grad:
            return None
        n, c, h, w = self.x_shape
        dx = xp.empty((n, h, w, c), grad_out.dtype)
        dx[...] = (grad_out * xp.asarray(1 / (h * w), grad_out.dtype))[:, None, None, :]
        return to_nchw(dx)

    def describe(self):
        return "global_avg_pool2d"
