"""Schedules: 20-epoch lr sequences against hand-computed values, warmup, state, bad specs."""

import pytest

from nettrain.errors import ConfigError
from nettrain.nn.schedules import SCHEDULES, get_schedule


def lrs(spec, base_lr, epochs=20, losses=None):
    """The lr of each epoch: read before the epoch, then step with its logs."""
    schedule = get_schedule(spec, base_lr)
    out = []
    for epoch in range(epochs):
        out.append(schedule.lr)
        schedule.step({"loss": 1.0, "val_loss": None if losses is None else losses[epoch]})
    return out


# (1 + cos(pi t / 10)) / 2 for t = 0..19 (cos(pi/10) = 0.9510565163, cos(pi/5) = 0.8090169944, ...)
HALF_COSINE_10 = [1.0, 0.9755282581, 0.9045084972, 0.7938926261, 0.6545084972, 0.5, 0.3454915028,
                  0.2061073739, 0.0954915028, 0.0244717419, 0.0, 0.0244717419, 0.0954915028,
                  0.2061073739, 0.3454915028, 0.5, 0.6545084972, 0.7938926261, 0.9045084972, 0.9755282581]


def test_null_is_constant():
    assert lrs(None, 0.01) == [0.01] * 20


def test_step():
    # 0.1 * 0.5 ** (t // 5)
    assert lrs({"name": "step", "step_size": 5, "gamma": 0.5}, 0.1) == pytest.approx(
        [0.1] * 5 + [0.05] * 5 + [0.025] * 5 + [0.0125] * 5, abs=1e-15)


def test_multistep():
    # gamma 0.1 at epochs 3, 8 and 15 (given unsorted)
    assert lrs({"name": "multistep", "milestones": [8, 3, 15]}, 1.0) == pytest.approx(
        [1.0] * 3 + [0.1] * 5 + [0.01] * 7 + [0.001] * 5, abs=1e-15)


def test_exponential():
    # 0.9 ** t
    expected = [1, 0.9, 0.81, 0.729, 0.6561, 0.59049, 0.531441, 0.4782969, 0.43046721, 0.387420489,
                0.3486784401, 0.31381059609, 0.282429536481, 0.2541865828329, 0.22876792454961,
                0.205891132094649, 0.1853020188851841, 0.16677181699666568, 0.15009463529699912,
                0.1350851717672992]
    assert lrs({"name": "exponential", "gamma": 0.9}, 1.0) == pytest.approx(expected, abs=1e-15)


def test_cosine_with_eta_min_rises_after_t_max_as_torch():
    # eta_min + (base - eta_min) (1 + cos(pi t / T_max)) / 2 = 0.1 + 1.0 * HALF_COSINE_10[t]
    assert lrs({"name": "cosine", "T_max": 10, "eta_min": 0.1}, 1.1) == pytest.approx(
        [0.1 + v for v in HALF_COSINE_10], abs=1e-10)


def test_cosine_after_warmup():
    # warmup 5: base * (e + 1) / 5 for e < 5; then t = e - 5 and (1 + cos(pi t / 15)) / 2
    expected = [0.2, 0.4, 0.6, 0.8, 1.0,
                1.0, 0.9890738004, 0.9567727288, 0.9045084972, 0.8345653032, 0.75, 0.6545084972,
                0.5522642316, 0.4477357684, 0.3454915028, 0.25, 0.1654346968, 0.0954915028,
                0.0432272712, 0.0109261996]
    assert lrs({"name": "cosine", "T_max": 15, "warmup_epochs": 5}, 1.0) == pytest.approx(expected, abs=1e-10)


def test_step_after_warmup_counts_from_the_end_of_warmup():
    # warmup 4 from 0.8: 0.2 0.4 0.6 0.8; then 0.8 * 0.5 ** ((e - 4) // 5)
    expected = [0.2, 0.4, 0.6, 0.8] + [0.8] * 5 + [0.4] * 5 + [0.2] * 5 + [0.1]
    assert lrs({"name": "step", "step_size": 5, "gamma": 0.5, "warmup_epochs": 4}, 0.8) == pytest.approx(
        expected, abs=1e-15)


def test_constant_with_warmup():
    assert lrs({"name": "constant", "warmup_epochs": 4}, 1.0) == pytest.approx([0.25, 0.5, 0.75] + [1.0] * 17)


