"""Optimizers with torch.optim's update rules, and the gradient hooks they run before them.

`step(named_params)` takes `(key, param, grad)` triples, runs the optimizer's gradient hooks
(the L1/L2 penalties and clipping: see nettrain.nn.optimizer_hooks) and updates the params in
place.
The state of all parameters lives in one flat array per slot (torch's state names:
`exp_avg`, `momentum_buffer`, ...). When the triples come from `Model.named_params()`
(views into one flat buffer), the whole update is about ten ufunc calls with `out=` scratch
arrays per CHUNK of the flat buffer, so a step allocates nothing and costs the same for 2
or 20 layers.

Every FLUSH_EVERY steps, state entries that have decayed to below 2**24 times the smallest
normal number are set to zero. A moment whose gradient has stopped (say, the weights of a
pixel that is always blank) otherwise decays into subnormal numbers, which CPUs compute
with several times slower, and on MNIST that made whole epochs 3-4 times slower. Entries
that small (about 2e-31 in float32) are some twenty orders of magnitude below `eps`, so no
update changes measurably.
"""

import math

from nettrain import registry
from nettrain.backend import xp
from nettrain.checks import check_bool, check_float
from nettrain.errors import ConfigError
from nettrain.nn.model import flat_buffers

# Steps between flushes of state decaying toward subnormal numbers: a moment with beta >= 0.78
# cannot fall from the threshold (2**24 times the smallest normal) to subnormal in between.
FLUSH_EVERY = 64
# Elements per chunk of a flat update: the ten passes of an Adam update then find a chunk's
# five float32 arrays (1.25 MB) in the core's L2 cache instead of memory (about 6% an
# epoch), in few enough calls that NumPy's per-call cost stays small.
CHUNK = 1 << 16


OPTIMIZERS = {}  # name -> Optimizer class, filled by @register_optimizer
register_optimizer = registry.registrar("optimizer", OPTIMIZERS)


