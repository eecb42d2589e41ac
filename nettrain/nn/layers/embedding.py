"""Embedding: token ids (n, T) to vectors (n, T, output_dim), as torch.nn.Embedding(padding_idx=0)."""

from nettrain.backend import xp
from nettrain.checks import check_int
from nettrain.errors import DataError, ShapeError
from nettrain.nn.layers.base import Layer, register_layer


@register_layer("embedding")
class Embedding(Layer):
    """y[i, t] = W[ids[i, t]], with W of shape (input_dim, output_dim).

    Row 0 is padding, as torch's `padding_idx=0`: it starts at zero and its gradient is
    always zero, so it never learns. The other rows start standard normal (torch's default).
    Ids arrive as floats in the model's dtype and are cast to integers; each must be a whole
    number in [0, input_dim).
    Backward: dW[v] = sum of grad_out over the positions whose id is v (row 0 kept at zero);
    ids have no gradient.

    Args:
        output_dim: the size of each vector, an integer >= 1.
        input_dim: the number of ids (the vocabulary size, padding and unknown included);
            default: the data's vocabulary size.
    """

    weight_keys = ("W",)
    input_kind = "token_ids"  # the data side leaves such inputs unscaled

    def __init__(self, output_dim=None, input_dim=None):
        super().__init__()
        if output_dim is None:
            raise ValueError("output_dim is required: the size of each token's vector, an integer >= 1.")
        self.output_dim = check_int("output_dim", output_dim, low=1)
        self.input_dim = None if input_dim is None else check_int("input_dim", input_dim, low=2)

    def use_data(self, facts):
        if self.input_dim is None and facts.get("vocab_size"):
            self.input_dim = int(facts["vocab_size"])

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        input_shape = self.input_shape
        if len(input_shape) != 1:
            raise ShapeError("an embedding takes token ids of shape (T,): use data.text, or an "
                             ".npz whose X is (n, T) integers")
        if self.input_dim is None:
            raise ShapeError("input_dim is unknown: give input_dim (the number of token ids), or "
                             "use data.text, which tells the model its vocabulary size")
        shape = (self.input_dim, self.output_dim)
        self.params["W"] = rng.standard_normal(shape).astype(self.dtype)
        self.params["W"][0] = 0
        self.grads["W"] = xp.zeros(shape, self.dtype)
        self.output_shape = input_shape + (self.output_dim,)
        return self.output_shape

    def frozen(self, name):
        return xp.arange(self.output_dim) if name == "W" else None  # row 0, the padding

    def forward(self, x, training=False):
        ids = x.astype(xp.intp)
        self.check_ids(x, ids)
        self.ids = ids
        return xp.take(self.params["W"], ids, axis=0)

    def check_ids(self, x, ids):
        """Raise DataError unless every id is a whole number in [0, input_dim)."""
        if ids.size == 0:
            return
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= self.input_dim:
            bad = low if low < 0 else high
            raise DataError(
                f"The embedding layer gets token id {bad}, outside its range [0, "
                f"{self.input_dim}) (input_dim {self.input_dim}): "
                f"set input_dim to at least {high + 1} (the largest id + 1), or leave it out so "
                f"it defaults to the data's vocabulary size.")
        if not xp.array_equal(ids, x):
            raise DataError("The embedding layer gets token ids that are not whole numbers: "
                            "token ids must not be scaled (data.scale: none for an .npz of "
                            "token ids).")

    def backward(self, grad_out, input_grad=True):
        dW = self.grads["W"]
        dW[...] = 0
        xp.add.at(dW, self.ids.ravel(), grad_out.reshape(-1, self.output_dim))
        dW[0] = 0
        return xp.zeros(self.ids.shape, grad_out.dtype) if input_grad else None

    def _args(self):
        return {"output_dim": self.output_dim, "input_dim": self.input_dim}

    def describe(self):
        return f"embedding({self.input_dim}, {self.output_dim})"
