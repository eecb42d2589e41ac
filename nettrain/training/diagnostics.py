"""Gradient health: per-layer gradient norms, update ratios, dead and saturated units, with warnings.

What is measured, per epoch and per layer (`diagnostics.csv`, one row per epoch x layer):

- `grad_norm`: the L2 norm of the layer's whole gradient (W and b; gamma and beta) as the
  backward pass produced it (data loss + regularization, before clipping), averaged over the
  epoch's batches.
- `update_ratio`: ||theta_after - theta_before|| / ||theta_before|| for one optimizer step,
  theta being all of the layer's parameters, averaged over the epoch's steps b with
  b % ceil(n_batches / 32) == 0 (every step when an epoch has at most 32 batches; a sample of
  evenly spaced steps otherwise, since each measured step copies every parameter). Steps that
  start from all-zero parameters are left out. About 1e-3 is the usual healthy value.
- `dead_fraction` (ReLU family: relu, leaky_relu, elu, gelu, silu): the share of the layer's
  units whose pre-activation was <= 0 for every sample of every batch of the epoch.
- `saturated_fraction` (sigmoid, tanh): the share of the epoch's pre-activation values, over
  every sample and unit, with |value| > `saturation_bound`.
- `time_ratio` (layers that carry state through time: rnn, lstm, gru; the layer reports it):
  the norm of the gradient at a sequence's first step over that at its last step, the
  geometric mean over the epoch's batches. Far below 1: vanishing through time; far above:
  exploding.

Only training batches count (not validation). Recording changes no number of the training:
it reads the gradients, the parameters and the pre-activations, and writes only its own buffers.
"""

import math

import numpy as np

from nettrain.nn.optimizer_hooks import ClipNorm
from nettrain.store import rundir
from nettrain.training.callbacks import Callback

COLUMNS = ["epoch", "layer", "description", "batches", "grad_norm", "update_ratio",
           "dead_fraction", "saturated_fraction", "time_ratio"]
GROWTH_EPOCHS = 3  # exploding: the gradient norm rose in each of this many epochs in a row
RATIO_STEPS = 32  # update ratios are measured on at most about this many steps per epoch


def default_bounds():
    """The `training.diagnostics` mapping `true` stands for (defaults live in the schema)."""
    from nettrain.config.schema import DIAGNOSTICS_BOUNDS

    return {key: field.default for key, field in DIAGNOSTICS_BOUNDS.items()}


# ---------------------------------------------------------------- recording


class _Tap:
    """Stands in for one activation's `forward` and keeps a summary of its input.

    The pre-activation is summarized before the activation runs (a dense layer overwrites
    it in place); the trainer's next `on_after_backward` commits the summary, so forward
    passes outside training steps (validation) are never counted.
    """

    def __init__(self, activation, kind, bound):
        self.activation, self.kind, self.bound = activation, kind, bound
        self.original = activation.forward
        self.pending = None
        activation.forward = self

    def __call__(self, x, inplace=False):
        if self.kind == "dead":
            self.pending = x.max(axis=0)
        else:
            self.pending = (np.count_nonzero(np.abs(x) > self.bound), x.size)
        return self.original(x, inplace=inplace)

    def remove(self):
        if self.activation.__dict__.get("forward") is self:
            del self.activation.forward


