"""Optimizers against torch.optim's documented update rules; state saving."""

import io
import math

import numpy as np
import pytest

from nettrain.errors import ConfigError
from nettrain.nn import optimizers
from nettrain.nn.model import Model
from nettrain.nn.optimizers import FLUSH_EVERY, OPTIMIZERS, get_optimizer

GRADS = [0.5, 0.2, -0.3]  # the gradient sequence of the hand derivations, p0 = 1


def run_scalar(spec, grads=GRADS, p0=1.0):
    """The parameter after each step of `spec` on a one-element parameter."""
    opt = get_optimizer(spec)
    p, g = np.array([p0]), np.zeros(1)
    trace = []
    for value in grads:
        g[0] = value
        opt.step([("p", p, g)])
        trace.append(float(p[0]))
    return trace


# Hand derivations from the torch.optim pseudo-code, gradients 0.5, 0.2, -0.3 and p0 = 1.

def test_sgd_by_hand():
    # p = p - lr g:  1 - 0.1*0.5 = 0.95;  0.95 - 0.1*0.2 = 0.93;  0.93 + 0.1*0.3 = 0.96
    assert run_scalar({"name": "sgd", "lr": 0.1}) == pytest.approx([0.95, 0.93, 0.96], abs=1e-15)


def test_sgd_momentum_dampening_weight_decay_by_hand():
    # lr 0.1, momentum 0.9, dampening 0.1, weight_decay 0.01:  g = grad + 0.01 p
    # 1: g = 0.5 + 0.01 = 0.51;  b = g (first step) = 0.51;  p = 1 - 0.051 = 0.949
    # 2: g = 0.2 + 0.00949 = 0.20949;  b = 0.9*0.51 + 0.9*0.20949 = 0.647541
    #    p = 0.949 - 0.0647541 = 0.8842459
    # 3: g = -0.3 + 0.008842459 = -0.291157541;  b = 0.9*0.647541 + 0.9*g = 0.3207451131
    #    p = 0.8842459 - 0.03207451131 = 0.85217138869
    spec = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}
    assert run_scalar(spec) == pytest.approx([0.949, 0.8842459, 0.85217138869], abs=1e-14)


def test_sgd_nesterov_by_hand():
    # lr 0.1, momentum 0.9, nesterov:  b as above (no dampening), g = grad + 0.9 b
    # 1: b = 0.5;  g = 0.5 + 0.45 = 0.95;  p = 1 - 0.095 = 0.905
    # 2: b = 0.45 + 0.2 = 0.65;  g = 0.2 + 0.585 = 0.785;  p = 0.905 - 0.0785 = 0.8265
    # 3: b = 0.585 - 0.3 = 0.285;  g = -0.3 + 0.2565 = -0.0435;  p = 0.8265 + 0.00435 = 0.83085
    spec = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True}
    assert run_scalar(spec) == pytest.approx([0.905, 0.8265, 0.83085], abs=1e-14)


def test_adam_by_hand():
    # lr 0.1, betas (0.9, 0.999), eps 1e-8
    # 1: m = 0.1*0.5 = 0.05;  v = 0.001*0.25 = 0.00025;  m^ = 0.05/0.1 = 0.5;  v^ = 0.00025/0.001 = 0.25
    #    p = 1 - 0.1 * 0.5 / (sqrt(0.25) + 1e-8) = 1 - 0.05/0.50000001 = 0.900000002
    # 2: m = 0.9*0.05 + 0.1*0.2 = 0.065;  v = 0.999*0.00025 + 0.001*0.04 = 0.00028975
    #    m^ = 0.065/0.19;  v^ = 0.00028975/0.001999;  p = p - 0.1 m^ / (sqrt(v^) + 1e-8) = 0.8101424839
    # 3: m = 0.9*0.065 - 0.1*0.3 = 0.0285;  v = 0.999*0.00028975 + 0.001*0.09 = 0.00037946025
    #    m^ = 0.0285/0.271;  v^ = 0.00037946025/0.002997001;  p = 0.7805871509
    trace = run_scalar({"name": "adam", "lr": 0.1})
    assert trace == pytest.approx([0.900000002, 0.8101424839, 0.7805871509], abs=1e-10)


def test_adamw_by_hand():
    # decoupled decay first: p = 1 * (1 - 0.1*0.01) = 0.999, then the Adam step of
    # test_adam_by_hand: 0.999 - 0.05/0.50000001 = 0.899000002
    trace = run_scalar({"name": "adamw", "lr": 0.1, "weight_decay": 0.01}, grads=[0.5])
    assert trace == pytest.approx([0.899000002], abs=1e-12)


