"""Every default of the config reference, pinned: the resolved config of a minimal file against
the documented table (written out here by hand, and read from docs/config.md so that no key
goes undocumented), and each default's behaviour against the
PyTorch function or class the reference names (torch's own defaults, never nettrain's)."""

import re

import numpy as np
import pytest
import yaml

from nettrain.config.loading import config_from_dict
from nettrain.nn.activations import get_activation
from nettrain.nn.losses import get_loss
from nettrain.nn.model import Model
from nettrain.nn.optimizers import get_optimizer
from nettrain.nn.schedules import get_schedule

torch = pytest.importorskip("torch")
F = torch.nn.functional

from conftest import ROOT  # noqa: E402

MINIMAL = {"data": {"path": str(ROOT / "datasets" / "iris.csv"), "target": "species"},
           "model": {"layers": [{"type": "dense", "units": 8}, {"type": "dropout"},
                                {"type": "batchnorm"}, {"type": "dense", "units": 3}]}}

# The tables of docs/config.md, by hand.
DOCUMENTED = {
    "seed": 0, "dtype": "float32", "output": "runs", "metrics": ["accuracy"], "schedule": None,
    "regularization": {"l1": 0.0, "l2": 0.0},
    "loss": {"name": "cross_entropy", "label_smoothing": 0.0, "class_weights": None},
    "optimizer": {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8,
                  "weight_decay": 0.0, "amsgrad": False},
    "training": {"epochs": 100, "batch_size": 32, "shuffle": True, "clip_norm": None,
                 "clip_value": None, "diagnostics": False, "early_stopping": None,
                 "report": False, "save": "auto"},
    "threshold": 0.5,
}
DATA = {"features": None, "task": "auto", "scale": "standard", "scale_target": "none",
        "categorical": "onehot", "missing": "error",
        "split": {"train": 0.7, "val": 0.15, "test": 0.15, "stratify": True},
        "exclude": None, "dates": None, "missing_target": "error", "onehot_limit": 100,
        "pos_label": None, "sep": None, "encoding": "utf-8"}
LAYERS = [{"type": "dense", "units": 8, "activation": None, "init": None, "use_bias": True},
          {"type": "dropout", "rate": 0.5},
          {"type": "batchnorm", "momentum": 0.1, "eps": 1e-5},
          {"type": "dense", "units": 3, "activation": None, "init": None, "use_bias": True}]


def resolved(extra=None):
    return config_from_dict({**MINIMAL, **(extra or {})}, ROOT).data


def test_the_resolved_config_holds_every_documented_default():
    data = resolved()
    for key, value in DOCUMENTED.items():
        if isinstance(value, dict) and key != "loss":
            assert {k: data[key][k] for k in value} == value, key
        else:
            assert data[key] == value, key
    for key, value in DATA.items():
        assert data["data"][key] == value, f"data.{key}"
    assert data["model"]["init_from"] is None
    assert [{k: layer[k] for k in want} for layer, want in zip(data["model"]["layers"], LAYERS)] == LAYERS


def test_early_stopping_true_and_search_defaults():
    data = resolved({"training": {"early_stopping": True}})
    assert data["training"]["early_stopping"] == {"monitor": "val_loss", "mode": data["training"][
        "early_stopping"]["mode"], "patience": 10, "min_delta": 0.0, "restore_best": True}
    assert data["training"]["early_stopping"]["mode"] in ("auto", "min", None)
    search = resolved({"search": {"space": {"optimizer.lr": [0.1, 0.01]}}})["search"]
    assert {k: search[k] for k in ("method", "trials", "metric", "repeats")} == {
        "method": "grid", "trials": 20, "metric": "val_loss", "repeats": 1}


WORDS = object()