class Optimizer:
    """Base: the state layout, `step`, and state saving. Subclasses define `_update`."""

    name = "optimizer"
    scratch = ("u",)  # temporary arrays, one flat array each, never saved

    def __init__(self, lr):
        self.lr = check_float("lr", lr, low=0, low_open=True)
        self.t = 0  # steps taken: torch's `step` state
        self.slots = ()  # saved per-parameter state, torch's names
        self._bound = None  # the named_params object the layout was made for
        self._keys = None
        self._pending = None  # arrays from load_state_dict before the first step
        self.hooks = []  # gradient hooks, in the order `step` runs them

    @property
    def lr(self):
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = float(value)

    # The momentum one_cycle cycles, as torch picks it: beta1 where the optimizer has betas,
    # else its `momentum`; None for an optimizer with neither (adagrad, which one_cycle refuses).
    cycled_momentum = None

    def add_hook(self, hook):
        """Add a gradient hook (nettrain.nn.optimizer_hooks); `step` runs the hooks by their
        `order`, not the order they were added in. One hook of each kind."""
        if any(type(other) is type(hook) for other in self.hooks):
            raise ValueError(f"this optimizer already has a {type(hook).__name__} hook.")
        self.hooks = sorted([*self.hooks, hook], key=lambda h: h.order)

    def step(self, named_params, inspect=None):
        """One optimization step: the penalty hooks add their gradients; `inspect(named_params)`,
        when given, sees the complete gradient; the clipping hooks bound it; then every param
        is updated in place from its grad."""
        for hook in self.hooks:
            if hook.penalty:
                hook(named_params)
        if inspect is not None:
            inspect(named_params)
        for hook in self.hooks:
            if not hook.penalty:
                hook(named_params)
        self._update_all(named_params)

    def _update_all(self, named_params):
        flat = flat_buffers(named_params)
        if named_params is not self._bound:
            self._setup(named_params)
            self._chunks = self._chunked(flat) if flat is not None else None
        self.t += 1
        if flat is not None:
            for chunk in self._chunks:
                self._update(*chunk)
        else:
            for (key, param, grad), state, tmp in zip(named_params, self._state_views, self._tmp_views):
                self._update(param, grad, state, tmp)
        if self.t % FLUSH_EVERY == 0:
            self._flush_subnormal()

    def _chunked(self, flat):
        """(param, grad, state, tmp) views of the flat buffers, CHUNK elements each."""
        parts = [slice(start, start + CHUNK) for start in range(0, flat[0].size, CHUNK)]
        return [(flat[0][part], flat[1][part], {k: a[part] for k, a in self._state.items()},
                 {k: a[part] for k, a in self._tmp.items()}) for part in parts]

    def _flush_subnormal(self):
        """Zero the state entries below 2**24 times the dtype's smallest normal number."""
        u = self._tmp["u"]
        for array in self._state.values():
            xp.abs(array, out=u)
            xp.greater_equal(u, xp.finfo(array.dtype).tiny * 2.0**24, out=u)
            array *= u

    def _initial(self, slot):
        return 0.0

    def _slots(self):
        return self.slots

    def _setup(self, named_params):
        keys = [key for key, _, _ in named_params]
        if self._keys is not None and keys != self._keys:
            raise ValueError("this optimizer was set up for other parameters: "
                             f"{self._keys} != {keys}")
        self._bound = named_params
        if self._keys is not None:
            return
        self._keys = keys
        self.slots = self._slots()  # one_cycle may have set a momentum since __init__
        shapes = [param.shape for _, param, _ in named_params]
        dtype = named_params[0][1].dtype if keys else xp.float32
        total = sum(math.prod(s) for s in shapes)
        self._state = {slot: xp.full(total, self._initial(slot), dtype) for slot in self.slots}
        self._tmp = {name: xp.empty(total, dtype) for name in self.scratch}
        self._offsets = []
        offset = 0
        for shape in shapes:
            self._offsets.append((offset, offset + math.prod(shape), shape))
            offset += math.prod(shape)
        self._state_views = [self._views(self._state, o) for o in self._offsets]
        self._tmp_views = [self._views(self._tmp, o) for o in self._offsets]
        if self._pending is not None:
            self._load_slots(self._pending)

    @staticmethod
    def _views(arrays, offsets):
        start, stop, shape = offsets
        return {name: array[start:stop].reshape(shape) for name, array in arrays.items()}

    def state_dict(self):
        """Flat dict of arrays: `{name}.step`, `{name}.lr`, `{name}.{slot}.{param key}`."""
        state = {f"{self.name}.step": xp.asarray(self.t, dtype=xp.int64),
                 f"{self.name}.lr": xp.asarray(self.lr, dtype=xp.float64)}
        if self._keys is None:
            return {**state, **(self._pending or {})}
        for key, views in zip(self._keys, self._state_views):
            for slot, view in views.items():
                state[f"{self.name}.{slot}.{key}"] = view.copy()
        return state

    def load_state_dict(self, arrays, source="checkpoint"):
        """Restore the state saved by `state_dict` (arrays of other objects are ignored)."""
        step_key = f"{self.name}.step"
        if step_key not in arrays:
            raise ConfigError(f"{source} has no {step_key}: it was saved with another optimizer "
                              f"than {self.name}. Resume with the optimizer it was trained with.")
        self.t = int(arrays[step_key])
        if f"{self.name}.lr" in arrays:
            self.lr = float(arrays[f"{self.name}.lr"])
        prefix = f"{self.name}."
        self._pending = {k: xp.asarray(v) for k, v in arrays.items()
                         if k.startswith(prefix) and k.count(".") >= 2}
        self._pending_source = source
        if self._keys is not None:
            self._load_slots(self._pending)

    def _load_slots(self, arrays):
        problems = []
        for key, views in zip(self._keys, self._state_views):
            for slot, view in views.items():
                name = f"{self.name}.{slot}.{key}"
                if self.t == 0:
                    break  # no step taken yet: the state keeps its initial values
                if name not in arrays:
                    problems.append(f"{self._pending_source} lacks {name}.")
                elif arrays[name].shape != view.shape:
                    problems.append(f"{self._pending_source}: {name} has shape {arrays[name].shape}, "
                                    f"but the model's parameter has {view.shape}.")
                else:
                    view[...] = arrays[name]
        if problems:
            raise ConfigError(problems)
        self._pending = None

    def _decayed(self, param, grad, tmp):
        """grad + weight_decay * param (torch's L2 weight decay), in the scratch array `d`."""
        d = xp.multiply(param, self.weight_decay, out=tmp["d"])
        d += grad
        return d

    def config(self):
        return {"name": self.name, "lr": self.lr, **self._args()}