def test_amsgrad_by_hand():
    # gradients 1, 0: v1 = 0.001, v2 = 0.999*0.001 = 0.000999 < v_max = 0.001, so amsgrad
    # divides by sqrt(0.001 / (1 - 0.999^2)) instead of sqrt(0.000999 / (1 - 0.999^2))
    # 1: m^ = 1, v^ = 1:  p = 1 - 0.1/(1 + 1e-8)
    # 2: m = 0.09, m^ = 0.09/0.19;  p = p1 - 0.1 m^ / (sqrt(0.001/0.001999) + 1e-8)
    p1 = 1 - 0.1 / (1 + 1e-8)
    p2 = p1 - 0.1 * (0.09 / 0.19) / (math.sqrt(0.001 / 0.001999) + 1e-8)
    p2_plain = p1 - 0.1 * (0.09 / 0.19) / (math.sqrt(0.000999 / 0.001999) + 1e-8)
    assert run_scalar({"name": "adam", "lr": 0.1, "amsgrad": True}, grads=[1, 0]) == pytest.approx([p1, p2], abs=1e-14)
    assert run_scalar({"name": "adam", "lr": 0.1}, grads=[1, 0]) == pytest.approx([p1, p2_plain], abs=1e-14)


def test_rmsprop_by_hand():
    # lr 0.01, alpha 0.99, eps 1e-8
    # 1: v = 0.01*0.25 = 0.0025;  p = 1 - 0.01*0.5/(0.05 + 1e-8) = 0.90000002
    # 2: v = 0.99*0.0025 + 0.01*0.04 = 0.002875;  p = 0.90000002 - 0.002/(sqrt(0.002875) + 1e-8) = 0.8626998346
    # 3: v = 0.99*0.002875 + 0.01*0.09 = 0.00374625;  p = p + 0.003/(sqrt(0.00374625) + 1e-8) = 0.9117141348
    trace = run_scalar({"name": "rmsprop", "lr": 0.01})
    assert trace == pytest.approx([0.90000002, 0.8626998346, 0.9117141348], abs=1e-10)


