"""Learning-rate schedules stepped once per epoch, each optionally behind a linear warmup, and
`one_cycle`, stepped every batch.

Use: before epoch e (counting from 0) set `optimizer.lr = schedule.lr`; after it, call
`schedule.step(logs)`. A per-batch schedule also needs `start(optimizer, steps_per_epoch,
epochs)` before training and `before_step(batch)` before each optimizer step (both do nothing
for the per-epoch ones). Formulas and argument names follow torch.optim.lr_scheduler.

Warmup (`warmup_epochs: W` > 0): epoch e < W runs at base_lr * (e + 1) / W, a linear ramp
from base_lr / W up to base_lr; epoch W is the schedule's own epoch 0 (at base_lr), so the
schedule counts t = e - W from the end of warmup. A plateau schedule ignores the warmup
epochs' metrics.
"""

import bisect
import math

from nettrain import registry
from nettrain.backend import xp
from nettrain.checks import check_bool, check_choice, check_float, check_int
from nettrain.errors import ConfigError
from nettrain.nn.optimizers import Optimizer

SCHEDULES = {}  # name -> Schedule class, filled by @register_schedule
register_schedule = registry.registrar("schedule", SCHEDULES)


@register_schedule("constant")
class Schedule:
    """Base and `constant`: lr = base_lr after the warmup.

    Args:
        base_lr: the optimizer's lr (injected by the caller, not a config key).
        warmup_epochs: the length of the linear warmup, an integer >= 0 (default 0).
    """

    def __init__(self, base_lr, warmup_epochs=0):
        self.base_lr = check_float("lr", base_lr, low=0, low_open=True)
        self.warmup_epochs = check_int("warmup_epochs", warmup_epochs, low=0)
        self.epoch = 0  # epochs finished

    @property
    def lr(self):
        """The learning rate of the coming epoch."""
        if self.epoch < self.warmup_epochs:
            return self.base_lr * (self.epoch + 1) / self.warmup_epochs
        return self._lr_at(self.epoch - self.warmup_epochs)

    def _lr_at(self, t):
        return self.base_lr

    def start(self, optimizer, steps_per_epoch, epochs):
        """Before the first batch of a fit (a resumed one too): the run's length in steps."""

    def before_step(self, batch):
        """Before the optimizer step of `batch` (counting from 0 in the epoch)."""

    def step(self, logs=None):
        """End of an epoch: `logs` holds its `loss`, `val_loss` and metrics."""
        if self.epoch >= self.warmup_epochs:
            self._observe(logs or {})
        self.epoch += 1

    def _observe(self, logs):
        pass

    def state_dict(self):
        """Flat dict of arrays: `schedule.epoch` (+ the plateau's counters)."""
        return {f"schedule.{k}": xp.asarray(v) for k, v in {"epoch": self.epoch, **self._state()}.items()}

    def load_state_dict(self, arrays, source="checkpoint"):
        wanted = ["epoch", *self._state()]
        missing = [f"schedule.{k}" for k in wanted if f"schedule.{k}" not in arrays]
        if missing:
            raise ConfigError(f"{source} lacks {', '.join(missing)}: it was saved with another "
                              f"schedule than {self.name}. Resume with the schedule it was trained with.")
        values = {k: xp.asarray(arrays[f"schedule.{k}"]).item() for k in wanted}
        self.epoch = int(values.pop("epoch"))
        for key, value in values.items():
            setattr(self, key, value)

    def _state(self):
        return {}


