"""Losses on the model's raw output: batch means, their gradients, and the output link.

Classification losses take logits; softmax/sigmoid live here, fused with the loss, so the
gradient is (probabilities - targets), which stays exact where the separate derivatives
would overflow or cancel.
"""

from nettrain import registry
from nettrain.backend import xp
from nettrain.checks import check_float
from nettrain.errors import ConfigError, DataError
from nettrain.nn import class_weights as class_weights_spec
from nettrain.nn.activations import sigmoid


def softmax(z):
    e = xp.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


LOSSES = {}  # name -> Loss class, filled by @register_loss
register_loss = registry.registrar("loss", LOSSES)


class Loss:
    """Base: `forward(output, y) -> float` caches what `backward() -> dL/doutput` needs."""

    name = "loss"
    task = "regression"

    def bind(self, classes, counts):
        """Learn what the data must tell: the class labels and train counts per class (for
        `class_weights` given as 'balanced' or by label). Returns self."""
        return self

    def link(self, output):
        """The output mapped to the prediction scale (probabilities for classification)."""
        return output

    def config(self):
        args = self._args()
        return {"name": self.name, **args} if args else self.name

    def _args(self):
        return {}


def _class_targets(y, n_rows, n_classes, name):
    y = xp.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (n_rows,) or y.dtype.kind not in "iub":
        raise DataError(f"{name} needs integer class indices of shape ({n_rows},). "
                        f"Got {y.dtype} of shape {y.shape}.")
    if n_rows and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"{name}: class index {int(y.max() if y.max() >= n_classes else y.min())} "
                        f"is outside 0..{n_classes - 1}: the last layer has {n_classes} units. "
                        "Set its units to the number of classes.")
    return y


@register_loss("cross_entropy")
class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits of shape (n, C) with class indices y of shape (n,).

    As torch's `cross_entropy`: with smoothing e the target of row i is
    q_ic = (1 - e) [c = y_i] + e / C, and with class weights w the loss is
    L = sum_i sum_c w_c q_ic (-log p_ic) / sum_i w_{y_i}  (the plain mean without weights).
    Fused gradient: dL/dz_i = (p_i sum_c a_ic - a_i) / W with a_ic = w_c q_ic, W = sum_i w_{y_i};
    without weights it is (p_i - q_i) / n.

    Args:
        label_smoothing: e in [0, 1).
        class_weights: one weight >= 0 per class (a list), 'balanced', a mapping from labels
            to weights, or none (see nettrain.nn.class_weights).
    """

    task = "classification"

    def __init__(self, label_smoothing=0.0, class_weights=None):
        self.label_smoothing = check_float("label_smoothing", label_smoothing, low=0, high=1,
                                           high_open=True)
        self.class_weights = class_weights_spec.check(class_weights)
        self.weight_list = self.class_weights if isinstance(self.class_weights, list) else None

    def bind(self, classes, counts):
        self.weight_list = class_weights_spec.resolve(self.class_weights, classes, counts)
        return self

    def _weights(self, n_classes, dtype):
        return _weight_array(self, n_classes, dtype)

    def forward(self, output, y):
        n, n_classes = output.shape
        y = _class_targets(y, n, n_classes, self.name)
        rows = xp.arange(n)
        shifted = output - output.max(axis=1, keepdims=True)  # exp never overflows
        if self.class_weights is None and not self.label_smoothing:  # the plain, fused case
            picked = shifted[rows, y]
            p = xp.exp(shifted, out=shifted)
            total = p.sum(axis=1, keepdims=True)
            p /= total
            self.cache = (p, rows, y, None, n)
            # -log p_iy = log sum_c exp(z_ic) - z_iy, both shifted by the row max
            return float((xp.log(total).sum() - picked.sum()) / n)
        logp = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        # a_ic: the weight of -log p_ic in the sum
        a = xp.zeros_like(output)
        a[rows, y] = 1 - self.label_smoothing
        a += self.label_smoothing / n_classes
        weights = self._weights(n_classes, output.dtype)
        total = n
        if weights is not None:
            a *= weights
            total = float(weights[y].sum())
            if total == 0:
                raise DataError("cross_entropy: every sample of the batch has class weight 0, "
                                "so the weighted mean is undefined. Give those classes a weight > 0.")
        self.cache = (xp.exp(logp), rows, y, a, total)
        return float(-(a * logp).sum() / total)

    def backward(self):
        p, rows, y, a, total = self.cache
        if a is None:  # the fused softmax + cross-entropy gradient: p - onehot(y)
            grad = p.copy()
            grad[rows, y] -= 1
        else:
            grad = p * a.sum(axis=1, keepdims=True)
            grad -= a
        grad /= total
        return grad

    def link(self, output):
        return softmax(output)

    def _args(self):
        args = {}
        if self.label_smoothing:
            args["label_smoothing"] = self.label_smoothing
        if self.class_weights is not None:
            args["class_weights"] = self.class_weights
        return args


def _weight_array(loss, n_classes, dtype):
    """The loss's class weights as an array of `n_classes`, or None without weights."""
    if loss.class_weights is None:
        return None
    if loss.weight_list is None:
        raise ConfigError(f"loss.class_weights: {loss.class_weights!r} needs the data's classes; "
                          "the loss was used before bind(classes, counts).")
    if len(loss.weight_list) != n_classes:
        raise ConfigError(f"loss.class_weights has {len(loss.weight_list)} weights but the "
                          f"model has {n_classes} classes (units of the last layer). "
                          "Give one weight per class, in sorted label order.")
    return xp.asarray(loss.weight_list, dtype=dtype)