def test_rmsprop_centered_momentum_by_hand():
    # lr 0.01, alpha 0.9, momentum 0.5, centered
    # 1: v = 0.1*0.25 = 0.025;  g_avg = 0.05;  denom = sqrt(0.025 - 0.0025) + 1e-8 = sqrt(0.0225) + 1e-8
    #    b = 0.5 / (0.15 + 1e-8);  p = 1 - 0.01 b
    # 2: v = 0.9*0.025 + 0.1*0.04 = 0.0265;  g_avg = 0.9*0.05 + 0.1*0.2 = 0.065
    #    b = 0.5 b + 0.2 / (sqrt(0.0265 - 0.065^2) + 1e-8);  p = p - 0.01 b
    b1 = 0.5 / (0.15 + 1e-8)
    b2 = 0.5 * b1 + 0.2 / (math.sqrt(0.0265 - 0.065 ** 2) + 1e-8)
    spec = {"name": "rmsprop", "lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True}
    assert run_scalar(spec, grads=[0.5, 0.2]) == pytest.approx([1 - 0.01 * b1, 1 - 0.01 * b1 - 0.01 * b2], abs=1e-14)


def test_adagrad_by_hand():
    # lr 0.1, lr_decay 0.5: lr_t = 0.1 / (1 + (t - 1) 0.5);  s = sum of g^2;  eps 1e-10
    # 1: s = 0.25;  p = 1 - 0.1*0.5/(0.5 + 1e-10) = 0.90000000002
    # 2: s = 0.29;  p = p - (0.1/1.5)*0.2/(sqrt(0.29) + 1e-10) = 0.8752406216
    # 3: s = 0.38;  p = p + (0.1/2)*0.3/(sqrt(0.38) + 1e-10) = 0.8995738348
    trace = run_scalar({"name": "adagrad", "lr": 0.1, "lr_decay": 0.5})
    assert trace == pytest.approx([0.90000000002, 0.8752406216, 0.8995738348], abs=1e-10)


def test_adagrad_initial_accumulator_and_weight_decay_by_hand():
    # initial s = 1, weight_decay 0.1, lr 0.1:  g = 0.5 + 0.1*1 = 0.6;  s = 1.36
    # p = 1 - 0.1*0.6/(sqrt(1.36) + 1e-10)
    spec = {"name": "adagrad", "lr": 0.1, "initial_accumulator_value": 1.0, "weight_decay": 0.1}
    assert run_scalar(spec, grads=[0.5]) == pytest.approx([1 - 0.06 / (math.sqrt(1.36) + 1e-10)], abs=1e-15)


def test_adam_weight_decay_is_l2_in_the_gradient():
    # Adam's weight_decay enters the moments: g = 0.5 + 0.5*1 = 1, so step 1 moves by lr*1/(1+1e-8)
    assert run_scalar({"name": "adam", "lr": 0.1, "weight_decay": 0.5}, grads=[0.5]) == pytest.approx(
        [1 - 0.1 / (1 + 1e-8)], abs=1e-15)


ALL_SPECS = [
    {"name": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01},
    {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    {"name": "adam", "lr": 0.01, "weight_decay": 0.01, "amsgrad": True},
    {"name": "adamw", "lr": 0.01},
    {"name": "rmsprop", "lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1},
    {"name": "adagrad", "lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01},
]


def model_and_grads(dtype="float64"):
    model = Model([{"type": "dense", "units": 3, "activation": "tanh"}, {"type": "batchnorm"},
                   {"type": "dense", "units": 2}], 4, dtype=dtype, rng=0)
    rng = np.random.default_rng(1)
    grads = [[rng.normal(size=p.shape) for _, p, _ in model.named_params()] for _ in range(5)]
    return model, grads


def run_model(spec, model, grad_seq, flat=True, restart_at=None):
    opt = get_optimizer(spec)
    params = model.named_params() if flat else list(model.named_params())
    for step, grads in enumerate(grad_seq):
        if step == restart_at:  # save to an npz and continue with a fresh optimizer
            buffer = io.BytesIO()
            np.savez(buffer, **opt.state_dict())
            buffer.seek(0)
            opt = get_optimizer(spec)
            opt.load_state_dict(dict(np.load(buffer, allow_pickle=False)))
        for (_, _, g), value in zip(params, grads):
            g[...] = value
        opt.step(params)
    return model.state_dict(), opt


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s["name"])
def test_flat_and_per_parameter_updates_agree(spec):
    model_a, grads = model_and_grads()
    model_b, _ = model_and_grads()
    a, _ = run_model(spec, model_a, grads, flat=True)
    b, _ = run_model(spec, model_b, grads, flat=False)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s["name"])
def test_chunked_flat_updates_are_bit_for_bit_the_whole_buffer_update(spec, monkeypatch):
    model_a, grads = model_and_grads()
    model_b, _ = model_and_grads()
    a, _ = run_model(spec, model_a, grads)
    monkeypatch.setattr(optimizers, "CHUNK", 7)  # 29 parameters: 5 chunks, the last one short
    b, opt = run_model(spec, model_b, grads)
    assert len(opt._chunks) == 5
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s["name"])
def test_state_round_trips_through_an_npz(spec):
    model_a, grads = model_and_grads()
    model_b, _ = model_and_grads()
    a, opt = run_model(spec, model_a, grads)
    b, _ = run_model(spec, model_b, grads, restart_at=3)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    state = opt.state_dict()
    assert int(state[f"{opt.name}.step"]) == 5
    assert all(k.startswith(opt.name + ".") for k in state)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s["name"])
def test_float32_stays_float32_and_close_to_float64(spec):
    model32, grads = model_and_grads("float32")
    model64, _ = model_and_grads("float64")
    a, _ = run_model(spec, model32, [[g.astype(np.float32) for g in gs] for gs in grads])
    b, _ = run_model(spec, model64, grads)
    for key in a:
        assert a[key].dtype == np.float32
        np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-5)


def test_state_that_decays_toward_subnormal_numbers_is_flushed_to_zero():
    # A gradient that stops (an always-blank pixel) leaves exp_avg decaying by 0.9 a step;
    # subnormal floats are slow, so the optimizer zeroes entries below 2**24 * tiny.
    tiny = np.finfo(np.float32).tiny
    p, g = np.ones(2, np.float32), np.zeros(2, np.float32)
    opt = get_optimizer("adam")
    g[:] = [1e-30, 1.0]
    opt.step([("p", p, g)])
    g[:] = 0
    for _ in range(FLUSH_EVERY * 60):
        opt.step([("p", p, g)])
        m = opt._state["exp_avg"]
        assert not np.any((m != 0) & (np.abs(m) < tiny)), f"subnormal exp_avg at step {opt.t}"
    state = opt.state_dict()
    assert state["adam.exp_avg.p"][0] == 0 and state["adam.exp_avg_sq.p"][0] == 0
    v = state["adam.exp_avg_sq.p"][1] * state["adam.scale.exp_avg_sq"]
    assert v == pytest.approx(0.001 * 0.999 ** (FLUSH_EVERY * 60), rel=1e-4)