@register_optimizer("sgd")
class SGD(Optimizer):
    """Stochastic gradient descent, as torch.optim.SGD:

        g = grad + weight_decay * p
        b = g at the first step, else momentum * b + (1 - dampening) * g
        g = g + momentum * b if nesterov else b          (when momentum > 0)
        p = p - lr * g

    Args:
        lr: the learning rate, > 0 (default 0.001).
        momentum, dampening, weight_decay: >= 0 (default 0).
        nesterov: Nesterov momentum; needs momentum > 0 and dampening 0.
    """

    scratch = ("u", "d")

    cycled_momentum = property(lambda self: self.momentum,
                               lambda self, value: setattr(self, "momentum", value))

    def __init__(self, lr=0.001, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(lr)
        self.momentum = check_float("momentum", momentum, low=0)
        self.dampening = check_float("dampening", dampening, low=0)
        self.weight_decay = check_float("weight_decay", weight_decay, low=0)
        self.nesterov = check_bool("nesterov", nesterov)
        if nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening 0. "
                             f"Got momentum={momentum}, dampening={dampening}.")
        self.slots = self._slots()

    def _slots(self):
        return ("momentum_buffer",) if self.momentum else ()

    def _update(self, p, grad, state, tmp):
        d = self._decayed(p, grad, tmp) if self.weight_decay else grad
        g, u = d, tmp["u"]
        if self.momentum:
            buf = state["momentum_buffer"]
            if self.t == 1:
                buf[...] = d
            elif self.dampening:
                buf *= self.momentum
                buf += xp.multiply(d, 1 - self.dampening, out=u)
            else:
                buf *= self.momentum
                buf += d
            if self.nesterov:
                g = xp.multiply(buf, self.momentum, out=u)
                g += d
            else:
                g = buf
        xp.multiply(g, self.lr, out=u)
        p -= u

    def _args(self):
        return {"momentum": self.momentum, "dampening": self.dampening,
                "weight_decay": self.weight_decay, "nesterov": self.nesterov}


def _betas(betas):
    if not isinstance(betas, (list, tuple)) or len(betas) != 2:
        raise ValueError(f"betas must be a list of two numbers in [0, 1). Got {betas!r}.")
    return tuple(check_float(f"betas[{i}]", b, low=0, high=1, high_open=True) for i, b in enumerate(betas))


