"""schedule: one_cycle against torch's OneCycleLR stepped every batch: each batch's lr and
momentum, the optimizers' updates under a cycling momentum, resuming mid-epoch bit for bit."""

import io
import math

import numpy as np
import pytest
import torch
from conftest import ROOT
from rich.console import Console

import nettrain
from nettrain.errors import ConfigError, Interrupted
from nettrain.nn.optimizers import get_optimizer
from nettrain.nn.schedules import get_schedule, momentum_of, set_momentum
from nettrain.store import rundir
from nettrain.training.callbacks import Callback

EPOCHS, BATCH = 3, 16  # iris: 105 train rows, 7 batches an epoch, 21 steps


def config(tmp_path, optimizer, schedule=None, epochs=EPOCHS):
    return {
        "name": "iris", "seed": 2, "output": str(tmp_path / "runs"),
        "data": {"path": str(ROOT / "datasets" / "iris.csv"), "target": "species"},
        "model": {"layers": [{"type": "dense", "units": 8, "activation": "relu"},
                             {"type": "dropout", "rate": 0.2}, {"type": "dense", "units": 3}]},
        "optimizer": optimizer,
        "schedule": schedule or {"name": "one_cycle", "max_lr": 0.05},
        "training": {"epochs": epochs, "batch_size": BATCH},
    }


def fit(cfg, **kwargs):
    return nettrain.fit(cfg, console=Console(file=io.StringIO()), **kwargs)


class Steps(Callback):
    """The lr and momentum each optimizer step used (read after the step)."""

    def __init__(self):
        self.seen = []

    def on_batch_end(self, trainer, batch):
        self.seen.append((trainer.optimizer.lr, momentum_of(trainer.optimizer)))


def torch_steps(optimizer, total, **kwargs):
    """(lr, momentum) of each of `total` steps under torch's OneCycleLR."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = optimizer([param])
    scheduler = torch.optim.lr_scheduler.OneCycleLR(opt, total_steps=total, **kwargs)
    out = []
    for _ in range(total):
        group = opt.param_groups[0]
        out.append((group["lr"], group["betas"][0] if "betas" in group else group["momentum"]))
        opt.step()
        scheduler.step()
    return out


@pytest.mark.parametrize("optimizer, torch_optimizer", [
    ({"name": "sgd", "lr": 0.1}, lambda p: torch.optim.SGD(p, lr=0.1)),  # momentum 0: cycled all the same
    ({"name": "adam", "lr": 0.001}, lambda p: torch.optim.Adam(p, lr=0.001)),
    ({"name": "rmsprop", "momentum": 0.5}, lambda p: torch.optim.RMSprop(p, momentum=0.5)),
], ids=["sgd", "adam", "rmsprop"])
def test_every_batchs_lr_and_momentum_are_torchs(tmp_path, optimizer, torch_optimizer):
    steps = Steps()
    run = fit(config(tmp_path, optimizer), callbacks=[steps])
    assert len(steps.seen) == EPOCHS * 7
    assert steps.seen == torch_steps(torch_optimizer, EPOCHS * 7, max_lr=0.05)  # bit for bit
    # history.csv's lr is the rate of each epoch's first batch
    assert list(run.history["lr"]) == pytest.approx([steps.seen[7 * e][0] for e in range(EPOCHS)],
                                                    rel=1e-15)
    assert steps.seen[0][0] == pytest.approx(0.05 / 25) and max(lr for lr, _ in steps.seen) <= 0.05


@pytest.mark.parametrize("options", [
    {"pct_start": 0.5, "anneal_strategy": "linear", "div_factor": 10.0, "final_div_factor": 100.0},
    {"three_phase": True, "base_momentum": 0.8, "max_momentum": 0.9},
], ids=["linear", "three_phase"])
def test_options_follow_torch(options):
    schedule = get_schedule({"name": "one_cycle", "max_lr": 0.3, **options}, 0.01)
    opt = get_optimizer({"name": "sgd", "momentum": 0.9})
    schedule.start(opt, steps_per_epoch=10, epochs=4)
    ours = []
    for epoch in range(4):
        for batch in range(10):
            schedule.before_step(batch)
            ours.append((opt.lr, opt.momentum))
        schedule.step({"loss": 1.0})
    assert ours == torch_steps(lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9), 40, max_lr=0.3,
                               **options)


def cycled(opt_ours, opt_torch, steps=30):
    """One parameter vector, the same gradients, OneCycleLR's lr and momentum on both sides."""
    rng = np.random.default_rng(0)
    p0, grads = rng.normal(size=5), rng.normal(size=(steps, 5))
    ours, param = get_optimizer(opt_ours), p0.copy()
    theirs = torch.nn.Parameter(torch.tensor(p0))
    torch_opt = opt_torch([theirs])
    scheduler = torch.optim.lr_scheduler.OneCycleLR(torch_opt, max_lr=0.1, total_steps=steps)
    schedule = get_schedule({"name": "one_cycle", "max_lr": 0.1}, ours)
    schedule.start(ours, steps_per_epoch=steps, epochs=1)
    grad = np.empty(5)
    for k in range(steps):
        schedule.before_step(k)
        grad[...] = grads[k]
        ours.step([("p", param, grad)])
        theirs.grad = torch.tensor(grads[k])
        torch_opt.step()
        scheduler.step()
    return param, theirs.detach().numpy()


