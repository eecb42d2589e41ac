"""Recurrent layers: rnn, lstm and gru, one layer each, as torch.nn.RNN/LSTM/GRU(batch_first=True).

Input `(n, T, F)`; output the last step's hidden state `(n, units)`, or every step's
`(n, T, units)` with `return_sequences`. Bidirectional runs a second set of weights (suffix
`_reverse`) from the last step to the first and concatenates the two directions (`2*units`);
its last state is the forward direction's last step and the backward direction's first.
Weights are PyTorch's transposed: `W_ih` (F, G*units) is `weight_ih_l0.T`, `W_hh` (units,
G*units) is `weight_hh_l0.T`, with `b_ih`, `b_hh` (G*units,) and the gates in PyTorch's order.
Every weight and bias starts uniform in ±1/sqrt(units), as PyTorch's do.

The time loop is the only Python loop. `x @ W_ih` for every step is one product before the
loop; the weight gradients are one product each after the backward loop. Inside the loop
each step is a handful of whole-batch operations over all gates at once; gate derivatives
that depend only on the forward pass are computed for all steps at once before the loop.
Gates are computed as sigmoid(z) = 1 / (1 + exp(-z)) and tanh(z) = 2 sigmoid(2z) - 1, so
one exp covers every gate of a step (NumPy's exp is about twice as fast as its tanh): the
columns are scaled by -1 or -2 in copies of the weights, never in the parameters.
"""

import math

from nettrain.backend import one_blas_thread, xp
from nettrain.checks import check_bool, check_choice, check_int
from nettrain.errors import ShapeError
from nettrain.nn.layers.base import Layer, register_layer

SEQUENCE_FIX = (
    "a recurrent layer takes sequences of shape (T, features): use data.window on a time "
    "series, an .npz whose X is (n, T, F) or data.shape: [T, F]; for token ids (data.text) put "
    "{type: embedding, output_dim: 64} before it")