def documented_defaults():
    """{dotted key: its documented default (WORDS when said in words)} from the table "Every
    key and its default" of docs/config.md; `.l2` after `regularization.l1` and `  .monitor`
    under `training.early_stopping` are spelt out. A row naming several keys gives their
    defaults in the same order (`data.sep`, `data.encoding` | `null`, `utf-8`) or one for all."""
    text = (ROOT / "docs" / "config.md").read_text().split("## Every key and its default")[1]
    rows, parent = {}, ""
    for line in text.split("\n\n")[1].splitlines()[2:]:
        key_cell, default_cell = line.strip("|").split(" | ")[:2]
        keys = []
        for key in re.findall(r"`\s*([^`]+)`", key_cell):
            if key.startswith("."):  # under the row above, or beside the key before it
                key = (keys[-1].rsplit(".", 1)[0] if keys else parent) + key
            keys.append(key)
        if keys[0] == "training.early_stopping":
            parent = keys[0]
        defaults = re.findall(r"`([^`]+)`", default_cell)
        if not default_cell.strip().startswith("`"):
            defaults = []
        elif len(defaults) == 1:
            defaults *= len(keys)  # `regularization.l1`, `.l2` | `0.0`
        for i, key in enumerate(keys):
            rows[key] = yaml.safe_load(defaults[i]) if len(defaults) == len(keys) else WORDS
    return rows


def leaves(config, prefix=""):
    """Dotted keys of a resolved config down to the level the reference documents."""
    for key, value in config.items():
        dotted = prefix + key
        if isinstance(value, dict) and (dotted in ("data", "training", "search", "regularization",
                                                   "model", "training.early_stopping")):
            yield from leaves(value, dotted + ".")
        else:
            yield dotted, value


def test_the_reference_table_lists_every_key_with_its_default():
    documented = documented_defaults()
    config = resolved({"training": {"early_stopping": True}})
    for key, value in leaves(config):
        assert key in documented, f"{key} is missing from docs/config.md's key reference"
        default = documented[key]
        if default is WORDS:  # "the config file's name", "inferred", "— (required)"
            continue
        if isinstance(value, dict) and not isinstance(default, dict):
            value = value["name"]  # `loss: cross_entropy` resolves to {name: cross_entropy, ...}
        elif isinstance(value, dict):
            value = {k: value[k] for k in default}
        assert value == default, key


@pytest.mark.parametrize("name, torch_name", [("sgd", "SGD"), ("adam", "Adam"), ("adamw", "AdamW"),
                                               ("rmsprop", "RMSprop"), ("adagrad", "Adagrad")])
def test_optimizer_defaults_are_torch_optims(name, torch_name):
    ours = get_optimizer(name).config()
    theirs = getattr(torch.optim, torch_name)([torch.zeros(1, requires_grad=True)]).defaults
    for key, value in ours.items():
        if key != "name":
            assert theirs[key] == (tuple(value) if key == "betas" else value), key


@pytest.mark.parametrize("name, reference", [
    ("leaky_relu", F.leaky_relu), ("elu", F.elu), ("softplus", F.softplus), ("silu", F.silu),
    ("gelu", lambda x: F.gelu(x, approximate="tanh")), ("relu", F.relu), ("tanh", torch.tanh),
    ("sigmoid", torch.sigmoid)])
def test_activation_defaults_are_torchs(name, reference):
    x = np.linspace(-20, 20, 401)  # torch's softplus is linear above 20
    np.testing.assert_allclose(get_activation(name).forward(x.copy()),
                               reference(torch.tensor(x)).numpy(), rtol=1e-12, atol=1e-15)


def test_loss_defaults_are_torchs():
    rng = np.random.default_rng(0)
    out, target = rng.normal(size=(20, 3)) * 3, rng.normal(size=(20, 3))
    assert get_loss("huber").forward(out, target) == pytest.approx(
        F.huber_loss(torch.tensor(out), torch.tensor(target)).item(), rel=1e-12)
    labels = rng.integers(0, 3, size=20)
    assert get_loss("cross_entropy").forward(out, labels) == pytest.approx(
        F.cross_entropy(torch.tensor(out), torch.tensor(labels)).item(), rel=1e-12)


