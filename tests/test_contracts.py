"""The registry-wide contract, as Keras's run_layer_test: every registered component is checked
against an independent reference, so nothing registered can skip the checks.

- every layer type (LAYERS): built from config specs that set each of its arguments, its output
  shape the one it declares, its gradients (input and every param) those of float64 central
  differences, saved to and loaded from model.npz with identical outputs, and exported to ONNX
  with ONNX Runtime's output within 1e-9 of its own in float64;
- every activation (ACTIVATIONS): value and gradient against torch.nn.functional and autograd,
  and its ONNX form against the same;
- every optimizer (OPTIMIZERS): seven steps against torch.optim with the same hyperparameters;
- every loss (LOSSES): value and gradient against torch.nn.functional and autograd;
- every metric (METRICS): against scikit-learn's definition;
- every schedule (SCHEDULES): the lr of each epoch against torch.optim.lr_scheduler, warmup as
  torch's LinearLR;
- every initializer (INITIALIZERS): its distribution against torch.nn.init's (a two-sample
  Kolmogorov-Smirnov test on tens of thousands of draws).

A registered component missing from the tables below fails with a message saying what to add;
each table's specs must set every argument the component accepts.
"""

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm
from test_activations import away_from_kinks
from test_export_layers import onnx_forward
from test_layers import check_layer, inputs
from test_losses import LABELS, LOGITS, REG_OUT, REG_Y
from test_references import OPTIONS, TORCH, gradient_sequence, torch_trajectory

from nettrain.export.layers import layer_infos
from nettrain.nn.activations import ACTIVATIONS, get_activation
from nettrain.nn.initializers import INITIALIZERS, initialize
from nettrain.nn.layers import LAYERS
from nettrain.nn.losses import LOSSES, get_loss
from nettrain.nn.metrics import METRICS
from nettrain.nn.model import Model, load_model, save_model
from nettrain.nn.optimizers import OPTIMIZERS, get_optimizer
from nettrain.nn.schedules import SCHEDULES, get_schedule
from nettrain.registry import keyword_parameters

torch = pytest.importorskip("torch")
F = torch.nn.functional


def canonical(table, attribute="name"):
    """One entry per class the package registers, by the name it is known by (aliases share a
    class; a class a test registers for itself, as tests/test_toy_layer.py does, is not the
    package's)."""
    return sorted({getattr(cls, attribute) for cls in table.values() if cls.__module__.startswith("nettrain.")})


def assert_covers(cls, specs, kind, table_name, injected=()):
    """The specs of a component's cases set every argument it accepts between them."""
    accepted = {p.name for p in keyword_parameters(cls)} - set(injected)
    unset = accepted - {key for spec in specs for key in spec}
    assert not unset, (f"{kind} {cls.__name__}: no case in {table_name} sets {', '.join(sorted(unset))}; "
                       f"add a spec that does, so every argument is checked against the reference")


def cases_of(table, table_name, name, kind):
    """The entry of a registered component in one of the tables below; none fails the test."""
    if name not in table:
        pytest.fail(f"the registered {kind} {name!r} has no entry in {table_name}: add how to build "
                    f"it and its reference there (tests/test_contracts.py)", pytrace=False)
    return table[name]


# ---------------------------------------------------------------- layers