class Diagnostics(Callback):
    """Callback: records each layer's gradient health over every epoch into diagnostics.csv.

    Args:
        path: the diagnostics.csv to write, or None to keep rows in memory only.
        bounds: the resolved `training.diagnostics` mapping (uses `saturation_bound`).
    """

    def __init__(self, path=None, bounds=None):
        self.path = path
        self.bounds = {**default_bounds(), **(bounds or {})}
        self.rows = []  # every recorded row, earlier runs' included, as dicts of COLUMNS
        self.layers = []  # (index, layer, param slice or None, tap or None)

    # -------------------------------------------------------------- set-up and tear-down

    def on_train_begin(self, trainer):
        model = trainer.model
        self.params, self.grads = model.named_params().flat
        spans, offset = {}, 0
        for key, param, _ in model.named_params():
            index = int(key.split(".")[1])
            start, _ = spans.get(index, (offset, None))
            offset += param.size
            spans[index] = (start, offset)
        self.layers = []
        for i, layer in enumerate(model.layers):
            tap = self._tap(layer.diagnosed_activation())
            if i in spans or tap is not None:
                span = slice(*spans[i]) if i in spans else None
                self.layers.append((i, layer, span, tap))
        self.before = np.empty_like(self.params)  # the step's starting point, then its change
        self._resume(trainer.epoch)
        self._reset()

    def _tap(self, activation):
        kind = activation.diagnostic_kind if activation is not None else None
        return _Tap(activation, kind, self.bounds["saturation_bound"]) if kind else None

    def _resume(self, epoch):
        """Keep the rows of epochs a resumed run's checkpoint has; drop any later ones."""
        if self.path is None:
            return
        header, rows = rundir.read_history(self.path)
        self.rows = [parse_row(dict(zip(header, r))) for r in rows if int(r[0]) <= epoch]
        if self.rows or self.path.exists():
            self._write()

    def on_train_end(self, trainer):
        for *_, tap in self.layers:
            if tap is not None:
                tap.remove()

    # -------------------------------------------------------------- per batch

    def _reset(self):
        n = len(self.layers)
        self.batches, self.steps = 0, np.zeros(n)
        self.grad_sum, self.ratio_sum = np.zeros(n), np.zeros(n)
        self.peak = [None] * n
        self.saturated = np.zeros((n, 2))  # (count beyond the bound, values seen)
        self.time_log = np.zeros((n, 2))  # (sum of log10 time ratios, batches measured)

    def on_epoch_begin(self, trainer, epoch):
        self._reset()
        self.stride = max(1, math.ceil(trainer.n_batches / RATIO_STEPS))

    def _norms(self, flat):
        # einsum, not BLAS dot: a threaded BLAS would wake its threads for every small reduction.
        return np.array([math.sqrt(float(np.einsum("i,i->", flat[s], flat[s]))) if s is not None
                         else math.nan for _, _, s, _ in self.layers])

    def on_after_backward(self, trainer, batch):
        self.batches += 1
        self.grad_sum += self._norms(self.grads)
        self.measuring = batch % self.stride == 0
        if self.measuring:  # a copy and two passes over the parameters: on sampled steps only
            self.size = self._norms(self.params)
            np.copyto(self.before, self.params)
        for k, (_, layer, _, tap) in enumerate(self.layers):
            ratio = layer.time_gradient()
            if ratio is not None and not math.isnan(ratio):
                self.time_log[k] += (math.log10(min(max(ratio, 1e-300), 1e300)), 1)
            if tap is None or tap.pending is None:
                continue
            if tap.kind == "dead":
                self.peak[k] = tap.pending if self.peak[k] is None else np.maximum(self.peak[k], tap.pending)
            else:
                self.saturated[k] += tap.pending
            tap.pending = None

    def on_batch_end(self, trainer, batch):
        if not self.measuring:
            return
        # In place: a third buffer would cost more memory traffic than the subtraction itself.
        moved = self._norms(np.subtract(self.params, self.before, out=self.before))
        counted = self.size > 0
        self.ratio_sum[counted] += moved[counted] / self.size[counted]
        self.steps += counted

    # -------------------------------------------------------------- per epoch

    def on_epoch_end(self, trainer, logs):
        if self.batches == 0:
            return
        for k, (i, layer, span, tap) in enumerate(self.layers):
            seen = self.saturated[k, 1]
            self.rows.append({
                "epoch": int(logs["epoch"]), "layer": i, "description": layer.describe(),
                "batches": self.batches,
                "grad_norm": float(self.grad_sum[k] / self.batches) if span is not None else None,
                "update_ratio": float(self.ratio_sum[k] / self.steps[k]) if self.steps[k] else None,
                "dead_fraction": float(np.mean(self.peak[k] <= 0)) if self.peak[k] is not None else None,
                "saturated_fraction": float(self.saturated[k, 0] / seen) if seen else None,
                "time_ratio": (float(10 ** (self.time_log[k, 0] / self.time_log[k, 1]))
                               if self.time_log[k, 1] else None),
            })
        if self.path is not None:
            self._write()

    def _write(self):
        rundir.write_csv(self.path, COLUMNS, [["" if r[c] is None else r[c] for c in COLUMNS]
                                              for r in self.rows])

    def epochs(self):
        """The recorded epochs in order, each as its list of row dicts."""
        by_epoch = {}
        for row in self.rows:
            by_epoch.setdefault(row["epoch"], []).append(row)
        return [by_epoch[e] for e in sorted(by_epoch)]


