"""Finite-difference check of analytic gradients: model + loss + regularization, in float64."""

from nettrain.backend import xp
from nettrain.errors import RunError
from nettrain.nn.optimizer_hooks import gradient_hooks, penalty_term

THRESHOLD = 1e-6  # the largest relative error `nettrain gradcheck` accepts

# Central differences (eps 1e-6) of a loss of order 1 carry a rounding noise of about
# 1e-16 / eps, up to 5e-10 on real configs. So a gradient entry smaller than FLOOR is
# measured against FLOOR: there, a relative error under 1e-6 means an absolute error under
# 1e-8, twenty times the noise, instead of a ratio of two noisy numbers near zero.
FLOOR = 1e-2


def numerical_gradient(f, x, eps=1e-6, indices=None):
    """Central differences (f(x + eps) - f(x - eps)) / (2 eps) of a scalar f() wrt array x.

    `x` is perturbed in place, one entry at a time, and restored exactly. `indices` (flat
    positions) limits the entries computed; the others stay 0.
    """
    grad = xp.zeros(x.shape)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(x.size) if indices is None else indices:
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def relative_error(analytic, numeric):
    """Elementwise |a - n| / max(|a|, |n|, FLOOR)."""
    scale = xp.maximum(xp.maximum(xp.abs(analytic), xp.abs(numeric)), FLOOR)
    return xp.abs(analytic - numeric) / scale


def check_gradients(model, loss, X, y, l1=0.0, l2=0.0, eps=1e-6, max_entries=None, rng=None):
    """Compare backprop with central differences for every parameter of `model`.

    The objective is loss(model(X, training=True), y) + l1 sum|W| + l2/2 sum W^2. Dropout
    draws the same masks in every evaluation (the model's Generator is reset to one state
    before each forward pass); batchnorm runs in training mode and its running statistics
    are restored afterwards.

    Args:
        max_entries: check at most this many entries per parameter array (chosen by `rng`).

    Returns:
        rows `(layer key, param name, max abs error, max relative error)`, e.g.
        `("layers.0", "W", 3e-11, 2e-9)`.
    """
    if model.dtype != xp.float64:
        raise RunError(f"Gradient checks need a float64 model; this one is {model.dtype}.")
    rng_state, saved = model.rng_state(), model.state_dict()
    penalties = gradient_hooks(l1, l2)  # the optimizer's L1/L2 hooks, which training runs

    def objective():
        model.set_rng_state(rng_state)
        data_loss = loss.forward(model.forward(X, training=True), y)
        return data_loss + penalty_term(penalties, model.named_params())

    objective()
    model.backward(loss.backward())
    for penalty in penalties:
        penalty(model.named_params())
    analytic = {key: grad.copy() for key, _, grad in model.named_params()}
    rows = []
    for key, param, _ in model.named_params():
        indices = None
        layer_index, name = key.split(".")[1], key.rsplit(".", 1)[1]
        frozen = model.layers[int(layer_index)].frozen(name)  # entries that never learn
        if frozen is not None:
            indices = xp.setdiff1d(xp.arange(param.size), frozen)
        if max_entries is not None and (param.size if indices is None else len(indices)) > max_entries:
            pool = param.size if indices is None else indices
            indices = (rng or xp.random.default_rng(0)).choice(pool, max_entries, replace=False)
        numeric = numerical_gradient(objective, param, eps, indices)
        a = analytic[key] if indices is None else analytic[key].reshape(-1)[indices]
        n = numeric if indices is None else numeric.reshape(-1)[indices]
        layer, name = key.rsplit(".", 1)
        rows.append((layer, name, float(xp.max(xp.abs(a - n))), float(xp.max(relative_error(a, n)))))
    model.load_state_dict(saved)
    model.set_rng_state(rng_state)
    return rows