# type -> [(the layer's config arguments, the input sample shape)]: how each registered type is
# built; between them the cases set every argument the type accepts. An input shape given as
# ("ids", T, V) means T integer token ids below V.
LAYER_CASES = {
    "activation": [({"activation": {"name": "elu", "alpha": 0.5}}, (5,))],
    "dense": [({"units": 3, "activation": "tanh", "init": {"name": "normal", "std": 0.3}}, (4,)),
              ({"units": 2, "use_bias": False}, (3,))],
    "dropout": [({"rate": 0.4}, (5,))],
    "batchnorm": [({"momentum": 0.3, "eps": 1e-3}, (3, 4, 4)), ({}, (5,))],
    "conv2d": [({"filters": 2, "kernel_size": [3, 2], "stride": 2, "padding": 1, "activation": "tanh",
                 "init": "glorot_normal"}, (2, 5, 6)),
               ({"filters": 3, "kernel_size": 2, "padding": "same", "use_bias": False}, (1, 4, 3))],
    "max_pool2d": [({"pool_size": 2, "stride": 1, "padding": 1}, (2, 4, 5)), ({}, (1, 5, 4))],
    "avg_pool2d": [({"pool_size": 3, "stride": 2, "padding": 1}, (2, 5, 5)), ({}, (1, 4, 5))],
    "global_avg_pool2d": [({}, (2, 3, 4))],
    "flatten": [({}, (2, 3, 2))],
    "embedding": [({"output_dim": 3, "input_dim": 7}, ("ids", 5, 7))],
    "rnn": [({"units": 3, "return_sequences": True, "bidirectional": True, "activation": "relu"}, (4, 2)),
            ({"units": 2}, (3, 2))],
    "lstm": [({"units": 3, "return_sequences": True, "bidirectional": True}, (4, 2)), ({"units": 2}, (3, 2))],
    "gru": [({"units": 3, "return_sequences": True, "bidirectional": True}, (4, 2)), ({"units": 2}, (3, 2))],
    "random_flip": [({"mode": "both"}, (2, 3, 4))],
    "random_shift": [({"max_pixels": 1}, (2, 4, 4))],
}

# Layers whose ONNX form is the identity by design: they act in training only.
IDENTITY_AT_INFERENCE = {
    "dropout": "inverted dropout: no mask and no scaling at inference",
    "random_flip": "a training-time augmentation",
    "random_shift": "a training-time augmentation",
}

BATCH = 3


def layer_cases(kind):
    cases = cases_of(LAYER_CASES, "LAYER_CASES", kind, "layer type")
    assert_covers(LAYERS[kind], [args for args, _ in cases], "layer type", "LAYER_CASES")
    return cases


def built_model(kind, args, shape, seed=0):
    """A one-layer float64 model of `kind` and a batch for it, with trained-looking buffers."""
    ids = shape[0] == "ids"
    model = Model([{"type": kind, **args}], shape[1:2] if ids else shape, dtype="float64", rng=seed)
    rng = np.random.default_rng(seed + 1)
    for layer in model.layers:  # running statistics away from their initial 0 and 1
        for buffer in layer.buffers.values():
            buffer[...] = rng.uniform(0.5, 1.5, buffer.shape)
    if ids:
        x = rng.integers(0, shape[2], (BATCH, shape[1]))
        x[0, :2] = 0  # padding ids too
    else:
        x = inputs((BATCH, *shape), seed=seed + 2)
    return model, x


@pytest.mark.parametrize("kind", canonical(LAYERS, "type"))
def test_layer_builds_from_its_config_with_the_shape_it_declares(kind):
    for args, shape in layer_cases(kind):
        model, x = built_model(kind, args, shape)
        [layer] = model.layers
        declared = model.output_shape
        for training in (True, False):
            assert model.forward(x, training=training).shape == (BATCH, *declared), (args, training)
        assert set(args) <= set(layer.config()), "config() must give back every argument"
        rebuilt = Model([layer.config()], model.input_shape, dtype="float64", rng=0)
        assert rebuilt.architecture() == model.architecture()


@pytest.mark.parametrize("kind", canonical(LAYERS, "type"))
def test_layer_gradients_are_central_differences_in_float64(kind):
    for args, shape in layer_cases(kind):
        model, x = built_model(kind, args, shape)
        check_layer(model.layers[0], x, training=True)


@pytest.mark.parametrize("kind", canonical(LAYERS, "type"))
def test_layer_saves_and_loads_through_model_npz(kind, tmp_path):
    for i, (args, shape) in enumerate(layer_cases(kind)):
        model, x = built_model(kind, args, shape)
        save_model(model, tmp_path / f"model{i}.npz")
        loaded = load_model(tmp_path / f"model{i}.npz")
        assert loaded.architecture() == model.architecture()
        saved = model.state_dict()
        assert loaded.state_dict().keys() == saved.keys()
        for key, value in loaded.state_dict().items():
            np.testing.assert_array_equal(value, saved[key], err_msg=key)
        np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