class Recurrent(Layer):
    """Shared by rnn, lstm and gru: arguments, weights, directions and the output.

    A subclass sets `gates` (G) and implements `_run(xw, p, s, order)`, the forward loop of
    one direction, and `_back(cache, dH, dlast, p, s, order)`, its backward loop, which
    returns the gradients of the input projection (T, n, G*units) and of the recurrent
    projection (the same array where both biases enter the same sum).
    """

    gates = 1
    gated = True  # gates that keep gradients alive through time (lstm, gru; not rnn)
    activation = "tanh"  # of the hidden state: lstm's and gru's; rnn's is an argument
    time_ratio = None  # set by each backward pass (see time_gradient)

    def __init__(self, units=None, return_sequences=False, bidirectional=False):
        super().__init__()
        if units is None:
            raise ValueError("units is required: the size of the hidden state, an integer >= 1.")
        self.units = check_int("units", units, low=1)
        self.return_sequences = check_bool("return_sequences", return_sequences)
        self.bidirectional = check_bool("bidirectional", bidirectional)
        self.suffixes = ("", "_reverse") if self.bidirectional else ("",)
        self.weight_keys = tuple(w + s for s in self.suffixes for w in ("W_ih", "W_hh"))

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        if len(self.input_shape) != 2:
            raise ShapeError(SEQUENCE_FIX)
        steps, features = self.input_shape
        units, width = self.units, self.gates * self.units
        bound = 1 / math.sqrt(units)
        for s in self.suffixes:
            for name, shape in (("W_ih", (features, width)), ("W_hh", (units, width)),
                                ("b_ih", (width,)), ("b_hh", (width,))):
                self.params[name + s] = rng.uniform(-bound, bound, shape).astype(self.dtype)
                self.grads[name + s] = xp.zeros(shape, self.dtype)
        out = len(self.suffixes) * units
        self.output_shape = (steps, out) if self.return_sequences else (out,)
        return self.output_shape

    def forward(self, x, training=False):
        n, steps, features = x.shape
        # Time-major copy of the input: each step's slice of the projection is contiguous.
        self.xt = xp.ascontiguousarray(x.transpose(1, 0, 2)).reshape(steps * n, features)
        self.caches = []
        for d, s in enumerate(self.suffixes):
            order = _order(steps, reverse=d == 1)
            W_ih, bias = self._input_weights(self.params, s)
            xw = (self.xt @ W_ih).reshape(steps, n, -1)
            xw += bias
            with one_blas_thread():  # the steps' products are small: threads cost more
                cache = self._run(xw, self.params, s, order)
            cache["reverse"] = d == 1
            self.caches.append(cache)
        return self._output(n, steps)

    def _output(self, n, steps):
        units = self.units
        if self.return_sequences:
            y = xp.empty((n, steps, len(self.suffixes) * units), self.dtype)
            for d, cache in enumerate(self.caches):
                y[:, :, d * units:(d + 1) * units] = _states(cache["H"], d == 1)[1].transpose(1, 0, 2)
            return y
        last = [cache["H"][steps] if d == 0 else cache["H"][0] for d, cache in enumerate(self.caches)]
        return last[0].copy() if len(last) == 1 else xp.concatenate(last, axis=1)

    def backward(self, grad_out, input_grad=True):
        units, steps = self.units, self.caches[0]["H"].shape[0] - 1
        n = grad_out.shape[0]
        dxt, self.time_ratio = None, None
        for d, (s, cache) in enumerate(zip(self.suffixes, self.caches)):
            part = slice(d * units, (d + 1) * units)
            if self.return_sequences:
                dH, dlast = grad_out[:, :, part].transpose(1, 0, 2), None
            else:
                dH, dlast = None, grad_out[:, part]
            order = _order(steps, reverse=d == 1)
            with one_blas_thread():
                dXW, dGH = self._back(cache, dH, dlast, self.params, s, order)
            self._measure_time(dXW, order)
            h_prev = _states(cache["H"], cache["reverse"])[0].reshape(steps * n, units)
            dXW2, dGH2 = dXW.reshape(steps * n, -1), dGH.reshape(steps * n, -1)
            xp.matmul(self.xt.T, dXW2, out=self.grads["W_ih" + s])
            xp.matmul(h_prev.T, dGH2, out=self.grads["W_hh" + s])
            xp.sum(dXW2, axis=0, out=self.grads["b_ih" + s])
            if dGH is dXW:
                self.grads["b_hh" + s][...] = self.grads["b_ih" + s]
            else:
                xp.sum(dGH2, axis=0, out=self.grads["b_hh" + s])
            if input_grad:
                part_dx = dXW2 @ self.params["W_ih" + s].T
                dxt = part_dx if dxt is None else xp.add(dxt, part_dx, out=dxt)
        if not input_grad:
            return None
        return xp.ascontiguousarray(dxt.reshape(steps, n, -1).transpose(1, 0, 2))

    def _measure_time(self, dZ, order):
        """Keep the smallest (over directions) ratio of the gate gradients' norm at the first
        step a direction reads to that at its last step, for gradient-health diagnostics."""
        first, last = (xp.sqrt(xp.vdot(dZ[t], dZ[t])) for t in (order[0][0], order[-1][0]))
        ratio = float(first / last) if last > 0 else (0.0 if first == 0 else float("inf"))
        self.time_ratio = ratio if self.time_ratio is None else min(self.time_ratio, ratio)

    def time_gradient(self):
        return self.time_ratio

    def time_fixes(self, kind):
        steps = self.input_shape[0]
        shorter = (f"shorten the sequences ({steps} steps now: data.window.size or "
                   "data.text.max_length)")
        if kind == "vanishing":
            fixes = [shorter, "use bidirectional: true, so every step is near one end"]
            return (["use {type: lstm} or {type: gru}, whose gates keep gradients alive"]
                    if not self.gated else []) + fixes
        return ["lower optimizer.lr", shorter] + (
            ["use activation: tanh"] if self.activation == "relu" else [])

    def _input_weights(self, p, s):
        """W_ih and the bias added to x @ W_ih before the loop (both biases by default)."""
        return p["W_ih" + s], p["b_ih" + s] + p["b_hh" + s]

    def _args(self):
        return {"units": self.units, "return_sequences": self.return_sequences,
                "bidirectional": self.bidirectional}

    def describe(self):
        extra = [f"{self.units}"]
        if self.return_sequences:
            extra.append("sequences")
        if self.bidirectional:
            extra.append("bidirectional")
        return f"{self.type}({', '.join(extra)})"