@register_optimizer("adam")
class Adam(Optimizer):
    """Adam, as torch.optim.Adam (weight decay as an L2 term in the gradient):

        g = grad + weight_decay * p
        m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
        v_max = max(v_max, v) and v = v_max                (amsgrad)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    The moments are kept divided by (1 - beta), m' = m / (1 - beta1) and
    v' = v / (1 - beta2), so each updates in two passes instead of three (m' = beta1 m' + g);
    the constants fold into the scalars of the step. state_dict saves the kept arrays as
    they are (a resumed run continues bit for bit) with the factors that turn them into
    torch's: `adam.scale.exp_avg` = 1 - beta1, `adam.scale.exp_avg_sq` = 1 - beta2. When
    beta1 changes between steps (one_cycle cycles it), m' moves to the new factor in the
    same pass: m' = beta1 (1 - beta1_before) / (1 - beta1) m' + g.

    Args:
        lr: > 0 (default 0.001). betas: (beta1, beta2) in [0, 1) (default (0.9, 0.999)).
        eps: >= 0 (default 1e-8). weight_decay: >= 0 (default 0). amsgrad: default false.
    """

    scratch = ("u", "d")
    decoupled = False

    cycled_momentum = property(lambda self: self.betas[0],
                               lambda self, value: setattr(self, "betas", (value, *self.betas[1:])))

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(lr)
        self.betas = _betas(betas)
        self.eps = check_float("eps", eps, low=0)
        self.weight_decay = check_float("weight_decay", weight_decay, low=0)
        self.amsgrad = check_bool("amsgrad", amsgrad)
        self.slots = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if self.amsgrad else ())
        self.kept_scale = None  # 1 - beta1 of the step that last updated m' (None: none yet)
        self._rescale = 1.0

    def _update_all(self, named_params):
        scale = 1 - self.betas[0]
        self._rescale = (self.kept_scale or scale) / scale  # 1.0 unless beta1 changed
        super()._update_all(named_params)
        self.kept_scale = scale

    def _update(self, p, grad, state, tmp):
        beta1, beta2 = self.betas
        g = grad
        if self.weight_decay and self.decoupled:
            p *= 1 - self.lr * self.weight_decay
        elif self.weight_decay:
            g = self._decayed(p, grad, tmp)
        m, v, u = state["exp_avg"], state["exp_avg_sq"], tmp["u"]
        m *= beta1 * self._rescale
        m += g
        v *= beta2
        xp.square(g, out=u)
        v += u
        if self.amsgrad:
            v = xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        # torch's step in the kept moments: with c1 = 1 - beta1, c2 = 1 - beta2 and the bias
        # corrections bc1, bc2 it is lr c1 / bc1 * m' / (sqrt(v') sqrt(c2 / bc2) + eps); the
        # denominator divided through by sqrt(c2 / bc2) leaves one scalar factor.
        root = math.sqrt((1 - beta2) / (1 - beta2 ** self.t))
        xp.sqrt(v, out=u)
        u += self.eps / root
        xp.divide(m, u, out=u)
        u *= self.lr * (1 - beta1) / (1 - beta1 ** self.t) / root
        p -= u

    def _scale(self, slot):
        """The factor from the kept moment to torch's: 1 - beta1 for m, 1 - beta2 for v."""
        if slot == "exp_avg":
            return self.kept_scale or 1 - self.betas[0]
        return 1 - self.betas[1]

    def state_dict(self):
        scales = {f"{self.name}.scale.{slot}": xp.asarray(self._scale(slot), dtype=xp.float64)
                  for slot in self.slots}
        return {**super().state_dict(), **scales}

    def load_state_dict(self, arrays, source="checkpoint"):
        # A state without the factors holds torch's moments (as earlier versions saved).
        arrays = dict(arrays)
        for key in list(arrays):
            slot = key.split(".")[1] if key.startswith(f"{self.name}.") else None
            if slot in self.slots and f"{self.name}.scale.{slot}" not in arrays:
                arrays[key] = xp.asarray(arrays[key]) / self._scale(slot)
        saved = arrays.get(f"{self.name}.scale.exp_avg")
        self.kept_scale = float(saved) if saved is not None else None
        super().load_state_dict(arrays, source)

    def _args(self):
        return {"betas": list(self.betas), "eps": self.eps, "weight_decay": self.weight_decay,
                "amsgrad": self.amsgrad}


@register_optimizer("adamw")
class AdamW(Adam):
    """AdamW, as torch.optim.AdamW: decoupled weight decay, p = p (1 - lr weight_decay), then
    the Adam step on the plain gradient. Defaults as Adam's except weight_decay 0.01.
    """

    decoupled = True

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, amsgrad=False):
        super().__init__(lr, betas, eps, weight_decay, amsgrad)


