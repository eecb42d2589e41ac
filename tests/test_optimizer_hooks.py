"""The optimizer's gradient hooks: the L1/L2 penalties and clipping, by hand and against torch,
and the fixed order a step runs them in."""

import math

import numpy as np
import pytest

from nettrain.nn.model import Model
from nettrain.nn.optimizer_hooks import (
    ClipNorm,
    ClipValue,
    L1Penalty,
    L2Penalty,
    clip_grad_norm,
    clip_grad_value,
    gradient_hooks,
    penalty_term,
)
from nettrain.nn.optimizers import get_optimizer


def two_parameters(W=2.0, b=-1.0, dW=3.0, db=-4.0):
    """A dense layer with one input and one unit: the weight W and the bias b, with grads."""
    model = Model([{"type": "dense", "units": 1}], 1, dtype="float64", rng=0)
    layer = model.layers[0]
    layer.params["W"][...], layer.params["b"][...] = W, b
    layer.grads["W"][...], layer.grads["b"][...] = dW, db
    return model, layer


def all_hooks():
    return [L1Penalty(0.1), L2Penalty(0.5), ClipNorm(1.0), ClipValue(0.7)]


# ---------------------------------------------------------------- one step by hand


def test_a_step_with_every_hook_by_hand():
    # W = 2, b = -1, dW = 3, db = -4; SGD lr 0.1; l1 0.1, l2 0.5, clip_norm 1, clip_value 0.7.
    # L1 (weights only): dW = 3 + 0.1 sign(2) = 3.1;  L2: dW = 3.1 + 0.5 * 2 = 4.1;  db = -4
    # clip_norm: norm = sqrt(4.1^2 + 4^2) = sqrt(32.81) = 5.728001396647874,
    #   factor 1 / (norm + 1e-6) = 0.17458093254032456:  dW = 0.7157818234153306,
    #   db = -0.6983237301612982
    # clip_value 0.7: dW = 0.7, db = -0.6983237301612982 (inside)
    # SGD: W = 2 - 0.1 * 0.7 = 1.93;  b = -1 + 0.1 * 0.6983237301612982 = -0.9301676269838701
    model, layer = two_parameters()
    optimizer = get_optimizer({"name": "sgd", "lr": 0.1})
    for hook in all_hooks():
        optimizer.add_hook(hook)
    seen = []
    optimizer.step(model.named_params(),
                   inspect=lambda named: seen.append([float(g.item()) for _, _, g in named]))
    assert seen == [[pytest.approx(4.1, abs=1e-15), -4.0]]  # penalized, not yet clipped
    assert layer.grads["W"].item() == pytest.approx(0.7, abs=1e-15)
    assert layer.grads["b"].item() == pytest.approx(-0.6983237301612982, abs=1e-15)
    assert layer.params["W"].item() == pytest.approx(1.93, abs=1e-15)
    assert layer.params["b"].item() == pytest.approx(-0.9301676269838701, abs=1e-15)


def test_each_hook_alone_by_hand():
    # L1: dW = 3 + 0.1 = 3.1.  L2: dW = 3 + 0.5 * 2 = 4.  The bias is no weight: db = -4.
    # clip_norm 1: norm 5, factor 1 / (5 + 1e-6): dW = 0.6 / (1 + 2e-7), db = -0.8 / (1 + 2e-7).
    # clip_value 0.7: dW = 0.7, db = -0.7.
    cases = [(L1Penalty(0.1), 3.1, -4.0), (L2Penalty(0.5), 4.0, -4.0),
             (ClipNorm(1.0), 3 / (5 + 1e-6), -4 / (5 + 1e-6)), (ClipValue(0.7), 0.7, -0.7)]
    for hook, dW, db in cases:
        model, layer = two_parameters()
        hook(model.named_params())
        assert (layer.grads["W"].item(), layer.grads["b"].item()) == (pytest.approx(dW, abs=1e-15),
                                                                      pytest.approx(db, abs=1e-15))
        assert (layer.params["W"].item(), layer.params["b"].item()) == (2.0, -1.0)


def test_the_penalty_terms_by_hand():
    # l1 0.1: 0.1 |2| = 0.2;  l2 0.5: 0.5 / 2 * 2^2 = 1.0;  the bias -1 counts in neither
    model, _ = two_parameters()
    assert L1Penalty(0.1).term(model.named_params()) == pytest.approx(0.2, abs=1e-15)
    assert L2Penalty(0.5).term(model.named_params()) == pytest.approx(1.0, abs=1e-15)
    assert penalty_term(all_hooks(), model.named_params()) == pytest.approx(1.2, abs=1e-15)
    assert penalty_term([], model.named_params()) == 0.0


