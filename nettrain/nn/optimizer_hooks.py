"""Gradient hooks: the L1/L2 penalties and gradient clipping an optimizer applies before its update.

They go with the optimizer, as Keras's `clipnorm`/`clipvalue` optimizer arguments and
Chainer's optimizer hooks (`Lasso`, `WeightDecay`, `GradientClipping`,
`GradientHardClipping`) place them: `optimizer.add_hook(hook)`. A hook changes the grads of
`(key, param, grad)` triples in place. Whatever order they were added in, `Optimizer.step`
runs them by their `order`:

1. `L1Penalty`, then `L2Penalty`: the gradients of the loss terms l1 sum|W| and
   l2 / 2 sum W^2 over the weights (the kernels of dense, conv, embedding and recurrent
   layers; no biases, no batchnorm), which make the gradient that of the regularized loss;
2. `step`'s `inspect` function, when given, sees that gradient (the trainer's divergence
   check and its `on_after_backward` callbacks);
3. `ClipNorm`, then `ClipValue`: torch's `clip_grad_norm_` and `clip_grad_value_`;

and then the update rule. The penalties need the weights, so they take a model's
`named_params()` (its `weights` attribute); clipping takes any list of triples.
"""

import math

from nettrain.backend import xp
from nettrain.checks import check_float
from nettrain.nn.model import flat_buffers


class GradientHook:
    """Base: `hook(named_params)` changes the grads in place.

    `order` places the hook in a step; a `penalty` runs before the step's `inspect`.
    """

    order = 0
    penalty = False

    def __call__(self, named_params):
        raise NotImplementedError


class L1Penalty(GradientHook):
    """The gradient of rate * sum|W| over the weights: grad += rate * sign(W) (0 at W = 0,
    as torch's autograd gives). `regularization.l1`; Chainer's `Lasso`."""

    order = 1
    penalty = True

    def __init__(self, rate):
        self.rate = check_float("regularization.l1", rate, low=0, low_open=True)

    def __call__(self, named_params):
        for _, w, grad in named_params.weights:
            grad += self.rate * xp.sign(w)

    def term(self, named_params):
        """The loss term rate * sum|W|."""
        return sum(self.rate * float(xp.abs(w).sum()) for _, w, _ in named_params.weights)


class L2Penalty(GradientHook):
    """The gradient of rate / 2 * sum W^2 over the weights: grad += rate * W.
    `regularization.l2`; Chainer's `WeightDecay` (not the optimizers' `weight_decay`, which
    also decays biases and comes after clipping)."""

    order = 2
    penalty = True

    def __init__(self, rate):
        self.rate = check_float("regularization.l2", rate, low=0, low_open=True)

    def __call__(self, named_params):
        for _, w, grad in named_params.weights:
            grad += self.rate * w

    def term(self, named_params):
        """The loss term rate / 2 * sum W^2."""
        return sum(0.5 * self.rate * float(xp.vdot(w, w)) for _, w, _ in named_params.weights)


class ClipNorm(GradientHook):
    """Scales all grads together to a global L2 norm of at most `max_norm` (see
    `clip_grad_norm`). `training.clip_norm`; Keras's `clipnorm`, Chainer's `GradientClipping`."""

    order = 3

    def __init__(self, max_norm):
        self.max_norm = check_float("training.clip_norm", max_norm, low=0, low_open=True)

    def __call__(self, named_params):
        clip_grad_norm(named_params, self.max_norm)


class ClipValue(GradientHook):
    """Clips every grad entry to [-value, value]. `training.clip_value`; Keras's `clipvalue`,
    Chainer's `GradientHardClipping`."""

    order = 4

    def __init__(self, value):
        self.value = check_float("training.clip_value", value, low=0, low_open=True)

    def __call__(self, named_params):
        clip_grad_value(named_params, self.value)


def gradient_hooks(l1=0.0, l2=0.0, clip_norm=None, clip_value=None):
    """The hooks for `regularization.l1`/`l2` and `training.clip_norm`/`clip_value`, in
    their order; 0 and None add none."""
    hooks = [(L1Penalty, l1), (L2Penalty, l2), (ClipNorm, clip_norm), (ClipValue, clip_value)]
    return [cls(value) for cls, value in hooks if value]


def penalty_term(hooks, named_params):
    """The sum of the penalty hooks' loss terms (0.0 without any)."""
    return sum((hook.term(named_params) for hook in hooks if hook.penalty), 0.0)


def _grads(named_params):
    flat = flat_buffers(named_params)
    return [flat[1]] if flat is not None else [grad for _, _, grad in named_params]


def clip_grad_norm(named_params, max_norm):
    """Scale all grads in place so their global L2 norm is at most `max_norm`, as torch's
    `clip_grad_norm_` (factor max_norm / (norm + 1e-6) when that is < 1). Returns the norm
    before clipping."""
    grads = _grads(named_params)
    total = math.sqrt(sum(float(xp.vdot(g, g)) for g in grads))
    factor = max_norm / (total + 1e-6)
    if factor < 1:
        for g in grads:
            g *= factor
    return total


def clip_grad_value(named_params, value):
    """Clip every grad entry in place to [-value, value], as torch's `clip_grad_value_`."""
    for g in _grads(named_params):
        xp.clip(g, -value, value, out=g)