def _order(steps, reverse):
    """(t, index of h_t, index of h_prev) in processing order, into an array of steps + 1 states.

    Forward: states[0] is the zero initial state and h_t is states[t + 1]. Reverse: the
    loop runs from the last step, states[steps] is the zero state and h_t is states[t].
    """
    if reverse:
        return [(t, t, t + 1) for t in range(steps - 1, -1, -1)]
    return [(t, t + 1, t) for t in range(steps)]


def _states(H, reverse):
    """(h_prev for every step, h for every step): two (T, n, units) views of the states."""
    return (H[1:], H[:-1]) if reverse else (H[:-1], H[1:])


def _gate_scale(units, dtype, kinds):
    """A row vector over the gate columns: -1 for a sigmoid gate ("s"), -2 for a tanh gate ("t")."""
    return xp.repeat(xp.asarray([-1.0 if k == "s" else -2.0 for k in kinds], dtype), units)


def _gates(a, tanh_part=None):
    """In place, on pre-activations scaled by _gate_scale: a = 1 / (1 + exp(a)), then
    2a - 1 on the tanh part. An exp that overflows to inf gives exactly 0, as it should."""
    xp.exp(a, out=a)
    a += 1
    xp.reciprocal(a, out=a)
    if tanh_part is not None:
        a[:, tanh_part] *= 2
        a[:, tanh_part] -= 1


@register_layer("rnn")
class RNN(Recurrent):
    """h_t = act(x_t W_ih + b_ih + h_{t-1} W_hh + b_hh), act tanh or relu (torch.nn.RNN).

    Backward: dz_t = (dh_t + dz_{t+1} W_hh^T) * act'(z_t) with act' = 1 - h^2 for tanh and
    [h > 0] for relu; dW_ih = sum_t x_t^T dz_t, dW_hh = sum_t h_{t-1}^T dz_t.

    Args:
        units: the size of the hidden state.
        return_sequences: return every step's state (n, T, units) instead of the last.
        bidirectional: add a second direction that reads the sequence backwards.
        activation: tanh or relu.
    """

    gates = 1
    gated = False

    def __init__(self, units=None, return_sequences=False, bidirectional=False, activation="tanh"):
        super().__init__(units, return_sequences, bidirectional)
        self.activation = check_choice("activation", activation, ("tanh", "relu"))

    def _run(self, xw, p, s, order):
        steps, n, units = xw.shape
        W_hh = p["W_hh" + s]
        H = xp.zeros((steps + 1, n, units), xw.dtype)
        hw = xp.empty((n, units), xw.dtype)
        for k, (t, o, prev) in enumerate(order):
            z = xw[t]
            if k:
                z += xp.matmul(H[prev], W_hh, out=hw)
            if self.activation == "tanh":
                xp.tanh(z, out=H[o])
            else:
                xp.maximum(z, 0, out=H[o])
        return {"H": H}

    def _back(self, cache, dH, dlast, p, s, order):
        H = cache["H"]
        n, units = H.shape[1], H.shape[2]
        W_hh_T = xp.ascontiguousarray(p["W_hh" + s].T)  # NN products: faster in the loop
        # act'(z) for every step at once, then dZ = dh * act' step by step.
        out = _states(H, cache["reverse"])[1]
        if self.activation == "tanh":
            dZ = xp.multiply(out, out)
            xp.subtract(1, dZ, out=dZ)
        else:
            dZ = (out > 0).astype(H.dtype)
        dh = xp.zeros((n, units), H.dtype)
        if dlast is not None:
            dh[...] = dlast
        last = len(order) - 1
        for k, (t, o, prev) in enumerate(reversed(order)):
            if dH is not None:
                dh += dH[t]
            dz = dZ[t]
            dz *= dh
            if k < last:
                xp.matmul(dz, W_hh_T, out=dh)
        return dZ, dZ

    def _args(self):
        return {**super()._args(), "activation": self.activation}

    def describe(self):
        return super().describe()[:-1] + f", {self.activation})"