def test_the_l1_gradient_of_a_zero_weight_is_zero():
    model, layer = two_parameters(W=0.0)
    L1Penalty(0.1)(model.named_params())
    assert layer.grads["W"].item() == 3.0  # sign(0) = 0, as torch's autograd gives for |w|


# ---------------------------------------------------------------- the order of a step


def recording(cls, calls):
    """`cls` with each call recorded in `calls` by the hook's class name."""
    class Recording(cls):
        def __call__(self, named_params):
            calls.append(cls.__name__)
            super().__call__(named_params)
    return Recording


def test_a_step_runs_penalties_then_inspect_then_clipping_whatever_the_order_added():
    calls = []
    hooks = [recording(L1Penalty, calls)(0.1), recording(L2Penalty, calls)(0.5),
             recording(ClipNorm, calls)(1.0), recording(ClipValue, calls)(0.7)]
    optimizer = get_optimizer({"name": "sgd", "lr": 0.1})
    for hook in reversed(hooks):
        optimizer.add_hook(hook)
    assert optimizer.hooks == hooks
    model, _ = two_parameters()
    optimizer.step(model.named_params(), inspect=lambda named: calls.append("inspect"))
    assert calls == ["L1Penalty", "L2Penalty", "inspect", "ClipNorm", "ClipValue"]


def test_clipping_bounds_the_penalized_gradient():
    # l2 2.0 on W = 2: dW = 3 + 4 = 7;  clip_value 5 then cuts it to 5 (the penalty came first)
    model, layer = two_parameters()
    optimizer = get_optimizer({"name": "sgd", "lr": 1.0})
    optimizer.add_hook(ClipValue(5.0))
    optimizer.add_hook(L2Penalty(2.0))
    optimizer.step(model.named_params())
    assert layer.params["W"].item() == 2.0 - 5.0


def test_one_hook_of_each_kind():
    optimizer = get_optimizer("adam")
    optimizer.add_hook(ClipNorm(1.0))
    with pytest.raises(ValueError, match="already has a ClipNorm hook"):
        optimizer.add_hook(ClipNorm(2.0))


def test_hooks_from_the_config_values():
    assert gradient_hooks() == [] and gradient_hooks(0.0, 0.0, None, None) == []
    hooks = gradient_hooks(l1=0.1, l2=0.2, clip_norm=1.0, clip_value=0.5)
    assert [type(h) for h in hooks] == [L1Penalty, L2Penalty, ClipNorm, ClipValue]
    assert [hooks[0].rate, hooks[1].rate, hooks[2].max_norm, hooks[3].value] == [0.1, 0.2, 1.0, 0.5]
    assert [type(h) for h in gradient_hooks(l2=0.01, clip_norm=5)] == [L2Penalty, ClipNorm]
    with pytest.raises(ValueError, match=r"training.clip_norm must be a number > 0. Got -1"):
        ClipNorm(-1)


def test_hooks_leave_the_optimizer_state_as_it_was():
    plain, hooked = get_optimizer("adam"), get_optimizer("adam")
    for hook in all_hooks():
        hooked.add_hook(hook)
    for optimizer in (plain, hooked):
        model, _ = two_parameters()
        optimizer.step(model.named_params())
    assert plain.state_dict().keys() == hooked.state_dict().keys()
    assert plain.config() == hooked.config()


# ---------------------------------------------------------------- penalties on a model


def test_penalties_add_to_weight_grads_only():
    model = Model([{"type": "dense", "units": 3, "activation": "tanh"}, {"type": "batchnorm"},
                   {"type": "dense", "units": 2}], 4, dtype="float64", rng=0)
    for _, _, g in model.named_params():
        g[...] = 0
    l1, l2 = 0.01, 0.1
    w0, w2 = model.layers[0].params["W"], model.layers[2].params["W"]
    w0[0, 0] = 0.0
    for hook in gradient_hooks(l1, l2):
        hook(model.named_params())
    expected = sum(l1 * np.abs(w).sum() + l2 / 2 * (w ** 2).sum() for w in (w0, w2))
    assert penalty_term(gradient_hooks(l1, l2), model.named_params()) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(model.layers[0].grads["W"], l1 * np.sign(w0) + l2 * w0)
    np.testing.assert_allclose(model.layers[2].grads["W"], l1 * np.sign(w2) + l2 * w2)
    assert not model.layers[0].grads["b"].any() and not model.layers[2].grads["b"].any()
    assert not model.layers[1].grads["gamma"].any() and not model.layers[1].grads["beta"].any()
    assert [key for key, _, _ in model.named_params().weights] == ["layers.0.W", "layers.2.W"]


