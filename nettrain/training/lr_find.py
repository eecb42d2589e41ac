"""The learning-rate range test (Smith 2015), as fastai's `lr_find` runs it.

A throwaway model, built from the config as `fit` builds it (init_from included), trains on
the train split's batches while the lr grows exponentially from `start_lr` to `end_lr` over
`num_it` batches (batch k runs at start_lr * (end_lr / start_lr) ** (k / num_it)). After each
batch the loss is smoothed (an exponential moving average with beta 0.98, debiased); the test
stops when the smoothed loss passes 4 times its best so far, or when the loss or a gradient
is no longer finite. The suggestion is the steepest descent of the smoothed loss against
log(lr), looked for as fastai's `steep` does without the first tenth of the batches and the
last five, but measured over half a decade of lr instead of from one batch to the next: on
small data the batch-to-batch slope is mostly noise (breast_cancer.yaml's would suggest 9e-7,
on the flat start of its curve, instead of about 0.01).

Nothing is written and nothing the caller holds is changed: the model, its optimizer and the
data are new objects made for the test.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from nettrain.errors import DivergenceError, RunError
from nettrain.nn.schedules import Schedule
from nettrain.training.callbacks import Callback

START_LR, END_LR, NUM_IT = 1e-7, 10.0, 100  # fastai's defaults
BETA = 0.98  # the smoothing of fastai's AvgSmoothLoss
DIVERGED = 4.0  # stop when the smoothed loss passes this many times its best
RULE = "steepest descent of the smoothed loss, over half a decade of lr"
SPAN_DECADES = 0.5  # the slope is measured between batches this far apart in lr
FLAT = 0.05  # a sweep whose smoothed loss never falls this share below its start is flat


@dataclass
class RangeTest:
    """What the range test measured and suggests.

    Attributes:
        lrs, losses: each batch's lr and smoothed loss, in order; raw_losses: unsmoothed.
        suggestion: the suggested lr (None when too few batches ran to find one).
        rule: how the suggestion was chosen. stopped: "diverged" or "completed".
        note: a warning about the suggestion (a flat curve), or None.
        start_lr, end_lr, num_it: the sweep. batch_size: the rows per batch.
    """

    start_lr: float
    end_lr: float
    num_it: int
    batch_size: int
    lrs: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    raw_losses: list = field(default_factory=list)
    suggestion: float | None = None
    rule: str = RULE
    stopped: str = "completed"
    note: str | None = None

    def to_dict(self):
        return {"suggested_lr": self.suggestion, "rule": self.rule, "note": self.note,
                "stopped": self.stopped, "batches": len(self.lrs), "batch_size": self.batch_size,
                "start_lr": self.start_lr, "end_lr": self.end_lr, "num_it": self.num_it,
                "lrs": self.lrs, "losses": self.losses, "raw_losses": self.raw_losses}


class ExponentialSweep(Schedule):
    """The range test's lr, set before every optimizer step: start * (end / start) ** (k / num_it)."""

    name = "lr_find"

    def __init__(self, start_lr, end_lr, num_it):
        super().__init__(start_lr)
        self.start_lr, self.end_lr, self.num_it = start_lr, end_lr, num_it
        self.optimizer, self.steps_per_epoch = None, 0

    def start(self, optimizer, steps_per_epoch, epochs):
        self.optimizer, self.steps_per_epoch = optimizer, steps_per_epoch

    def lr_of(self, k):
        return self.start_lr * (self.end_lr / self.start_lr) ** (k / self.num_it)

    def _lr_at(self, t):
        return self.lr_of(t * self.steps_per_epoch)

    def before_step(self, batch):
        self.optimizer.lr = self.lr_of(self.epoch * self.steps_per_epoch + batch)


class LastLoss:
    """Stands in for the trainer's loss and keeps the value of its latest forward pass."""

    def __init__(self, loss):
        self.loss, self.value = loss, None

    def forward(self, output, target):
        self.value = self.loss.forward(output, target)
        return self.value

    def __getattr__(self, name):
        return getattr(self.loss, name)


class _Done(Exception):
    """Ends the range test from inside the loop, as fastai's CancelFitException."""