@register_layer("lstm")
class LSTM(Recurrent):
    """Long short-term memory, as torch.nn.LSTM; gates in PyTorch's order i, f, g, o:

        [i f g o] = x_t W_ih + b_ih + h_{t-1} W_hh + b_hh   (then sigmoid, sigmoid, tanh, sigmoid)
        c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t)

    Backward, with dh_t = grad_out_t + dz_{t+1} W_hh^T and dc_t = dc_{t+1} * f_{t+1} +
    dh_t * o_t * (1 - tanh(c_t)^2): dz = [dc g, dc c_{t-1}, dc i, dh tanh(c_t)] times each
    gate's derivative (s(1 - s) for sigmoid gates, 1 - g^2 for g). Everything but dc and dh
    is known after the forward pass and is multiplied out for all steps before the loop.

    Args:
        units: the size of the hidden and cell states.
        return_sequences: return every step's state (n, T, units) instead of the last.
        bidirectional: add a second direction that reads the sequence backwards.
    """

    gates = 4

    def _scale(self):
        return _gate_scale(self.units, self.dtype, "ssts")

    def _input_weights(self, p, s):
        scale = self._scale()
        return p["W_ih" + s] * scale, (p["b_ih" + s] + p["b_hh" + s]) * scale

    def _run(self, xw, p, s, order):
        steps, n, width = xw.shape
        u = self.units
        W_hh = p["W_hh" + s] * self._scale()
        H = xp.zeros((steps + 1, n, u), xw.dtype)
        C = xp.zeros((steps + 1, n, u), xw.dtype)
        TC = xp.empty((steps, n, u), xw.dtype)
        hw, ig = xp.empty((n, width), xw.dtype), xp.empty((n, u), xw.dtype)
        g_part = slice(2 * u, 3 * u)
        with xp.errstate(over="ignore"):
            for k, (t, o, prev) in enumerate(order):
                a = xw[t]
                if k:
                    a += xp.matmul(H[prev], W_hh, out=hw)
                _gates(a, g_part)
                xp.multiply(a[:, u:2 * u], C[prev], out=C[o])
                C[o] += xp.multiply(a[:, :u], a[:, g_part], out=ig)
                xp.tanh(C[o], out=TC[t])
                xp.multiply(a[:, 3 * u:], TC[t], out=H[o])
        return {"H": H, "C": C, "TC": TC, "A": xw}

    def _back(self, cache, dH, dlast, p, s, order):
        A, C, TC = cache["A"], cache["C"], cache["TC"]
        steps, n, width = A.shape
        u = self.units
        W_hh_T = xp.ascontiguousarray(p["W_hh" + s].T)  # NN products: faster in the loop
        i, f, g, o = (A[:, :, k * u:(k + 1) * u] for k in range(4))
        # For every step at once: P = [g i', c_prev f', i g', tanh(c) o'] (x' the derivative),
        # so that dz = P * [dc dc dc dh]; and OT = o (1 - tanh(c)^2), so that dc += dh * OT.
        P = xp.subtract(1, A)
        P *= A
        P[:, :, :u] *= g
        P[:, :, u:2 * u] *= _states(C, cache["reverse"])[0]
        xp.multiply(g, g, out=P[:, :, 2 * u:3 * u])
        xp.subtract(1, P[:, :, 2 * u:3 * u], out=P[:, :, 2 * u:3 * u])
        P[:, :, 2 * u:3 * u] *= i
        P[:, :, 3 * u:] *= TC
        OT = xp.multiply(TC, TC)
        xp.subtract(1, OT, out=OT)
        OT *= o
        dh, dc, tmp = (xp.zeros((n, u), A.dtype) for _ in range(3))
        if dlast is not None:
            dh[...] = dlast
        last = len(order) - 1
        for k, (t, _, _) in enumerate(reversed(order)):
            if dH is not None:
                dh += dH[t]
            dz = P[t]
            dc += xp.multiply(dh, OT[t], out=tmp)
            dz.reshape(n, 4, u)[:, :3] *= dc[:, None, :]
            dz[:, 3 * u:] *= dh
            if k < last:
                dc *= f[t]
                xp.matmul(dz, W_hh_T, out=dh)
        return P, P