# ---------------------------------------------------------------- clipping


def test_clip_grad_norm_scales_to_the_max_norm():
    g1, g2 = np.array([3.0]), np.array([[4.0]])
    params = [("a", np.zeros(1), g1), ("b", np.zeros((1, 1)), g2)]
    assert clip_grad_norm(params, 1.0) == pytest.approx(5.0)
    # torch: factor max_norm / (norm + 1e-6)
    np.testing.assert_allclose([g1[0], g2[0, 0]], [3 / (5 + 1e-6), 4 / (5 + 1e-6)])
    assert clip_grad_norm(params, 10.0) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose([g1[0], g2[0, 0]], [3 / (5 + 1e-6), 4 / (5 + 1e-6)])


def test_clip_grad_norm_on_a_model_clips_every_layer():
    model = Model([{"type": "dense", "units": 3, "activation": "tanh"}, {"type": "dense", "units": 2}],
                  4, dtype="float64", rng=0)
    rng = np.random.default_rng(1)
    for _, _, g in model.named_params():
        g[...] = rng.normal(size=g.shape)
    norm = math.sqrt(sum((g ** 2).sum() for _, _, g in model.named_params()))
    assert clip_grad_norm(model.named_params(), 0.5) == pytest.approx(norm)
    assert math.sqrt(sum((g ** 2).sum() for _, _, g in model.named_params())) == pytest.approx(0.5, rel=1e-5)


def test_clip_grad_value():
    g = np.array([-3.0, 0.5, 2.0])
    clip_grad_value([("a", np.zeros(3), g)], 1.0)
    np.testing.assert_array_equal(g, [-1.0, 0.5, 1.0])


# ---------------------------------------------------------------- against torch


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_norm_is_torchs_clip_grad_norm(max_norm):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    grads = [rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(3, 2))]
    tensors = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for t, g in zip(tensors, grads):
        t.grad = torch.tensor(g)
    total = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    assert clip_grad_norm([(f"p{i}", None, g.copy()) for i, g in enumerate(grads)],
                          max_norm) == pytest.approx(float(total), rel=1e-13)
    ClipNorm(max_norm)([(f"p{i}", np.zeros(g.shape), g) for i, g in enumerate(grads)])
    for t, g in zip(tensors, grads):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-14, atol=1e-15)


def test_clip_value_is_torchs_clip_grad_value():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    grads = [rng.normal(size=(5, 2)) * 2, rng.normal(size=2)]
    tensors = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for t, g in zip(tensors, grads):
        t.grad = torch.tensor(g)
    torch.nn.utils.clip_grad_value_(tensors, 0.8)
    ClipValue(0.8)([(f"p{i}", np.zeros(g.shape), g) for i, g in enumerate(grads)])
    for t, g in zip(tensors, grads):
        np.testing.assert_array_equal(g, t.grad.numpy())


def test_penalties_are_the_gradients_of_torchs_penalty_terms():
    torch = pytest.importorskip("torch")
    model = Model([{"type": "dense", "units": 3}, {"type": "dense", "units": 2}], 4, dtype="float64", rng=4)
    for _, _, g in model.named_params():
        g[...] = 0
    l1, l2 = 0.03, 0.2
    hooks = gradient_hooks(l1, l2)
    for hook in hooks:
        hook(model.named_params())
    params = {key: torch.tensor(p, requires_grad=True) for key, p, _ in model.named_params()}
    weights = [params["layers.0.W"], params["layers.1.W"]]
    term = sum(l1 * w.abs().sum() + l2 / 2 * (w ** 2).sum() for w in weights)
    term.backward()
    assert penalty_term(hooks, model.named_params()) == pytest.approx(float(term.detach()), rel=1e-13)
    for key, _, grad in model.named_params():
        want = params[key].grad
        np.testing.assert_allclose(grad, want.numpy() if want is not None else 0.0, rtol=1e-14, atol=1e-16)