@pytest.mark.parametrize("kind", canonical(LAYERS, "type"))
def test_layer_exports_to_onnx_and_onnx_runtime_agrees(kind):
    for args, shape in layer_cases(kind):
        model, x = built_model(kind, args, shape)
        in_dtype = "int64" if shape[0] == "ids" else "float64"
        got = onnx_forward(layer_infos(model), x, "float64", in_dtype)
        want = model.forward(x)  # evaluation mode, what the exported model computes
        if kind in IDENTITY_AT_INFERENCE:
            np.testing.assert_array_equal(want, x)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9, err_msg=str(args))


# ---------------------------------------------------------------- activations

# name -> [(the activation's arguments, the torch function with the same arguments)]
ACTIVATION_CASES = {
    "identity": [({}, lambda x: x)],
    "relu": [({}, F.relu)],
    "leaky_relu": [({}, F.leaky_relu), ({"negative_slope": 0.2}, lambda x: F.leaky_relu(x, 0.2))],
    "elu": [({}, F.elu), ({"alpha": 0.6}, lambda x: F.elu(x, 0.6))],
    "gelu": [({}, lambda x: F.gelu(x, approximate="tanh"))],  # the tanh form, as documented
    "sigmoid": [({}, torch.sigmoid)],
    "tanh": [({}, torch.tanh)],
    "softplus": [({}, F.softplus)],
    "silu": [({}, F.silu)],
}


@pytest.mark.parametrize("name", canonical(ACTIVATIONS))
def test_activation_value_gradient_and_onnx_form_are_torchs(name):
    cases = cases_of(ACTIVATION_CASES, "ACTIVATION_CASES", name, "activation")
    assert_covers(ACTIVATIONS[name], [args for args, _ in cases], "activation", "ACTIVATION_CASES")
    x = away_from_kinks((6, 5))
    r = np.random.default_rng(1).normal(size=x.shape)
    for args, reference in cases:
        spec = {"name": name, **args}
        xt = torch.tensor(x, requires_grad=True)
        want = reference(xt)
        (want * torch.tensor(r)).sum().backward()
        act = get_activation(spec)
        np.testing.assert_allclose(act.forward(x.copy()), want.detach().numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(act.backward(r), xt.grad.numpy(), rtol=1e-10, atol=1e-14)
        model = Model([{"type": "activation", "activation": spec}], 5, dtype="float64")
        got = onnx_forward(layer_infos(model), x, "float64")
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=0, atol=1e-9, err_msg=str(spec))


# ---------------------------------------------------------------- optimizers


@pytest.mark.parametrize("name", canonical(OPTIMIZERS))
def test_optimizer_steps_are_torch_optims(name):
    """Every spec of test_references.OPTIONS for this optimizer (between them, every argument
    set), seven steps on the flat parameter buffer, against torch.optim.TORCH[name]."""
    assert name in TORCH, (f"the registered optimizer {name!r} has no torch.optim counterpart in "
                           f"tests/test_references.py's TORCH: add it there")
    specs = [spec for spec in OPTIONS if spec["name"] == name]
    assert_covers(OPTIMIZERS[name], specs, "optimizer", "tests/test_references.py's OPTIONS")
    model = Model([{"type": "dense", "units": 3}, {"type": "dense", "units": 2}], 4, dtype="float64", rng=0)
    start = [p.copy() for _, p, _ in model.named_params()]
    grads = gradient_sequence([p.shape for p in start])
    for spec in specs:
        named = model.named_params()
        for (_, p, _), value in zip(named, start):
            p[...] = value
        optimizer = get_optimizer(spec)
        for step in grads:
            for (_, _, g), value in zip(named, step):
                g[...] = value
            optimizer.step(named)
        for (key, p, _), want in zip(named, torch_trajectory(spec, start, grads)):
            np.testing.assert_allclose(p, want, rtol=1e-10, atol=1e-13, err_msg=f"{spec} {key}")


# ---------------------------------------------------------------- losses

BINARY_LOGITS = np.random.default_rng(2).normal(size=(6, 1)) * 2
BINARY_LABELS = np.array([1, 0, 0, 1, 1, 0])


def weighted_bce(weights):
    """torch's BCE with per-sample weights, normalized as cross_entropy: by the weights' sum."""
    def loss(z, y):
        w = torch.tensor(weights, dtype=torch.float64)[y]
        return F.binary_cross_entropy_with_logits(z[:, 0], y.double(), weight=w, reduction="sum") / w.sum()
    return loss