def parse_row(raw):
    """A diagnostics.csv row of strings as typed values (empty cells as None)."""
    row = {}
    for column in COLUMNS:
        value = raw.get(column, "")
        if column == "description":
            row[column] = value
        elif value == "":
            row[column] = None
        else:
            row[column] = int(value) if column in ("epoch", "layer", "batches") else float(value)
    return row


# ---------------------------------------------------------------- warnings


class Finding:
    """One warning: its kind (vanishing, exploding, dead, saturated, update_ratio), the layer
    index it is about and the sentence shown to the user (evidence, then a fix)."""

    def __init__(self, kind, layer, text):
        self.kind, self.layer, self.text = kind, layer, text

    def __repr__(self):
        return f"Finding({self.kind!r}, {self.layer}, {self.text!r})"


def _where(row):
    return f"model.layers[{row['layer']}] ({row['description']})"


def _saturating(layer):
    """The name of the layer's activation when it saturates (sigmoid, tanh), else None."""
    activation = layer.diagnosed_activation()
    return activation.name if activation is not None and activation.diagnostic_kind == "saturated" else None


def _hidden(layers):
    """The indices of the layers with weights before the output layer."""
    weighted = [i for i, layer in enumerate(layers) if layer.weight_keys]
    return weighted[:-1]


def _depth_fix(layers):
    """What the config can change to keep gradients alive through the stack."""
    hidden = _hidden(layers)
    fixes = []
    saturating = sorted({_saturating(layers[i]) for i in hidden} - {None})
    if saturating:
        fixes.append("use activation: relu with init: he_normal in the hidden dense layers instead of "
                     f"{'/'.join(saturating)}")
    elif any(layers[i].weight_initializer() is not None and layers[i].weight_initializer().fixed_scale
             for i in hidden):
        fixes.append("use init: he_normal (relu family) or glorot_uniform (sigmoid, tanh) instead of "
                     "fixed-scale weights")
    if not any(layer.normalizes for layer in layers):
        fixes.append("add {type: batchnorm} after each hidden dense layer")
    return f"Fix: {'; or '.join(fixes + ['use fewer layers'])}."


def _vanishing(rows, layers, bounds):
    dense = [r for r in rows if r["grad_norm"] is not None and layers[r["layer"]].weight_keys]
    if len(dense) < 2 or not dense[-1]["grad_norm"] > 0:
        return []
    first, last = dense[0], dense[-1]
    ratio = first["grad_norm"] / last["grad_norm"]
    if ratio >= bounds["vanishing_ratio"]:
        return []
    text = (f"Vanishing gradients at {_where(first)}: its gradient norm {first['grad_norm']:.2e} is "
            f"{1 / ratio if ratio else math.inf:.1e} times smaller than the output layer's "
            f"(model.layers[{last['layer']}], {last['grad_norm']:.2e}) in epoch {first['epoch']} "
            f"(training.diagnostics.vanishing_ratio is {bounds['vanishing_ratio']:g}), so the first "
            f"layers barely learn. {_depth_fix(layers)}")
    return [Finding("vanishing", first["layer"], text)]


def _exploding(epochs, rows, layers, bounds, settings):
    found = []
    lr, clip = settings.get("lr"), settings.get("clip_norm")
    clip_fix = (f"lower training.clip_norm (now {clip:g})" if clip else "set training.clip_norm: 1.0")
    fix = (f"Fix: {clip_fix}, lower optimizer.lr" + (f" (now {lr:g})" if lr else "")
           + ("" if any(layer.normalizes for layer in layers) else ", or add {type: batchnorm} "
              "after the hidden dense layers") + ".")
    for k, row in enumerate(rows):
        norm = row["grad_norm"]
        if norm is None:
            continue
        trend = [e[k]["grad_norm"] for e in epochs[-GROWTH_EPOCHS - 1:] if len(e) == len(rows)]
        rising = (len(trend) == GROWTH_EPOCHS + 1 and all(b > a for a, b in zip(trend, trend[1:]))
                  and trend[-1] > bounds["growth"] * trend[0])
        if norm > bounds["exploding_norm"]:
            evidence = (f"its gradient norm {norm:.2e} in epoch {row['epoch']} is above "
                        f"training.diagnostics.exploding_norm ({bounds['exploding_norm']:g})")
        elif rising:
            evidence = (f"its gradient norm rose every epoch, from {trend[0]:.2e} to {norm:.2e} "
                        f"(x{norm / trend[0]:.1f}) by epoch {row['epoch']}, more than "
                        f"training.diagnostics.growth ({bounds['growth']:g})")
        else:
            continue
        found.append(Finding("exploding", row["layer"], f"Exploding gradients at {_where(row)}: "
                                                        f"{evidence}. {fix}"))
    return found