@register_loss("binary_cross_entropy")
class BinaryCrossEntropyLoss(Loss):
    """Sigmoid binary cross-entropy on logits z of shape (n, 1), y in {0, 1} of shape (n,) or (n, 1).

    l_i = max(z, 0) - z y + log(1 + exp(-|z|)), which never exponentiates a positive number,
    so it stays exact for |z| > 50. L = mean(l_i), dL/dz = (sigmoid(z) - y) / n; with class
    weights w (w_0 for y = 0, w_1 for y = 1) L = sum_i w_{y_i} l_i / sum_i w_{y_i}, as
    cross_entropy weighs its classes, and dL/dz_i = w_{y_i} (sigmoid(z_i) - y_i) / sum w_{y_i}.

    Args:
        class_weights: as cross_entropy's (two classes).
    """

    task = "classification"

    def __init__(self, class_weights=None):
        self.class_weights = class_weights_spec.check(class_weights)
        self.weight_list = self.class_weights if isinstance(self.class_weights, list) else None

    def bind(self, classes, counts):
        self.weight_list = class_weights_spec.resolve(self.class_weights, classes, counts)
        return self

    def _args(self):
        return {} if self.class_weights is None else {"class_weights": self.class_weights}

    def forward(self, output, y):
        n = output.shape[0]
        if output.ndim != 2 or output.shape[1] != 1:
            raise ConfigError(f"binary_cross_entropy needs one output unit (a logit per sample); "
                              f"the last layer has {output.shape[-1]}. Set its units to 1, or use "
                              "cross_entropy for more than two classes.")
        labels = _class_targets(y, n, 2, self.name)
        y = labels.astype(output.dtype)[:, None]
        z = output
        losses = xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))
        weights = _weight_array(self, 2, output.dtype)
        if weights is None:
            self.cache = (output, y, None, n)
            return float(xp.mean(losses))
        w = weights[labels][:, None]
        total = float(w.sum())
        if total == 0:
            raise DataError("binary_cross_entropy: every sample of the batch has class weight 0, "
                            "so the weighted mean is undefined. Give those classes a weight > 0.")
        self.cache = (output, y, w, total)
        return float((w * losses).sum() / total)

    def backward(self):
        z, y, w, total = self.cache
        grad = sigmoid(z) - y
        return grad / total if w is None else grad * w / total

    def link(self, output):
        return sigmoid(output)


class _RegressionLoss(Loss):
    """Base for elementwise regression losses: means over all elements of (n, k)."""

    def _targets(self, output, y):
        y = xp.asarray(y, dtype=output.dtype)
        if y.ndim == 1 and output.shape[1] == 1:
            y = y[:, None]
        if y.shape != output.shape:
            raise DataError(f"{self.name}: the targets have shape {y.shape} but the model outputs "
                            f"{output.shape}. The last layer needs one unit per target column.")
        return y

    def forward(self, output, y):
        self.diff = output - self._targets(output, y)
        return float(self._value(self.diff))


@register_loss("mse", "mean_squared_error")
class MSELoss(_RegressionLoss):
    """L = mean((output - y)^2) over all elements; dL/doutput = 2 (output - y) / size."""

    def _value(self, d):
        return xp.vdot(d, d) / d.size

    def backward(self):
        return self.diff * (2 / self.diff.size)


@register_loss("mae", "mean_absolute_error")
class MAELoss(_RegressionLoss):
    """L = mean(|output - y|); dL/doutput = sign(output - y) / size (0 where they are equal)."""

    def _value(self, d):
        return xp.abs(d).mean()

    def backward(self):
        return xp.sign(self.diff) / self.diff.size


@register_loss("huber")
class HuberLoss(_RegressionLoss):
    """As torch's `huber_loss`: per element 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta);
    mean over all elements. dL/doutput = clip(d, -delta, delta) / size.

    Args:
        delta: where the loss turns from quadratic to linear, > 0 (default 1.0).
    """

    def __init__(self, delta=1.0):
        self.delta = check_float("delta", delta, low=0, low_open=True)

    def _value(self, d):
        a = xp.abs(d)
        quadratic = xp.minimum(a, self.delta)
        # 0.5 q^2 + delta (|d| - q) equals both branches
        return (0.5 * quadratic * quadratic + self.delta * (a - quadratic)).mean()

    def backward(self):
        return xp.clip(self.diff, -self.delta, self.delta) / self.diff.size

    def _args(self):
        return {"delta": self.delta}


def get_loss(spec, where="loss"):
    """A loss from a name (`mse`) or a mapping (`{name: huber, delta: 0.5}`)."""
    return registry.get("loss", LOSSES, spec, where=where)