def test_batchnorm_and_dropout_defaults_are_torchs():
    rng = np.random.default_rng(0)
    model = Model([{"type": "batchnorm"}], 4, dtype="float64", rng=0)
    bn = torch.nn.BatchNorm1d(4, dtype=torch.float64)  # momentum 0.1, eps 1e-5
    for _ in range(3):
        x = rng.normal(size=(16, 4)) * 5 + 2
        np.testing.assert_allclose(model.forward(x, training=True), bn(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-10, atol=1e-12)
    bn.eval()
    x = rng.normal(size=(16, 4))
    np.testing.assert_allclose(model.forward(x), bn(torch.tensor(x)).detach().numpy(), rtol=1e-10)
    # dropout: rate 0.5, survivors scaled by 1 / (1 - 0.5); evaluation is the identity
    dropout = Model([{"type": "dropout"}], 1000, dtype="float64", rng=0)
    x = np.ones((100, 1000))
    y = dropout.forward(x, training=True)
    assert set(np.unique(y)) == {0.0, 2.0} and abs((y == 0).mean() - 0.5) < 0.01
    assert np.array_equal(dropout.forward(x), x)


def test_layer_defaults_are_evaluation_mode_and_input_gradients():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4))
    for spec in ({"type": "dropout", "rate": 0.5}, {"type": "batchnorm"}):
        model = Model([spec], 4, dtype="float64", rng=0)
        [layer] = model.layers
        expected = layer.forward(x, training=False)
        assert np.array_equal(layer.forward(x), expected)  # training defaults to False
        layer.forward(x, training=True)
        assert layer.backward(np.ones_like(x)) is not None  # input_grad defaults to True
    dense = Model([{"type": "dense", "units": 2}], 4, dtype="float64", rng=0)
    dense.layers[0].forward(x, training=True)
    assert dense.layers[0].backward(np.ones((8, 2))).shape == (8, 4)


def test_dense_default_initializers():
    relu = Model([{"type": "dense", "units": 400, "activation": "relu"}], 900, dtype="float64", rng=0)
    w = relu.layers[0].params["W"]
    assert w.std() == pytest.approx(np.sqrt(2 / 900), rel=0.01)  # he_normal: N(0, 2 / fan_in)
    assert abs(w.mean()) < 0.01 * w.std() * 10
    plain = Model([{"type": "dense", "units": 400}], 900, dtype="float64", rng=0)
    w = plain.layers[0].params["W"]
    limit = np.sqrt(6 / (900 + 400))  # glorot_uniform: U(-limit, limit)
    assert w.max() <= limit and w.min() >= -limit and w.max() > 0.99 * limit and w.min() < -0.99 * limit
    assert w.std() == pytest.approx(limit / np.sqrt(3), rel=0.01)
    assert not relu.layers[0].params["b"].any() and not plain.layers[0].params["b"].any()


def lr_sequence(ours, theirs, losses):
    out = []
    for loss in losses:
        out.append((ours.lr, theirs.optimizer.param_groups[0]["lr"]))
        ours.step({"loss": loss, "val_loss": loss})
        theirs.optimizer.step()
        theirs.step(loss) if isinstance(theirs, torch.optim.lr_scheduler.ReduceLROnPlateau) else theirs.step()
    return out


@pytest.mark.parametrize("spec, make", [
    ({"name": "step", "step_size": 3}, lambda o: torch.optim.lr_scheduler.StepLR(o, 3)),
    ({"name": "multistep", "milestones": [2, 5]},
     lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [2, 5])),
    ({"name": "cosine", "T_max": 6}, lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 6)),
    ({"name": "plateau"}, lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o)),
], ids=["step", "multistep", "cosine", "plateau"])
def test_schedule_defaults_are_torchs(spec, make):
    losses = [1.0, 0.9, 0.95] + [0.9] * 12 + [0.5, 0.49995] + [0.6] * 12 + [0.1] * 3
    sgd = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
    for ours, theirs in lr_sequence(get_schedule(spec, 0.2), make(sgd), losses):
        assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-15)