@pytest.mark.parametrize("ours, theirs", [
    ({"name": "sgd", "lr": 0.1}, lambda p: torch.optim.SGD(p, lr=0.1)),
    ({"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True},
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)),
    ({"name": "adam"}, lambda p: torch.optim.Adam(p)),
    ({"name": "adamw", "amsgrad": True}, lambda p: torch.optim.AdamW(p, amsgrad=True)),
    ({"name": "rmsprop", "centered": True}, lambda p: torch.optim.RMSprop(p, centered=True)),
], ids=["sgd-from-0", "nesterov", "adam", "adamw-amsgrad", "rmsprop"])
def test_updates_under_a_cycling_momentum_are_torchs(ours, theirs):
    mine, torchs = cycled(ours, theirs)
    np.testing.assert_allclose(mine, torchs, rtol=1e-12, atol=1e-14)


def test_interrupted_mid_epoch_then_resumed_equals_uninterrupted(tmp_path):
    class PressCtrlC(Callback):
        def __init__(self):
            self.steps = 0

        def on_batch_end(self, trainer, batch):
            self.steps += 1
            if self.steps == 11:  # epoch 2, batch 4 of 7
                trainer.request_stop("interrupted", "interrupted by SIGINT")

    for optimizer in ({"name": "adam", "lr": 0.001}, {"name": "sgd", "lr": 0.1}):
        cfg = config(tmp_path, optimizer, epochs=4)
        whole = fit(cfg)
        with pytest.raises(Interrupted) as info:
            fit(cfg, callbacks=[PressCtrlC()])
        resumed = fit(None, resume=info.value.run.path)
        assert resumed.history.drop(columns="seconds").equals(whole.history.drop(columns="seconds"))
        with np.load(whole.path / rundir.MODEL) as a, np.load(resumed.path / rundir.MODEL) as b:
            assert all(np.array_equal(a[k], b[k]) for k in a.files if k != "architecture")


def test_adagrad_has_no_momentum_to_cycle(tmp_path):
    with pytest.raises(ConfigError, match="one_cycle cycles the momentum, which optimizer adagrad"):
        fit(config(tmp_path, {"name": "adagrad"}))
    run = fit(config(tmp_path, {"name": "adagrad"}, {"name": "one_cycle", "max_lr": 0.05,
                                                   "cycle_momentum": False}))
    assert math.isclose(run.history["lr"][0], 0.05 / 25)


@pytest.mark.parametrize("spec, message", [
    ({"name": "one_cycle"}, "max_lr is required"),
    ({"name": "one_cycle", "max_lr": 0.1, "pct_start": 1.5}, r"pct_start must be a number in \[0, 1\]"),
    ({"name": "one_cycle", "max_lr": 0.1, "anneal_strategy": "cosine"}, "anneal_strategy must be one of"),
    ({"name": "one_cycle", "max_lr": 0.1, "warmup_epochs": 2}, "Unknown key 'warmup_epochs'"),
], ids=["max_lr", "pct_start", "anneal", "warmup"])
def test_bad_one_cycle_specs_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        get_schedule(spec, 0.1)


def test_set_momentum_sets_beta1_or_momentum():
    adam, sgd = get_optimizer("adam"), get_optimizer("sgd")
    set_momentum(adam, 0.8)
    set_momentum(sgd, 0.7)
    assert adam.betas == (0.8, 0.999) and sgd.momentum == 0.7