# name -> (model output, targets, [(the loss's arguments, the torch function of (output, y))])
LOSS_CASES = {
    "cross_entropy": (LOGITS, LABELS, [
        ({}, F.cross_entropy),
        ({"label_smoothing": 0.2, "class_weights": [2.0, 0.5, 1.0]},
         lambda z, y: F.cross_entropy(z, y, weight=torch.tensor([2.0, 0.5, 1.0]), label_smoothing=0.2))]),
    "binary_cross_entropy": (BINARY_LOGITS, BINARY_LABELS, [
        ({}, lambda z, y: F.binary_cross_entropy_with_logits(z[:, 0], y.double())),
        ({"class_weights": [0.5, 3.0]}, weighted_bce([0.5, 3.0]))]),
    "mse": (REG_OUT, REG_Y, [({}, F.mse_loss)]),
    "mae": (REG_OUT, REG_Y, [({}, F.l1_loss)]),
    "huber": (REG_OUT, REG_Y, [({}, F.huber_loss), ({"delta": 0.3}, lambda z, y: F.huber_loss(z, y, delta=0.3))]),
}


@pytest.mark.parametrize("name", canonical(LOSSES))
def test_loss_value_and_gradient_are_torchs(name):
    output, y, cases = cases_of(LOSS_CASES, "LOSS_CASES", name, "loss")
    assert_covers(LOSSES[name], [args for args, _ in cases], "loss", "LOSS_CASES")
    for args, reference in cases:
        z = torch.tensor(output, requires_grad=True)
        want = reference(z, torch.tensor(y))
        want.backward()
        loss = get_loss({"name": name, **args})
        assert loss.forward(output.copy(), y) == pytest.approx(want.item(), rel=1e-12), args
        np.testing.assert_allclose(loss.backward(), z.grad.numpy(), rtol=1e-10, atol=1e-15, err_msg=str(args))


# ---------------------------------------------------------------- metrics


def decisions(p, pos, threshold):
    """A binary model predicts `pos` at probability >= threshold; more classes the most probable."""
    if p.shape[1] == 2:
        return np.where(p[:, pos] >= threshold, pos, 1 - pos)
    return p.argmax(axis=1)


def averaged(fn):
    def score(y, p, pos, threshold):
        kwargs = {"pos_label": pos, "average": "binary"} if p.shape[1] == 2 else {"average": "macro"}
        return fn(y, decisions(p, pos, threshold), zero_division=0, **kwargs)
    return score


def ranked(fn, **multiclass):
    def score(y, p, pos, threshold):
        return fn(y == pos, p[:, pos]) if p.shape[1] == 2 else fn(y, p, average="macro", **multiclass)
    return score


# name -> scikit-learn's score of (y_true, probabilities or predictions, pos, threshold)
METRIC_REFERENCES = {
    "accuracy": lambda y, p, pos, t: skm.accuracy_score(y, decisions(p, pos, t)),
    "balanced_accuracy": lambda y, p, pos, t: skm.balanced_accuracy_score(y, decisions(p, pos, t)),
    "precision": averaged(skm.precision_score),
    "recall": averaged(skm.recall_score),
    "f1": averaged(skm.f1_score),
    "roc_auc": ranked(skm.roc_auc_score, multi_class="ovr"),
    "pr_auc": ranked(skm.average_precision_score),
    "log_loss": lambda y, p, pos, t: skm.log_loss(y, p, labels=np.arange(p.shape[1])),
    "mse": lambda y, p, pos, t: skm.mean_squared_error(y, p),
    "rmse": lambda y, p, pos, t: skm.root_mean_squared_error(y, p),
    "mae": lambda y, p, pos, t: skm.mean_absolute_error(y, p),
    "r2": lambda y, p, pos, t: skm.r2_score(y, p),
}