def _through_time(rows, layers, bounds, settings):
    """Vanishing or exploding gradients along a recurrent layer's time steps (the layer
    measures them, `Layer.time_gradient`, and names its own fixes, `Layer.time_fixes`)."""
    found = []
    clip, lr = settings.get("clip_norm"), settings.get("lr")
    low, high = bounds["vanishing_ratio"], bounds["exploding_norm"]
    for row in rows:
        ratio = row.get("time_ratio")
        if ratio is None or low <= ratio <= high:
            continue
        layer = layers[row["layer"]]
        if ratio < low:
            kind, fixes = "vanishing", layer.time_fixes("vanishing")
            evidence = (f"the gradient at the first step of a sequence is {ratio:.1e} of the gradient "
                        f"at its last step (epoch {row['epoch']}; training.diagnostics.vanishing_ratio "
                        f"is {low:g}), so the early steps barely shape the weights")
        else:
            kind = "exploding"
            fixes = [f"lower training.clip_norm (now {clip:g})" if clip else
                     "set training.clip_norm: 1.0, the usual remedy"]
            fixes += [f.replace("optimizer.lr", f"optimizer.lr (now {lr:g})") if lr else f
                      for f in layer.time_fixes("exploding")]
            evidence = (f"the gradient grows {ratio:.1e} times from the last step of a sequence back "
                        f"to its first (epoch {row['epoch']}; above training.diagnostics.exploding_norm, "
                        f"{high:g})")
        found.append(Finding(f"{kind}_through_time", row["layer"], (
            f"{kind.capitalize()} gradients through time at {_where(row)}: {evidence}. "
            f"Fix: {'; or '.join(fixes)}.")))
    return found


def _units(rows, layers, bounds, settings):
    found = []
    lr = settings.get("lr")
    for row in rows:
        dead, saturated = row["dead_fraction"], row["saturated_fraction"]
        if dead is not None and dead > bounds["dead_fraction"]:
            found.append(Finding("dead", row["layer"], (
                f"Dead units at {_where(row)}: {dead:.0%} of its units had a pre-activation <= 0 for "
                f"every sample of epoch {row['epoch']} (training.diagnostics.dead_fraction is "
                f"{bounds['dead_fraction']:g}); they pass no gradient and no longer learn. Fix: lower "
                f"optimizer.lr" + (f" (now {lr:g})" if lr else "") + ", use activation: leaky_relu, "
                "init: he_normal, or put {type: batchnorm} before the activation.")))
        if saturated is not None and saturated > bounds["saturated_fraction"]:
            found.append(Finding("saturated", row["layer"], (
                f"Saturated units at {_where(row)}: {saturated:.0%} of its pre-activations in epoch "
                f"{row['epoch']} were beyond +-{bounds['saturation_bound']:g}, where the activation is "
                f"nearly flat and passes almost no gradient (training.diagnostics.saturated_fraction is "
                f"{bounds['saturated_fraction']:g}). Fix: use init: glorot_uniform, put {{type: batchnorm}} "
                f"before the activation, or use activation: relu with init: he_normal.")))
    return found


def _update_ratios(rows, bounds, settings):
    found = []
    lr = settings.get("lr")
    now = f" (now {lr:g})" if lr else ""
    for row in rows:
        ratio = row["update_ratio"]
        if ratio is None:
            continue
        if ratio > bounds["max_update_ratio"]:
            advice = (f"above training.diagnostics.max_update_ratio ({bounds['max_update_ratio']:g}): the "
                      f"learning rate is too high. Fix: lower optimizer.lr{now}, e.g. by 10x.")
        elif ratio < bounds["min_update_ratio"]:
            advice = (f"below training.diagnostics.min_update_ratio ({bounds['min_update_ratio']:g}): the "
                      f"layer hardly moves (unless training has converged). Fix: raise optimizer.lr{now}, "
                      f"or fix vanishing gradients if they are reported.")
        else:
            continue
        found.append(Finding("update_ratio", row["layer"], (
            f"Update ratio at {_where(row)}: each step changed its parameters by {ratio:.2e} of their "
            f"norm on average in epoch {row['epoch']} (about 1e-3 is healthy), {advice}")))
    return found