@register_schedule("step")
class StepLR(Schedule):
    """lr = base_lr * gamma ** (t // step_size).

    Args:
        step_size: epochs between decays, an integer >= 1. gamma: the factor, > 0 (default 0.1).
    """

    def __init__(self, base_lr, step_size=None, gamma=0.1, warmup_epochs=0):
        super().__init__(base_lr, warmup_epochs)
        if step_size is None:
            raise ValueError("step_size is required: the epochs between decays, an integer >= 1.")
        self.step_size = check_int("step_size", step_size, low=1)
        self.gamma = check_float("gamma", gamma, low=0, low_open=True)

    def _lr_at(self, t):
        return self.base_lr * self.gamma ** (t // self.step_size)


@register_schedule("multistep")
class MultiStepLR(Schedule):
    """lr = base_lr * gamma ** (number of milestones <= t).

    Args:
        milestones: epochs (integers >= 1) at which lr is multiplied by gamma.
        gamma: the factor, > 0 (default 0.1).
    """

    def __init__(self, base_lr, milestones=None, gamma=0.1, warmup_epochs=0):
        super().__init__(base_lr, warmup_epochs)
        if not isinstance(milestones, (list, tuple)) or not milestones:
            raise ValueError(f"milestones must be a list of epochs (integers >= 1). Got {milestones!r}.")
        self.milestones = sorted(check_int(f"milestones[{i}]", m, low=1) for i, m in enumerate(milestones))
        self.gamma = check_float("gamma", gamma, low=0, low_open=True)

    def _lr_at(self, t):
        return self.base_lr * self.gamma ** bisect.bisect_right(self.milestones, t)


@register_schedule("exponential")
class ExponentialLR(Schedule):
    """lr = base_lr * gamma ** t.

    Args:
        gamma: the factor per epoch, > 0.
    """

    def __init__(self, base_lr, gamma=None, warmup_epochs=0):
        super().__init__(base_lr, warmup_epochs)
        if gamma is None:
            raise ValueError("gamma is required: the factor per epoch, a number > 0.")
        self.gamma = check_float("gamma", gamma, low=0, low_open=True)

    def _lr_at(self, t):
        return self.base_lr * self.gamma ** t


@register_schedule("cosine")
class CosineAnnealingLR(Schedule):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2.

    As in torch, the cosine goes on after T_max (rising again until 2 T_max): set T_max to
    the number of epochs after warmup to end at eta_min.

    Args:
        T_max: the half period in epochs, an integer >= 1. eta_min: the floor, >= 0 (default 0).
    """

    def __init__(self, base_lr, T_max=None, eta_min=0.0, warmup_epochs=0):
        super().__init__(base_lr, warmup_epochs)
        if T_max is None:
            raise ValueError("T_max is required: the epochs from base_lr down to eta_min, an integer >= 1.")
        self.T_max = check_int("T_max", T_max, low=1)
        self.eta_min = check_float("eta_min", eta_min, low=0)

    def _lr_at(self, t):
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2


@register_schedule("plateau", "reduce_on_plateau")
class ReduceLROnPlateau(Schedule):
    """Multiply lr by `factor` when `monitor` has not improved for more than `patience` epochs,
    as torch's ReduceLROnPlateau: an epoch improves on the best value when it is below
    best * (1 - threshold) (mode min, threshold_mode rel; best - threshold for abs; above
    best * (1 + threshold) or best + threshold for mode max). After a reduction, `cooldown`
    epochs pass before bad epochs count again. lr never goes below min_lr, and a change
    smaller than eps is skipped.

    Args:
        monitor: the logs key to watch (default val_loss). mode: min | max (default min).
        factor: in [0, 1) (default 0.1). patience, cooldown: integers >= 0 (default 10, 0).
        threshold: >= 0 (default 1e-4). threshold_mode: rel | abs (default rel).
        min_lr: >= 0 (default 0). eps: >= 0 (default 1e-8).
    """

    def __init__(self, base_lr, monitor="val_loss", mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8, warmup_epochs=0):
        super().__init__(base_lr, warmup_epochs)
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"monitor must be the name of a logged value such as val_loss. Got {monitor!r}.")
        self.monitor = monitor
        self.mode = check_choice("mode", mode, ("min", "max"))
        self.factor = check_float("factor", factor, low=0, high=1, high_open=True)
        self.patience = check_int("patience", patience, low=0)
        self.threshold = check_float("threshold", threshold, low=0)
        self.threshold_mode = check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = check_int("cooldown", cooldown, low=0)
        self.min_lr = check_float("min_lr", min_lr, low=0)
        self.eps = check_float("eps", eps, low=0)
        self.current_lr = self.base_lr
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _lr_at(self, t):
        return self.current_lr

    def _improves(self, value):
        sign = 1 if self.mode == "min" else -1
        if self.threshold_mode == "rel":
            return sign * value < sign * self.best * (1 - sign * self.threshold)
        return sign * value < sign * self.best - self.threshold

    def _observe(self, logs):
        value = logs.get(self.monitor)
        if value is None:
            available = ", ".join(k for k, v in logs.items() if v is not None) or "(none)"
            hint = (" val_loss needs a validation split (data.split.val > 0)."
                    if self.monitor.startswith("val_") else "")
            raise ConfigError(f"schedule.monitor is {self.monitor!r}, which the epoch logs do not have. "
                              f"Logged: {available}.{hint}")
        value = float(value)
        if self._improves(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new_lr = max(self.current_lr * self.factor, self.min_lr)
            if self.current_lr - new_lr > self.eps:
                self.current_lr = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def _state(self):
        return {"current_lr": self.current_lr, "best": self.best, "num_bad_epochs": self.num_bad_epochs,
                "cooldown_counter": self.cooldown_counter}


@register_schedule("one_cycle")
class OneCycleLR(Schedule):
    """The one-cycle policy, as torch's OneCycleLR stepped after every batch: the lr rises from
    max_lr / div_factor to max_lr over the first pct_start of the steps, then falls to
    max_lr / div_factor / final_div_factor (cosine or linear anneals; three_phase: up, down to
    the start, then down to the floor). Momentum cycles the other way, max_momentum down to
    base_momentum and back: `momentum` of sgd and rmsprop (even when configured 0), beta1 of
    adam and adamw. The steps are training.epochs x batches per epoch, the optimizer's own lr is
    not used, and `lr` (what history.csv logs) is the rate of the epoch's first batch.

    Args:
        max_lr: the peak lr, > 0 (required). pct_start: in [0, 1] (default 0.3).
        anneal_strategy: cos | linear (default cos). div_factor: > 0 (default 25).
        final_div_factor: > 0 (default 1e4). three_phase: default false.
        cycle_momentum: default true. base_momentum, max_momentum: >= 0 (default 0.85, 0.95).
    """

    name = "one_cycle"

    def __init__(self, base_lr, max_lr=None, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
                 final_div_factor=1e4, three_phase=False, cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95):
        super().__init__(base_lr)
        if max_lr is None:
            raise ValueError("max_lr is required: the peak learning rate of the cycle (nettrain lr-find "
                             "suggests a rate; about 10 times it is a usual max_lr).")
        self.max_lr = check_float("max_lr", max_lr, low=0, low_open=True)
        self.pct_start = check_float("pct_start", pct_start, low=0, high=1)
        self.anneal_strategy = check_choice("anneal_strategy", anneal_strategy, ("cos", "linear"))
        self.div_factor = check_float("div_factor", div_factor, low=0, low_open=True)
        self.final_div_factor = check_float("final_div_factor", final_div_factor, low=0, low_open=True)
        self.three_phase = check_bool("three_phase", three_phase)
        self.cycle_momentum = check_bool("cycle_momentum", cycle_momentum)
        self.base_momentum = check_float("base_momentum", base_momentum, low=0)
        self.max_momentum = check_float("max_momentum", max_momentum, low=0)
        self.initial_lr = self.max_lr / self.div_factor
        self.min_lr = self.initial_lr / self.final_div_factor
        self.optimizer, self.steps_per_epoch, self.phases = None, None, ()

    def start(self, optimizer, steps_per_epoch, epochs):
        if self.cycle_momentum and momentum_of(optimizer) is None:
            raise ConfigError(f"schedule one_cycle cycles the momentum, which optimizer {optimizer.name} "
                              "does not have. Use sgd, rmsprop, adam or adamw, or set "
                              "schedule.cycle_momentum: false.")
        self.optimizer, self.steps_per_epoch = optimizer, int(steps_per_epoch)
        total, pct = self.steps_per_epoch * int(epochs), self.pct_start
        # (end step, start lr, end lr, start momentum, end momentum), torch's phases
        top, bottom = self.max_momentum, self.base_momentum
        if self.three_phase:
            self.phases = ((float(pct * total) - 1, self.initial_lr, self.max_lr, top, bottom),
                           (float(2 * pct * total) - 2, self.max_lr, self.initial_lr, bottom, top),
                           (total - 1, self.initial_lr, self.min_lr, top, top))
        else:
            self.phases = ((float(pct * total) - 1, self.initial_lr, self.max_lr, top, bottom),
                           (total - 1, self.max_lr, self.min_lr, bottom, top))

    def at(self, step):
        """(lr, momentum) of the optimizer step `step` of the run (counting from 0)."""
        start = 0.0
        for i, (end, lr_from, lr_to, m_from, m_to) in enumerate(self.phases):
            if step <= end or i == len(self.phases) - 1:
                pct = (step - start) / (end - start) if end != start else 0.0
                return self._anneal(lr_from, lr_to, pct), self._anneal(m_from, m_to, pct)
            start = end
        return self.initial_lr, self.max_momentum  # before `start`: the cycle's first step

    def _anneal(self, begin, end, pct):
        if self.anneal_strategy == "cos":
            return end + (begin - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - begin) * pct + begin

    def _lr_at(self, t):
        return self.at(t * (self.steps_per_epoch or 0))[0]

    def before_step(self, batch):
        lr, momentum = self.at(self.epoch * self.steps_per_epoch + batch)
        self.optimizer.lr = lr
        if self.cycle_momentum:
            set_momentum(self.optimizer, momentum)


def momentum_of(optimizer):
    """The momentum one_cycle cycles (the optimizer's `cycled_momentum`); None for adagrad."""
    return optimizer.cycled_momentum


def set_momentum(optimizer, value):
    optimizer.cycled_momentum = value


def get_schedule(spec, base_lr, where="schedule"):
    """A schedule from a name or mapping (`{name: cosine, T_max: 50, warmup_epochs: 5}`);
    `None` (the config's `schedule: null`) is a constant lr.

    Args:
        base_lr: the optimizer's initial lr, or the optimizer itself (its `lr` is read).
    """
    if isinstance(base_lr, Optimizer):
        base_lr = base_lr.lr
    return registry.get("schedule", SCHEDULES, "constant" if spec is None else spec, where=where,
                        base_lr=base_lr)