def classification_problems():
    """(y, probabilities, pos, threshold): binary with either positive class and two thresholds,
    and four classes (every class present, as sklearn's multiclass AUC requires)."""
    rng = np.random.default_rng(3)
    for k, settings in ((2, [(1, 0.5), (0, 0.3)]), (4, [(1, 0.5)])):
        y = np.concatenate([np.arange(k), rng.integers(0, k, 36)])
        logits = rng.normal(size=(len(y), k)) + 1.2 * np.eye(k)[y]
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        for pos, threshold in settings:
            yield y, p, pos, threshold


def regression_problems():
    rng = np.random.default_rng(4)
    y = rng.normal(size=(30, 2)) * [1.0, 20.0] + [0.0, 5.0]
    yield y, y + rng.normal(size=y.shape) * [0.5, 9.0], 1, 0.5
    yield y[:, :1], y[:, :1] * 0.8 + 0.1, 1, 0.5


@pytest.mark.parametrize("name", canonical(METRICS))
def test_metric_is_sklearns(name):
    reference = cases_of(METRIC_REFERENCES, "METRIC_REFERENCES", name, "metric")
    metric = METRICS[name]
    problems = classification_problems() if metric.task == "classification" else regression_problems()
    for y, p, pos, threshold in problems:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn's warnings on undefined scores
            want = reference(y, p, pos, threshold)
        assert metric(pos, threshold)(y, p) == pytest.approx(want, rel=1e-12), (p.shape, pos, threshold)


# ---------------------------------------------------------------- schedules

# name -> (the torch.optim.lr_scheduler class, [the schedule's arguments]); the arguments are
# torch's by name but for warmup_epochs (torch's LinearLR before it) and a plateau's monitor
# (the logged value this test feeds it).
SCHEDULE_CASES = {
    "constant": ("LambdaLR", [{}, {"warmup_epochs": 3}]),
    "step": ("StepLR", [{"step_size": 3}, {"step_size": 2, "gamma": 0.5, "warmup_epochs": 2}]),
    "multistep": ("MultiStepLR", [{"milestones": [6, 2, 7], "gamma": 0.3, "warmup_epochs": 3}]),
    "exponential": ("ExponentialLR", [{"gamma": 0.8, "warmup_epochs": 2}]),
    "cosine": ("CosineAnnealingLR", [{"T_max": 6}, {"T_max": 5, "eta_min": 0.01, "warmup_epochs": 3}]),
    "plateau": ("ReduceLROnPlateau", [
        {"patience": 1},
        {"monitor": "val_accuracy", "mode": "max", "factor": 0.5, "patience": 1, "threshold": 0.02,
         "threshold_mode": "abs", "cooldown": 1, "min_lr": 0.03, "eps": 1e-3, "warmup_epochs": 2}]),
    # stepped every batch: here one batch an epoch, so torch's total_steps is the epoch count
    "one_cycle": ("OneCycleLR", [
        {"max_lr": 1.0},
        {"max_lr": 2.0, "pct_start": 0.4, "anneal_strategy": "linear", "div_factor": 10.0,
         "final_div_factor": 100.0, "three_phase": True, "cycle_momentum": True,
         "base_momentum": 0.8, "max_momentum": 0.9}]),
}
MONITORED = [0.5, 0.6, 0.62, 0.61, 0.6, 0.7, 0.71, 0.7, 0.69, 0.68, 0.8, 0.8, 0.8, 0.81, 0.7, 0.6,
             0.6, 0.6, 0.6, 0.6]


def torch_lrs(class_name, args, base_lr, values):
    """The lr torch gives each epoch: LinearLR from base_lr / W to base_lr over the warmup, then
    the scheduler, created at the end of the warmup and stepped after each epoch."""
    scheduler = getattr(torch.optim.lr_scheduler, class_name)
    given = {k: v for k, v in args.items() if k not in ("warmup_epochs", "monitor")}
    if class_name == "OneCycleLR":
        given["total_steps"] = len(values)

    def make(optimizer):
        if class_name == "LambdaLR":
            return scheduler(optimizer, lambda epoch: 1.0)
        return scheduler(optimizer, **given)

    warmup = args.get("warmup_epochs", 0)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr, momentum=0.9)
    current = (torch.optim.lr_scheduler.LinearLR(optimizer, 1 / warmup, total_iters=warmup - 1)
               if warmup else make(optimizer))
    lrs = []
    for epoch, value in enumerate(values):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if epoch < warmup - 1:
            current.step()
        elif epoch == warmup - 1:
            current = make(optimizer)  # the schedule's own epoch 0, at base_lr
        elif class_name == "ReduceLROnPlateau":
            current.step(value)
        else:
            current.step()
    return lrs