@register_optimizer("rmsprop")
class RMSprop(Optimizer):
    """RMSprop, as torch.optim.RMSprop:

        g = grad + weight_decay * p
        v = alpha v + (1 - alpha) g^2
        centered: g_avg = alpha g_avg + (1 - alpha) g; denom = sqrt(v - g_avg^2) + eps
        otherwise: denom = sqrt(v) + eps
        momentum > 0: b = momentum b + g / denom; p = p - lr b
        otherwise: p = p - lr g / denom

    Args:
        lr: > 0 (default 0.01). alpha: in [0, 1] (default 0.99). eps: >= 0 (default 1e-8).
        weight_decay, momentum: >= 0 (default 0). centered: default false.
    """

    scratch = ("u", "d")

    cycled_momentum = property(lambda self: self.momentum,
                               lambda self, value: setattr(self, "momentum", value))

    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(lr)
        self.alpha = check_float("alpha", alpha, low=0, high=1)
        self.eps = check_float("eps", eps, low=0)
        self.weight_decay = check_float("weight_decay", weight_decay, low=0)
        self.momentum = check_float("momentum", momentum, low=0)
        self.centered = check_bool("centered", centered)
        self.slots = self._slots()

    def _slots(self):
        return (("square_avg",) + (("momentum_buffer",) if self.momentum else ())
                + (("grad_avg",) if self.centered else ()))

    def _update(self, p, grad, state, tmp):
        g = self._decayed(p, grad, tmp) if self.weight_decay else grad
        v, u = state["square_avg"], tmp["u"]
        v *= self.alpha
        xp.multiply(g, g, out=u)
        u *= 1 - self.alpha
        v += u
        if self.centered:
            g_avg = state["grad_avg"]
            xp.subtract(g, g_avg, out=u)  # torch's lerp
            u *= 1 - self.alpha
            g_avg += u
            xp.multiply(g_avg, g_avg, out=u)
            xp.subtract(v, u, out=u)
            xp.sqrt(u, out=u)
        else:
            xp.sqrt(v, out=u)
        u += self.eps
        xp.divide(g, u, out=u)
        if self.momentum:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += u
            xp.multiply(buf, self.lr, out=u)
        else:
            u *= self.lr
        p -= u

    def _args(self):
        return {"alpha": self.alpha, "eps": self.eps, "weight_decay": self.weight_decay,
                "momentum": self.momentum, "centered": self.centered}


@register_optimizer("adagrad")
class Adagrad(Optimizer):
    """Adagrad, as torch.optim.Adagrad:

        g = grad + weight_decay * p
        lr_t = lr / (1 + (t - 1) lr_decay)
        s = s + g^2                       (s starts at initial_accumulator_value)
        p = p - lr_t g / (sqrt(s) + eps)

    Args:
        lr: > 0 (default 0.01). lr_decay, weight_decay, initial_accumulator_value: >= 0
        (default 0). eps: >= 0 (default 1e-10).
    """

    scratch = ("u", "d")

    def __init__(self, lr=0.01, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
        super().__init__(lr)
        self.lr_decay = check_float("lr_decay", lr_decay, low=0)
        self.weight_decay = check_float("weight_decay", weight_decay, low=0)
        self.initial_accumulator_value = check_float("initial_accumulator_value",
                                                     initial_accumulator_value, low=0)
        self.eps = check_float("eps", eps, low=0)
        self.slots = ("sum",)

    def _initial(self, slot):
        return self.initial_accumulator_value

    def _update(self, p, grad, state, tmp):
        g = self._decayed(p, grad, tmp) if self.weight_decay else grad
        s, u = state["sum"], tmp["u"]
        xp.multiply(g, g, out=u)
        s += u
        xp.sqrt(s, out=u)
        u += self.eps
        xp.divide(g, u, out=u)
        u *= self.lr / (1 + (self.t - 1) * self.lr_decay)
        p -= u

    def _args(self):
        return {"lr_decay": self.lr_decay, "weight_decay": self.weight_decay,
                "initial_accumulator_value": self.initial_accumulator_value, "eps": self.eps}


def get_optimizer(spec, where="optimizer"):
    """An optimizer from a name (`adam`) or a mapping (`{name: sgd, lr: 0.1, momentum: 0.9}`)."""
    return registry.get("optimizer", OPTIMIZERS, spec, where=where)