def findings(epochs, layers, bounds, settings=None):
    """The warnings for the latest recorded epoch (and the trend up to it).

    Args:
        epochs: recorded epochs in order, each a list of row dicts (`Diagnostics.epochs()`).
        layers: the model's layers, for what the advice can change.
        bounds: the resolved `training.diagnostics` mapping.
        settings: {"lr": ..., "clip_norm": ...}, quoted in the advice.
    """
    if not epochs:
        return []
    settings = settings or {}
    rows = epochs[-1]
    return (_vanishing(rows, layers, bounds) + _exploding(epochs, rows, layers, bounds, settings)
            + _through_time(rows, layers, bounds, settings)
            + _units(rows, layers, bounds, settings) + _update_ratios(rows, bounds, settings))


# ---------------------------------------------------------------- the report


def _cell(value, percent=False):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.1%}" if percent else f"{value:.2e}"


def diagnostics_table(rows, plain=False):
    """A compact rich Table of one epoch's rows: layer, gradient norm, update ratio, unit shares."""
    from rich import box
    from rich.table import Table

    table = Table(box=None if plain else box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("layer", no_wrap=True)
    through_time = any(row.get("time_ratio") is not None for row in rows)
    names = ("grad norm", "update/weight", "dead", "saturated") + (
        ("first/last step",) if through_time else ())
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        cells = [_cell(row["grad_norm"]), _cell(row["update_ratio"]),
                 _cell(row["dead_fraction"], True), _cell(row["saturated_fraction"], True)]
        if through_time:
            cells.append(_cell(row.get("time_ratio")))
        table.add_row(f"{row['layer']} {row['description']}", *cells)
    return table


class DiagnosticsReport(Callback):
    """Callback: prints the per-layer table under the loss table every `every` epochs and at
    the end, with the warnings that hold (each one once along the way, all of them at the end).

    Args:
        recorder: the `Diagnostics` callback whose rows are shown.
        console: the rich Console; plain: no box lines (for logs and pipes).
    """

    def __init__(self, recorder, console, plain=False):
        self.recorder, self.console, self.plain = recorder, console, plain
        self.shown_epoch, self.warned = None, {}  # (kind, layer) -> the epoch it was printed for

    def _settings(self, trainer):
        clip = next((h.max_norm for h in trainer.optimizer.hooks if isinstance(h, ClipNorm)), None)
        return {"lr": trainer.optimizer.lr, "clip_norm": clip}

    def _show(self, trainer, final):
        epochs = self.recorder.epochs()
        if not epochs:
            return
        epoch = epochs[-1][0]["epoch"]
        if self.shown_epoch != epoch:
            self.console.print(f"gradient health, epoch {epoch}", markup=False, highlight=False,
                               style=None if self.plain else "bold")
            self.console.print(diagnostics_table(epochs[-1], self.plain))
            self.shown_epoch = epoch
        for finding in findings(epochs, trainer.model.layers, self.recorder.bounds, self._settings(trainer)):
            key = (finding.kind, finding.layer)
            if key in self.warned and (not final or self.warned[key] == epoch):
                continue
            self.warned[key] = epoch
            self.console.print(f"warning: {finding.text}", markup=False, highlight=False,
                               style=None if self.plain else "yellow", soft_wrap=self.plain)

    def on_epoch_end(self, trainer, logs):
        # The last epoch is left to on_train_end, which shows all its warnings in order.
        last = trainer.stopped is not None or logs["epoch"] >= trainer.epochs
        if logs["epoch"] % self.recorder.bounds["every"] == 0 and not last:
            self._show(trainer, final=False)

    def on_train_end(self, trainer):
        self._show(trainer, final=True)


def make_callbacks(spec, run_dir, console, quiet=False):
    """(recorders, reporters) for `training.diagnostics`: both empty when it is off.

    The recorder writes `run_dir/diagnostics.csv`; the reporter (absent when quiet) goes after
    the loss-table reporter so that its table prints under the epoch's row.
    """
    if not spec:
        return [], []
    recorder = Diagnostics(run_dir / rundir.DIAGNOSTICS, spec if isinstance(spec, dict) else None)
    if quiet:
        return [recorder], []
    plain = not console.is_terminal or console.is_dumb_terminal
    return [recorder], [DiagnosticsReport(recorder, console, plain)]