def test_adam_state_times_its_scale_is_torchs_moments():
    # After the steps of test_adam_by_hand: m = 0.9*0.065 + 0.1*(-0.3) = 0.0285,
    # v = 0.999*0.00028975 + 0.001*0.09 = 0.00037946025.
    opt = get_optimizer({"name": "adam", "lr": 0.1})
    p, g = np.array([1.0]), np.zeros(1)
    for value in GRADS:
        g[0] = value
        opt.step([("p", p, g)])
    state = opt.state_dict()
    assert state["adam.exp_avg.p"][0] * state["adam.scale.exp_avg"] == pytest.approx(0.0285, abs=1e-15)
    assert state["adam.exp_avg_sq.p"][0] * state["adam.scale.exp_avg_sq"] == pytest.approx(
        0.00037946025, abs=1e-15)


def test_adam_loads_torchs_moments_saved_without_scales():
    model, grads = model_and_grads()
    _, adam = run_model({"name": "adam"}, model, grads[:2])
    torch_style = {k: v for k, v in adam.state_dict().items() if ".scale." not in k}
    for key in torch_style:
        if key.startswith("adam.exp_avg."):
            torch_style[key] = torch_style[key] * 0.1
        elif key.startswith("adam.exp_avg_sq."):
            torch_style[key] = torch_style[key] * 0.001
    reloaded = get_optimizer("adam")
    reloaded.load_state_dict(torch_style)
    reloaded._setup(model.named_params())
    for key, value in adam.state_dict().items():
        if key.startswith("adam.exp_avg"):
            np.testing.assert_allclose(reloaded.state_dict()[key], value, rtol=1e-12)


def test_lr_is_writable_and_saved():
    opt = get_optimizer({"name": "sgd", "lr": 0.1})
    opt.lr = np.float64(0.05)
    assert type(opt.lr) is float and run_scalar(opt, grads=[1.0]) == pytest.approx([0.95])
    fresh = get_optimizer({"name": "sgd", "lr": 0.1})
    fresh.load_state_dict(opt.state_dict())
    assert fresh.lr == 0.05 and fresh.t == 1


def test_loading_a_mismatched_state_is_a_config_error():
    model, grads = model_and_grads()
    _, adam = run_model({"name": "adam"}, model, grads[:1])
    with pytest.raises(ConfigError, match="no sgd.step: it was saved with another optimizer than sgd"):
        get_optimizer("sgd").load_state_dict(adam.state_dict())
    other = Model([{"type": "dense", "units": 5}], 4, rng=0, dtype="float64")
    opt = get_optimizer("adam")
    opt.load_state_dict(adam.state_dict())
    with pytest.raises(ConfigError, match=r"adam.exp_avg.layers.0.W has shape \(4, 3\), but the model's "
                                          r"parameter has \(4, 5\)"):
        opt.step(other.named_params())


@pytest.mark.parametrize("spec, message", [
    ({"name": "adam", "lr": -0.1}, r"optimizer: lr must be a number > 0. Got -0.1."),
    ({"name": "sgd", "lr": 0}, r"lr must be a number > 0. Got 0."),
    ({"name": "sgd", "lr": "fast"}, r"lr must be a number > 0. Got 'fast'."),
    ({"name": "adam", "betas": 0.9}, r"betas must be a list of two numbers in \[0, 1\). Got 0.9."),
    ({"name": "adam", "betas": [0.9, 1.0]}, r"betas\[1\] must be a number in \[0, 1\). Got 1.0."),
    ({"name": "sgd", "nesterov": True}, "nesterov needs momentum > 0 and dampening 0"),
    ({"name": "sgd", "momentum": -1}, "momentum must be a number >= 0"),
    ({"name": "rmsprop", "alpha": 1.5}, r"alpha must be a number in \[0, 1\]"),
    ({"name": "adam", "amsgrad": "yes"}, "amsgrad must be true or false"),
    ({"name": "adam", "learning_rate": 0.1}, "Unknown key 'learning_rate' at optimizer"),
    ({"name": "adma"}, "Unknown optimizer 'adma' at optimizer. Did you mean 'adam'"),
], ids=lambda v: str(v)[:40])
def test_bad_hyperparameters_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        get_optimizer(spec)


def test_defaults_are_torchs():
    assert get_optimizer("adam").config() == {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999],
                                              "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False}
    assert get_optimizer("adamw").weight_decay == 0.01
    assert get_optimizer("rmsprop").config()["alpha"] == 0.99
    assert get_optimizer("adagrad").eps == 1e-10
    assert set(OPTIMIZERS) == {"sgd", "adam", "adamw", "rmsprop", "adagrad"}