@register_layer("gru")
class GRU(Recurrent):
    """Gated recurrent unit, as torch.nn.GRU; gates in PyTorch's order r, z, n:

        r = sigmoid(x W_ir + b_ir + h W_hr + b_hr),  z = sigmoid(x W_iz + b_iz + h W_hz + b_hz)
        n = tanh(x W_in + b_in + r * (h W_hn + b_hn)),  h_t = (1 - z) * n + z * h_{t-1}

    b_hr and b_hz join the input projection before the loop; b_hn stays inside r * (...).
    Backward: dn = dh (1 - z) (1 - n^2), dz = dh (h_{t-1} - n) z (1 - z),
    dr = dn (h W_hn + b_hn) r (1 - r), the recurrent part of n gets dn * r, and
    dh_{t-1} = dh z + [dr dz dn*r] W_hh^T. Everything but dh is multiplied out for all
    steps before the loop.

    Args:
        units: the size of the hidden state.
        return_sequences: return every step's state (n, T, units) instead of the last.
        bidirectional: add a second direction that reads the sequence backwards.
    """

    gates = 3

    def _scale(self):
        scale = _gate_scale(self.units, self.dtype, "sss")
        scale[2 * self.units:] = 1      # n's pre-activation is assembled in the loop
        return scale

    def _input_weights(self, p, s):
        u = self.units
        bias = p["b_ih" + s].copy()
        bias[:2 * u] += p["b_hh" + s][:2 * u]
        scale = self._scale()
        return p["W_ih" + s] * scale, bias * scale

    def _run(self, xw, p, s, order):
        steps, n, width = xw.shape
        u = self.units
        W_hh = p["W_hh" + s] * self._scale()
        b_hn = p["b_hh" + s][2 * u:]
        H = xp.zeros((steps + 1, n, u), xw.dtype)
        GN = xp.empty((steps, n, u), xw.dtype)      # h W_hn + b_hn
        gh = xp.zeros((n, width), xw.dtype)
        with xp.errstate(over="ignore"):
            for k, (t, o, prev) in enumerate(order):
                a = xw[t]
                if k:
                    xp.matmul(H[prev], W_hh, out=gh)
                    a[:, :2 * u] += gh[:, :2 * u]
                _gates(a[:, :2 * u])
                new = a[:, 2 * u:]
                xp.add(gh[:, 2 * u:], b_hn, out=GN[t])
                new += xp.multiply(a[:, :u], GN[t], out=H[o])
                xp.tanh(new, out=new)
                xp.subtract(H[prev], new, out=H[o])
                H[o] *= a[:, u:2 * u]
                H[o] += new
        return {"H": H, "A": xw, "GN": GN}

    def _back(self, cache, dH, dlast, p, s, order):
        A, GN, H = cache["A"], cache["GN"], cache["H"]
        steps, n, width = A.shape
        u = self.units
        W_hh_T = xp.ascontiguousarray(p["W_hh" + s].T)  # NN products: faster in the loop
        r, z, new = A[:, :, :u], A[:, :, u:2 * u], A[:, :, 2 * u:]
        # For every step at once: dGH = [r' GN, z' (h_prev - n), r], dXW's n part = (1 - z) n';
        # the loop multiplies them by dh and dn.
        dGH = xp.subtract(1, A)
        dGH[:, :, :2 * u] *= A[:, :, :2 * u]
        dGH[:, :, :u] *= GN
        dGH[:, :, u:2 * u] *= _states(H, cache["reverse"])[0] - new
        dGH[:, :, 2 * u:] = r
        dXW = xp.empty_like(A)
        dn = dXW[:, :, 2 * u:]
        xp.multiply(new, new, out=dn)
        xp.subtract(1, dn, out=dn)
        dn *= 1 - z
        dh, tmp = xp.zeros((n, u), A.dtype), xp.empty((n, u), A.dtype)
        if dlast is not None:
            dh[...] = dlast
        last = len(order) - 1
        for k, (t, _, _) in enumerate(reversed(order)):
            if dH is not None:
                dh += dH[t]
            dg, dn_t = dGH[t], dn[t]
            dn_t *= dh
            dg[:, u:2 * u] *= dh
            dg.reshape(n, 3, u)[:, ::2] *= dn_t[:, None, :]
            if k < last:
                dh *= z[t]
                dh += xp.matmul(dg, W_hh_T, out=tmp)
        dXW[:, :, :2 * u] = dGH[:, :, :2 * u]
        return dXW, dGH