@pytest.mark.parametrize("name", canonical(SCHEDULES))
def test_schedule_lrs_are_torchs(name):
    class_name, specs = cases_of(SCHEDULE_CASES, "SCHEDULE_CASES", name, "schedule")
    assert_covers(SCHEDULES[name], specs, "schedule", "SCHEDULE_CASES", injected=("base_lr",))
    for args in specs:
        schedule = get_schedule({"name": name, **args}, 0.4)
        schedule.start(get_optimizer({"name": "sgd", "momentum": 0.9}), 1, len(MONITORED))  # per-batch ones
        monitor = args.get("monitor", "val_loss")
        ours = []
        for value in MONITORED:
            ours.append(schedule.lr)
            schedule.step({"loss": 1.0, monitor: value})
        assert ours == pytest.approx(torch_lrs(class_name, args, 0.4, MONITORED), rel=1e-12), args


def test_warmup_reference_ramps_linearly():
    """The LinearLR warmup above is base_lr (e + 1) / W, the documented ramp."""
    assert torch_lrs("StepLR", {"step_size": 50, "warmup_epochs": 4}, 1.0, [0.0] * 6) == pytest.approx(
        [0.25, 0.5, 0.75, 1.0, 1.0, 1.0], rel=1e-12)


# ---------------------------------------------------------------- initializers

# name -> [(the initializer's arguments, the torch.nn.init function filling a tensor alike)]
INITIALIZER_CASES = {
    "he_normal": [({}, lambda t: torch.nn.init.kaiming_normal_(t, nonlinearity="relu"))],
    "he_uniform": [({}, lambda t: torch.nn.init.kaiming_uniform_(t, nonlinearity="relu"))],
    "glorot_normal": [({}, torch.nn.init.xavier_normal_)],
    "glorot_uniform": [({}, torch.nn.init.xavier_uniform_)],
    "lecun_normal": [({}, lambda t: torch.nn.init.kaiming_normal_(t, nonlinearity="linear"))],
    "lecun_uniform": [({}, lambda t: torch.nn.init.kaiming_uniform_(t, nonlinearity="linear"))],
    "normal": [({}, lambda t: torch.nn.init.normal_(t, 0.0, 0.05)),
               ({"mean": 1.0, "std": 0.2}, lambda t: torch.nn.init.normal_(t, 1.0, 0.2))],
    "uniform": [({}, lambda t: torch.nn.init.uniform_(t, -0.05, 0.05)),
                ({"low": 2.0, "high": 3.0}, lambda t: torch.nn.init.uniform_(t, 2.0, 3.0))],
    "zeros": [({}, torch.nn.init.zeros_)],
}
# (our shape, torch's shape of the same weights): a dense matrix is (in, out), torch's (out, in);
# a conv kernel is (filters, channels, kh, kw) in both.
SHAPES = [((300, 200), (200, 300)), ((64, 16, 3, 3), (64, 16, 3, 3))]


@pytest.mark.parametrize("name", canonical(INITIALIZERS))
def test_initializer_draws_torchs_distribution(name):
    cases = cases_of(INITIALIZER_CASES, "INITIALIZER_CASES", name, "initializer")
    assert_covers(INITIALIZERS[name], [args for args, _ in cases], "initializer", "INITIALIZER_CASES")
    torch.manual_seed(0)
    for args, reference in cases:
        for ours_shape, torch_shape in SHAPES:
            ours = initialize({"name": name, **args}, ours_shape, np.random.default_rng(0), np.float64)
            theirs = reference(torch.empty(torch_shape, dtype=torch.float64)).numpy()
            assert ours.shape == ours_shape and ours.dtype == np.float64
            if not theirs.any():
                assert not ours.any()
                continue
            assert stats.ks_2samp(ours.ravel(), theirs.ravel()).pvalue > 1e-3, (args, ours_shape)
            assert ours.std() == pytest.approx(theirs.std(), rel=0.03), (args, ours_shape)