PLATEAU_LOSSES = [1.0, 0.9, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7,
                  0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.6, 0.6, 0.6]


def test_plateau():
    # factor 0.5, patience 2, cooldown 1, min_lr 0.2 (threshold 1e-4 rel):
    # e0-2 improve; e3, e4, e5 bad (3 > 2) -> lr 0.5 from e6, cooldown 1
    # e6 improves (0.7); e7, e8, e9 bad -> 0.25 from e10; e10 bad but in cooldown (reset)
    # e11, e12, e13 bad -> max(0.125, 0.2) = 0.2 from e14; min_lr holds it there
    spec = {"name": "plateau", "factor": 0.5, "patience": 2, "cooldown": 1, "min_lr": 0.2}
    expected = [1.0] * 6 + [0.5] * 4 + [0.25] * 4 + [0.2] * 6
    assert lrs(spec, 1.0, losses=PLATEAU_LOSSES) == pytest.approx(expected, abs=1e-15)


def test_plateau_mode_max_abs_threshold_after_warmup():
    # monitor accuracy, mode max, threshold 0.05 abs, patience 1, factor 0.1; warmup 2 ignores e0, e1
    # accuracies from e2: 0.50 best; 0.53 (not > 0.55) bad 1; 0.56 best; 0.57 bad 1; 0.58 bad 2 -> 0.1 from e7
    # 0.70 best; 0.71 bad 1; 0.72 bad 2 -> 0.01 from e10; then no improvement over 0.70 + 0.05:
    # bad 1, bad 2 -> 0.001 from e12, ... every second epoch
    accuracy = [0.9, 0.9, 0.50, 0.53, 0.56, 0.57, 0.58, 0.70, 0.71, 0.72] + [0.72] * 10
    schedule = get_schedule({"name": "plateau", "monitor": "accuracy", "mode": "max", "threshold": 0.05,
                             "threshold_mode": "abs", "patience": 1, "factor": 0.1, "warmup_epochs": 2}, 1.0)
    seen = []
    for value in accuracy:
        seen.append(schedule.lr)
        schedule.step({"accuracy": value})
    expected = [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01, 1e-3, 1e-3, 1e-4, 1e-4,
                1e-5, 1e-5, 1e-6, 1e-6]
    assert seen == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("mode", ["min", "max"])
def test_plateau_abs_threshold_on_the_boundary_is_torchs(mode):
    """A value exactly `threshold` better than the best is not an improvement (torch: a strict <)."""
    torch = pytest.importorskip("torch")
    sign = 1 if mode == "min" else -1
    values = [sign * v for v in (1.0, 0.75, 0.5, 0.25, 0.25, 0.0, -0.5, -0.75, -0.75, -1.0)]
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode=mode, factor=0.5, patience=0, threshold=0.25, threshold_mode="abs")
    schedule = get_schedule({"name": "plateau", "mode": mode, "factor": 0.5, "patience": 0,
                             "threshold": 0.25, "threshold_mode": "abs"}, 1.0)
    ours, theirs = [], []
    for value in values:
        schedule.step({"val_loss": value})
        reference.step(value)
        ours.append(schedule.lr)
        theirs.append(optimizer.param_groups[0]["lr"])
    assert ours == theirs
    assert theirs[1] == 0.5  # 0.75 is exactly 0.25 better than 1.0: not an improvement


def test_plateau_skips_a_cut_smaller_than_eps_as_torch():
    """min_lr just under the lr: a cut of 1e-9 is below the default eps (1e-8), so the lr stays;
    cuts of 5e-8 and 0.1 are made. A cut of exactly eps (0.25 from 1.0 to 0.75) is not made:
    torch cuts only when old - new > eps."""
    torch = pytest.importorskip("torch")
    for min_lr, eps, expected in ((1.0 - 1e-9, None, 1.0), (1.0 - 5e-8, None, 1.0 - 5e-8),
                                  (0.9, None, 0.9), (0.75, 0.25, 1.0)):
        param = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([param], lr=1.0)
        given = {} if eps is None else {"eps": eps}
        reference = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0,
                                                               min_lr=min_lr, **given)
        schedule = get_schedule({"name": "plateau", "factor": 0.5, "patience": 0, "min_lr": min_lr,
                                 **given}, 1.0)
        for value in (1.0, 1.0, 1.0):
            schedule.step({"val_loss": value})
            reference.step(value)
            assert schedule.lr == optimizer.param_groups[0]["lr"]
        assert schedule.lr == expected