class Recorder(Callback):
    """Records each batch's lr and loss, smooths the loss and stops the test."""

    def __init__(self, result, stop_div=True):
        self.result, self.stop_div = result, stop_div
        self.mean, self.best = 0.0, math.inf

    def on_batch_end(self, trainer, batch):
        result = self.result
        raw = float(trainer.loss.value)  # a LastLoss: the batch's loss
        self.mean = raw + BETA * (self.mean - raw)  # torch.lerp(raw, mean, beta)
        smooth = self.mean / (1 - BETA ** (len(result.lrs) + 1))
        result.lrs.append(float(trainer.optimizer.lr))
        result.losses.append(smooth)
        result.raw_losses.append(raw)
        self.best = min(self.best, smooth)
        if self.stop_div and smooth > DIVERGED * self.best:
            result.stopped = "diverged"
            raise _Done
        if len(result.lrs) >= result.num_it:
            raise _Done


def steepest_descent(lrs, losses, num_it):
    """The lr where the smoothed loss falls fastest against log(lr), or None.

    The slope at a batch is the central difference between the batches SPAN_DECADES of lr
    apart around it. As fastai's lr_find, the first num_it // 10 batches and the last five
    are left out.
    """
    lrs, losses = np.asarray(lrs[num_it // 10:-5]), np.asarray(losses[num_it // 10:-5])
    if len(lrs) < 2:
        return None
    log = np.log(lrs)
    per_batch = (log[-1] - log[0]) / (len(log) - 1)
    span = min(len(log) - 1, max(1, round(SPAN_DECADES * math.log(10) / per_batch)))
    slopes = (losses[span:] - losses[:-span]) / (log[span:] - log[:-span])
    return float(lrs[np.argmin(slopes) + span // 2])


def flat_note(lrs, losses, num_it):
    """A warning when the smoothed loss hardly falls at any rate of the sweep, else None."""
    start = losses[num_it // 10] if len(losses) > num_it // 10 else losses[0]
    if min(losses) < (1 - FLAT) * start:
        return None
    return (f"the smoothed loss never fell {FLAT:.0%} below where it started ({start:.4g}) between lr "
            f"{lrs[0]:.2g} and {lrs[-1]:.2g}: no rate trains this model well as it is, so the "
            f"suggestion means little. Look at its gradients with nettrain fit --diagnose.")


def range_test(config, dataset, *, start_lr=START_LR, end_lr=END_LR, num_it=NUM_IT, stop_div=True):
    """Run the range test for a resolved `config` on its prepared `dataset`; a RangeTest."""
    from nettrain.config.loading import config_from_dict
    from nettrain.training.session import build_trainer

    if not 0 < start_lr < end_lr:
        raise RunError(f"the range test needs 0 < start_lr < end_lr. Got {start_lr:g} and {end_lr:g}.")
    if num_it < 6:
        raise RunError(f"the range test needs at least 6 batches (num_it). Got {num_it}.")
    n_train = len(dataset.splits["train"][0])
    batch_size = config["training"]["batch_size"]
    epochs = math.ceil(num_it / math.ceil(n_train / batch_size))
    # Enough epochs for num_it batches, and nothing that would stop the sweep or change its lr.
    config = config_from_dict(config.absolute_data(), config.base_dir, [
        ("training.epochs", epochs), ("training.early_stopping", None), ("schedule", None)])
    result = RangeTest(start_lr, end_lr, num_it, batch_size)
    trainer = build_trainer(config, dataset, callbacks=[Recorder(result, stop_div)])
    trainer.loss = LastLoss(trainer.loss)
    trainer.schedule = ExponentialSweep(start_lr, end_lr, num_it)
    try:
        trainer.train(dataset.splits["train"], dataset.splits.get("val"))
    except _Done:
        pass
    except DivergenceError:  # a loss or gradient that is not finite any more
        result.stopped = "diverged"
    result.suggestion = steepest_descent(result.lrs, result.losses, num_it)
    if result.suggestion is None:
        raise RunError(
            f"The range test stopped after {len(result.lrs)} batch(es), too few to suggest a rate "
            f"(the loss diverged at lr {result.lrs[-1] if result.lrs else start_lr:.2g}). Start lower "
            f"(--start-lr) or give it more batches (--num-it)."
        )
    result.note = flat_note(result.lrs, result.losses, num_it)
    return result