def test_plateau_without_its_monitor_is_a_clear_error():
    schedule = get_schedule({"name": "plateau"}, 0.1)
    with pytest.raises(ConfigError, match=r"schedule.monitor is 'val_loss', which the epoch logs do not "
                                          r"have. Logged: loss, accuracy. val_loss needs a validation split"):
        schedule.step({"loss": 0.5, "accuracy": 0.9, "val_loss": None})


@pytest.mark.parametrize("spec", [{"name": "plateau", "factor": 0.5, "patience": 1, "cooldown": 2},
                                  {"name": "cosine", "T_max": 7, "warmup_epochs": 3},
                                  {"name": "multistep", "milestones": [2, 5]}], ids=lambda s: s["name"])
def test_state_round_trips(spec):
    whole = lrs(spec, 1.0, losses=PLATEAU_LOSSES)
    first = get_schedule(spec, 1.0)
    for epoch in range(9):
        first.step({"val_loss": PLATEAU_LOSSES[epoch]})
    resumed = get_schedule(spec, 1.0)
    resumed.load_state_dict(first.state_dict())
    rest = []
    for epoch in range(9, 20):
        rest.append(resumed.lr)
        resumed.step({"val_loss": PLATEAU_LOSSES[epoch]})
    assert rest == whole[9:]


def test_loading_another_schedules_state_is_a_config_error():
    with pytest.raises(ConfigError, match="lacks schedule.current_lr.*another schedule than plateau"):
        get_schedule("plateau", 0.1).load_state_dict(get_schedule(None, 0.1).state_dict())


@pytest.mark.parametrize("spec, message", [
    ({"name": "step"}, r"schedule: step_size is required"),
    ({"name": "step", "step_size": 0}, r"step_size must be an integer >= 1. Got 0."),
    ({"name": "step", "step_size": 5, "gamma": -1}, r"gamma must be a number > 0. Got -1."),
    ({"name": "exponential"}, "gamma is required"),
    ({"name": "multistep", "milestones": 5}, r"milestones must be a list of epochs"),
    ({"name": "multistep", "milestones": [5, "x"]}, r"milestones\[1\] must be an integer >= 1"),
    ({"name": "cosine"}, "T_max is required"),
    ({"name": "cosine", "T_max": 10, "warmup_epochs": -1}, "warmup_epochs must be an integer >= 0. Got -1."),
    ({"name": "plateau", "factor": 1}, r"factor must be a number in \[0, 1\). Got 1."),
    ({"name": "plateau", "mode": "maximum"}, "mode must be one of min, max. Got 'maximum'."),
    ({"name": "plateau", "patience": 2.5}, "patience must be an integer >= 0. Got 2.5."),
    ({"name": "plateau", "monitor": ""}, "monitor must be the name of a logged value such as val_loss. Got ''"),
    ({"name": "cosine", "t_max": 10}, "Unknown key 't_max' at schedule. Did you mean 'T_max'"),
    ({"name": "cosin", "T_max": 10}, "Unknown schedule 'cosin' at schedule. Did you mean 'cosine'"),
], ids=lambda v: str(v)[:40])
def test_bad_specs_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        get_schedule(spec, 0.1)


def test_base_lr_may_come_from_the_optimizer():
    from nettrain.nn.optimizers import get_optimizer

    schedule = get_schedule({"name": "step", "step_size": 1, "gamma": 0.5}, get_optimizer({"name": "sgd", "lr": 0.4}))
    schedule.step()
    assert schedule.lr == pytest.approx(0.2)


def test_state_loads_from_plain_numbers():
    schedule = get_schedule("plateau", 1.0)
    schedule.load_state_dict({"schedule.epoch": 3, "schedule.current_lr": 0.5, "schedule.best": 0.1,
                              "schedule.num_bad_epochs": 2, "schedule.cooldown_counter": 0})
    assert schedule.lr == 0.5 and schedule.epoch == 3 and schedule.num_bad_epochs == 2


def test_registered_names():
    assert {"step", "multistep", "exponential", "cosine", "plateau", "constant"} <= set(SCHEDULES)
