"""Behaviour pinned to independent references: torch.optim and torch.nn.utils for every
optimizer option with weight decay and for clipping inside the training loop, a hand-written
NumPy forward pass for evaluation mode, statistics recomputed from the raw file for
preprocessing fitted on the train split only, and crafted pickles that must never run."""

import io
import math
import os
import pickle

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import ROOT
from rich.console import Console

import nettrain
from nettrain.cli import cli
from nettrain.errors import NettrainError
from nettrain.nn.losses import get_loss
from nettrain.nn.model import Model
from nettrain.nn.optimizer_hooks import gradient_hooks
from nettrain.nn.optimizers import get_optimizer
from nettrain.store import rundir
from nettrain.training.trainer import Trainer

torch = pytest.importorskip("torch")
torch.set_default_dtype(torch.float64)

IRIS = ROOT / "datasets" / "iris.csv"


def quiet_fit(cfg, **kwargs):
    return nettrain.fit(cfg, console=Console(file=io.StringIO()), **kwargs)


# ---------------------------------------------------------------- optimizers against torch.optim

TORCH = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad"}
OPTIONS = [
    # each optimizer with only lr: nettrain's defaults must be torch's defaults
    {"name": "sgd", "lr": 0.1}, {"name": "adam", "lr": 0.1}, {"name": "adamw", "lr": 0.1},
    {"name": "rmsprop", "lr": 0.01}, {"name": "adagrad", "lr": 0.1},
    # every option, each with weight decay
    {"name": "sgd", "lr": 0.1, "weight_decay": 0.3},
    {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.3},
    {"name": "sgd", "lr": 0.1, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.3},
    {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.3},
    {"name": "adam", "lr": 0.1, "weight_decay": 0.3},
    {"name": "adam", "lr": 0.1, "amsgrad": True, "weight_decay": 0.3},
    {"name": "adam", "lr": 0.1, "betas": [0.8, 0.99], "eps": 1e-4, "weight_decay": 0.3},
    {"name": "adamw", "lr": 0.1, "weight_decay": 0.3},
    {"name": "adamw", "lr": 0.1, "amsgrad": True, "weight_decay": 0.3},
    {"name": "adamw", "lr": 0.1, "betas": [0.5, 0.9], "eps": 1e-3, "weight_decay": 0.0},
    {"name": "rmsprop", "lr": 0.01, "weight_decay": 0.3},
    {"name": "rmsprop", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.3},
    {"name": "rmsprop", "lr": 0.01, "centered": True, "weight_decay": 0.3},
    {"name": "rmsprop", "lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.3},
    {"name": "rmsprop", "lr": 0.01, "alpha": 0.9, "eps": 1e-3, "weight_decay": 0.3},
    {"name": "adagrad", "lr": 0.1, "weight_decay": 0.3},
    {"name": "adagrad", "lr": 0.1, "lr_decay": 0.5, "weight_decay": 0.3},
    {"name": "adagrad", "lr": 0.1, "initial_accumulator_value": 0.2, "weight_decay": 0.3},
    {"name": "adagrad", "lr": 0.1, "eps": 1e-3, "weight_decay": 0.3},
]


def gradient_sequence(shapes, steps=7, seed=0):
    """Gradients spanning seven orders of magnitude, so that every eps shows in the result."""
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=s) * 10.0 ** rng.uniform(-7, 0, size=s) for s in shapes]
            for _ in range(steps)]


def torch_trajectory(spec, params, grads):
    kwargs = {k: tuple(v) if k == "betas" else v for k, v in spec.items() if k != "name"}
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    opt = getattr(torch.optim, TORCH[spec["name"]])(tensors, **kwargs)
    for step in grads:
        for t, g in zip(tensors, step):
            t.grad = torch.tensor(g)
        opt.step()
    return [t.detach().numpy() for t in tensors]


@pytest.mark.parametrize("flat", [True, False], ids=["flat", "per-parameter"])
@pytest.mark.parametrize("spec", OPTIONS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_optimizer_steps_equal_torch_optim(spec, flat):
    model = Model([{"type": "dense", "units": 3}, {"type": "dense", "units": 2}], 4,
                  dtype="float64", rng=0)
    named = model.named_params() if flat else list(model.named_params())
    start = [p.copy() for _, p, _ in named]
    grads = gradient_sequence([p.shape for p in start])
    opt = get_optimizer(spec)
    for step in grads:
        for (_, _, g), value in zip(named, step):
            g[...] = value
        opt.step(named)
    expected = torch_trajectory(spec, start, grads)
    for (key, p, _), want in zip(named, expected):
        np.testing.assert_allclose(p, want, rtol=1e-10, atol=1e-13, err_msg=key)


# ---------------------------------------------------------------- clipping in the training loop


def torch_copy(model):
    """torch Linear layers with the weights of a nettrain model of dense layers."""
    layers = []
    for layer in model.layers:
        linear = torch.nn.Linear(*layer.params["W"].shape)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(layer.params["W"].T))
            linear.bias.copy_(torch.tensor(layer.params["b"]))
        layers += [linear] + ([torch.nn.Tanh()] if layer.activation is not None else [])
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("clip", [{"clip_norm": 0.05}, {"clip_value": 0.01},
                                  {"clip_norm": 0.05, "clip_value": 0.01}, {},
                                  {"l1": 0.01}, {"l2": 0.1}, {"l1": 0.01, "l2": 0.1, "clip_norm": 0.05}])
def test_clipping_inside_the_training_loop_is_torchs(clip):
    """Clipping and regularization.l1 / l2 (each alone, then together) in the loop: torch with
    the penalty l1 sum|W| + l2 / 2 sum W^2 on the weights (not the biases) added to the loss."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(24, 3)), rng.integers(0, 2, size=24)
    model = Model([{"type": "dense", "units": 5, "activation": "tanh"}, {"type": "dense", "units": 2}],
                  3, dtype="float64", rng=1)
    net = torch_copy(model)
    opt = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    for epoch in range(3):
        for start in range(0, 24, 8):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(Xt[start:start + 8]), yt[start:start + 8])
            for layer in (net[0], net[2]):
                loss = loss + clip.get("l1", 0.0) * layer.weight.abs().sum()
                loss = loss + clip.get("l2", 0.0) / 2 * (layer.weight ** 2).sum()
            loss.backward()
            if "clip_norm" in clip:
                torch.nn.utils.clip_grad_norm_(net.parameters(), clip["clip_norm"])
            if "clip_value" in clip:
                torch.nn.utils.clip_grad_value_(net.parameters(), clip["clip_value"])
            opt.step()
    optimizer = get_optimizer({"name": "sgd", "lr": 0.5, "momentum": 0.9})
    for hook in gradient_hooks(**clip):
        optimizer.add_hook(hook)
    trainer = Trainer(model, get_loss("cross_entropy"), optimizer, epochs=3, batch_size=8, shuffle=False)
    trainer.train((X, y))
    np.testing.assert_allclose(model.layers[0].params["W"], net[0].weight.detach().numpy().T,
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.layers[1].params["W"], net[2].weight.detach().numpy().T,
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.layers[1].params["b"], net[2].bias.detach().numpy(),
                               rtol=1e-9, atol=1e-12)


def test_clip_norm_from_the_config_reaches_the_loop(tmp_path):
    """The same run with and without training.clip_norm: a tiny bound must change the weights
    by no more than lr * bound per step (plain SGD), and differ from the unclipped run."""
    base = {"name": "c", "seed": 0, "output": str(tmp_path), "dtype": "float64",
            "data": {"path": str(IRIS), "target": "species", "scale": "none"},
            "model": {"layers": [{"type": "dense", "units": 3}]},
            "optimizer": {"name": "sgd", "lr": 1.0},
            "training": {"epochs": 1, "batch_size": 200, "shuffle": False}}
    start = quiet_fit({**base, "optimizer": {"name": "sgd", "lr": 1e-300}})
    clipped = quiet_fit({**base, "training": {**base["training"], "clip_norm": 1e-3}})
    free = quiet_fit(base)
    w0 = np.load(start.path / rundir.MODEL)["layers.0.W"]
    w1 = np.load(clipped.path / rundir.MODEL)["layers.0.W"]
    b0, b1 = (np.load(r.path / rundir.MODEL)["layers.0.b"] for r in (start, clipped))
    step = math.sqrt(((w1 - w0) ** 2).sum() + ((b1 - b0) ** 2).sum())
    assert step == pytest.approx(1e-3, rel=1e-4)  # one full-batch step of norm lr * clip_norm
    assert not np.allclose(np.load(free.path / rundir.MODEL)["layers.0.W"], w1)


# ---------------------------------------------------------------- evaluation mode


def manual_forward(arrays, X):
    """dense+relu -> dropout (identity) -> batchnorm (running statistics) -> dense, in NumPy."""
    h = np.maximum(X @ arrays["layers.0.W"] + arrays["layers.0.b"], 0)
    h = (h - arrays["layers.2.running_mean"]) / np.sqrt(arrays["layers.2.running_var"] + 1e-5)
    h = h * arrays["layers.2.gamma"] + arrays["layers.2.beta"]
    return h @ arrays["layers.3.W"] + arrays["layers.3.b"]


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def dropout_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evalmode")
    cfg = {"name": "d", "seed": 0, "output": str(tmp), "dtype": "float64",
           "data": {"path": str(IRIS), "target": "species"},
           "model": {"layers": [{"type": "dense", "units": 16, "activation": "relu"},
                                {"type": "dropout", "rate": 0.5}, {"type": "batchnorm"},
                                {"type": "dense", "units": 3}]},
           "optimizer": {"name": "adam", "lr": 0.01}, "training": {"epochs": 5, "batch_size": 16},
           "metrics": ["accuracy"]}
    return quiet_fit(cfg)


def test_predict_and_evaluate_run_in_evaluation_mode(dropout_run):
    loaded = nettrain.load(dropout_run.path)
    frame = pd.read_csv(IRIS)
    X, y = loaded.preprocessor.transform(frame, require_target=True)
    with np.load(dropout_run.path / rundir.MODEL, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    expected = softmax(manual_forward(arrays, X.astype(np.float64)))
    np.testing.assert_allclose(loaded.predict_proba(frame), expected, rtol=1e-10, atol=1e-12)
    classes = np.array(sorted(frame["species"].unique()))
    assert list(loaded.predict_array(frame)) == list(classes[expected.argmax(axis=1)])
    report = loaded.evaluate(frame)
    want_loss = -np.mean(np.log(expected[np.arange(len(y)), y]))
    assert report["loss"] == pytest.approx(want_loss, rel=1e-10)
    # nettrain evaluate on the test split: the same hand computation on the rebuilt split
    Xs, ys = loaded.split_arrays("test")
    proba = softmax(manual_forward(arrays, Xs.astype(np.float64)))
    result = CliRunner().invoke(cli, ["evaluate", str(dropout_run.path), "--json"])
    assert result.exit_code == 0, result.output
    import json
    printed = json.loads(result.stdout)
    assert printed["loss"] == pytest.approx(-np.mean(np.log(proba[np.arange(len(ys)), ys])), rel=1e-9)
    # metrics.json's test loss was computed by the trainer in evaluation mode too
    assert dropout_run.metrics["test"]["loss"] == pytest.approx(printed["loss"], rel=1e-9)


# ---------------------------------------------------------------- fitted on the train split only


def rare_levels_frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    color = rng.choice(["red", "green", "blue"], n).astype(object)
    color[:12] = [f"rare{i}" for i in range(12)]  # twelve levels of one row each
    x = rng.normal(size=n) * 3 + 10
    target = 5 * x + rng.normal(size=n) + np.where(color == "red", 4.0, 0.0)
    return pd.DataFrame({"color": color, "x": x, "target": target})


def test_levels_and_scaling_are_learned_from_the_train_split_only(tmp_path):
    from nettrain.config.loading import config_from_dict
    from nettrain.data.dataset import prepare_data

    frame = rare_levels_frame()
    frame.to_csv(tmp_path / "d.csv", index=False)
    config = config_from_dict({"dtype": "float64",
                               "data": {"path": str(tmp_path / "d.csv"), "target": "target",
                                        "scale_target": "standard",
                                        "split": {"train": 0.6, "val": 0.2, "test": 0.2}},
                               "model": {"layers": [{"type": "dense", "units": 1}]},
                               "loss": "mse"}, tmp_path)
    data = prepare_data(config)
    pre = data.preprocessor
    Xv, yv = data.splits["val"]
    # every raw target comes back exactly: the rows of each split are known in file terms
    raw = frame["target"].to_numpy()

    def file_rows(split):
        values = pre.inverse_target(data.splits[split][1])[:, 0]
        nearest = np.abs(values[:, None] - raw[None, :]).argmin(axis=1)
        np.testing.assert_allclose(raw[nearest], values, rtol=1e-12)
        return nearest

    rows = {s: file_rows(s) for s in ("train", "val", "test")}
    assert sorted(np.concatenate(list(rows.values()))) == list(range(len(frame)))
    train = frame.iloc[rows["train"]]
    # levels: exactly those seen in the train rows, in sorted order
    assert pre.levels["color"] == sorted(train["color"].unique())
    assert len(pre.levels["color"]) < frame["color"].nunique()  # some rare levels are val/test only
    # feature scaling: the train rows' mean and population std
    assert pre.center[0] == pytest.approx(train["x"].mean(), rel=1e-12)
    assert pre.spread[0] == pytest.approx(train["x"].std(ddof=0), rel=1e-12)
    # target scaling: the train rows' statistics, applied (not refitted) to val and test
    assert pre.target_center[0] == pytest.approx(train["target"].mean(), rel=1e-12)
    assert pre.target_spread[0] == pytest.approx(train["target"].std(ddof=0), rel=1e-12)
    val = frame.iloc[rows["val"]]["target"].to_numpy()
    np.testing.assert_allclose(yv[:, 0], (val - train["target"].mean()) / train["target"].std(ddof=0),
                               rtol=1e-5, atol=1e-6)
    assert abs(yv.mean()) > 1e-3 or abs(yv.std() - 1) > 1e-3  # not standardized on its own
    # a val row whose level the train split never saw encodes as all zeros
    one_hot = Xv[:, :len(pre.levels["color"])]
    unseen = ~frame.iloc[rows["val"]]["color"].isin(pre.levels["color"]).to_numpy()
    assert unseen.any() and (one_hot[unseen] == 0).all() and (one_hot[~unseen].sum(axis=1) == 1).all()


# ---------------------------------------------------------------- no pickle is ever run


class Boom:
    """Unpickling this creates a marker file: proof that a pickle ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickled_npz(path, marker, extra=()):
    """An npz whose arrays are fine except one object array that runs code when unpickled."""
    arrays = dict(extra)
    arrays["payload"] = np.array([Boom(marker)], dtype=object)
    np.savez(path, **arrays)  # np.save pickles object arrays (allow_pickle defaults to True)
    with np.load(path, allow_pickle=True) as npz:  # check the trap is armed
        npz["payload"]
    assert os.path.exists(marker)
    os.unlink(marker)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pickles")
    cfg = {"name": "p", "seed": 0, "output": str(tmp),
           "data": {"path": str(IRIS), "target": "species"},
           "model": {"layers": [{"type": "dense", "units": 3}]}, "training": {"epochs": 1}}
    return quiet_fit(cfg)


def copy_run(run, dest):
    import shutil

    shutil.copytree(run.path, dest)
    return dest


def test_a_pickle_in_model_npz_is_refused_without_running(small_run, tmp_path):
    run = copy_run(small_run, tmp_path / "run")
    with np.load(run / rundir.MODEL) as npz:
        arrays = {k: npz[k] for k in npz.files}
    marker = tmp_path / "ran"
    pickled_npz(run / rundir.MODEL, marker, arrays)
    for args in (["predict", str(run), str(IRIS)], ["evaluate", str(run)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and str(run / rundir.MODEL) in result.output
    with pytest.raises(NettrainError):
        nettrain.load(run)
    assert not marker.exists()


def test_a_pickle_in_checkpoint_npz_is_refused_without_running(small_run, tmp_path):
    run = copy_run(small_run, tmp_path / "run")
    arrays, meta = rundir.load_checkpoint(run / rundir.CHECKPOINT)
    marker = tmp_path / "ran"
    flat = rundir.flatten(arrays)
    flat["meta"] = np.array(__import__("json").dumps(meta))
    pickled_npz(run / rundir.CHECKPOINT, marker, flat)
    result = CliRunner().invoke(cli, ["fit", "--resume", str(run), "--set", "training.epochs=2"])
    assert result.exit_code == 2, result.output
    assert "corrupt or unreadable" in result.output and "Traceback" not in result.output
    assert not marker.exists()


def test_a_pickle_in_an_init_from_file_is_refused_without_running(small_run, tmp_path):
    with np.load(small_run.path / rundir.MODEL) as npz:
        arrays = {k: npz[k] for k in npz.files}
    marker = tmp_path / "ran"
    pickled_npz(tmp_path / "weights.npz", marker, arrays)
    cfg = small_run.path / rundir.CONFIG
    result = CliRunner().invoke(cli, ["fit", str(cfg), "--init-from", str(tmp_path / "weights.npz"),
                                      "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert "model.init_from" in result.output and "Traceback" not in result.output
    assert not marker.exists()


def test_a_pickle_in_an_npz_data_file_is_refused_without_running(small_run, tmp_path):
    marker = tmp_path / "ran"
    frame = pd.read_csv(IRIS)
    pickled_npz(tmp_path / "data.npz", marker, {"X": frame.iloc[:, :4].to_numpy()})
    result = CliRunner().invoke(cli, ["predict", str(small_run.path), str(tmp_path / "data.npz")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not marker.exists()


def test_a_python_tag_in_config_yaml_is_refused_without_running(small_run, tmp_path):
    run = copy_run(small_run, tmp_path / "run")
    marker = tmp_path / "ran"
    text = (run / rundir.CONFIG).read_text()
    clean = tmp_path / "clean.yaml"  # the run's config as it was: read first, then the run's copy
    clean.write_text(text)
    (run / rundir.CONFIG).write_text(text.replace("seed: 0", f"seed: !!python/object/apply:builtins.open "
                                                               f"['{marker}', 'w']"))
    for args in (["predict", str(run), str(IRIS)], ["fit", "--resume", str(run)],
                 ["fit", str(clean), "--resume", str(run)], ["fit", str(run / rundir.CONFIG)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
    assert not marker.exists()
    assert pickle.loads(pickle.dumps(1)) == 1  # the pickle module itself is fine here


# ---------------------------------------------------------------- maths details, against torch

@pytest.mark.parametrize("name, spec, reference", [
    ("relu", "relu", lambda x: torch.relu(x)),
    ("leaky_relu", {"name": "leaky_relu", "negative_slope": 0.2},
     lambda x: torch.nn.functional.leaky_relu(x, 0.2)),
    ("elu", {"name": "elu", "alpha": 0.5}, lambda x: torch.nn.functional.elu(x, 0.5)),
    ("gelu", "gelu", lambda x: torch.nn.functional.gelu(x, approximate="tanh")),
    ("sigmoid", "sigmoid", torch.sigmoid), ("tanh", "tanh", torch.tanh),
    ("softplus", "softplus", torch.nn.functional.softplus), ("silu", "silu", torch.nn.functional.silu),
    ("identity", "identity", lambda x: x)])
def test_activation_values_and_gradients_at_and_around_zero_are_torchs(name, spec, reference):
    from nettrain.nn.activations import get_activation

    x = np.array([-3.0, -1e-3, 0.0, 1e-3, 3.0, -0.0])
    grad_out = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    act = get_activation(spec)
    y = act.forward(x.copy())
    grad = act.backward(grad_out)
    xt = torch.tensor(x, requires_grad=True)
    yt = reference(xt)
    yt.backward(torch.tensor(grad_out))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shape", [(7, 5), (8, 3, 5), (8, 3, 5, 2), (16, 4)])
def test_fans_are_torchs(shape):
    from nettrain.nn.initializers import Initializer

    w = torch.empty(*((shape[1], shape[0]) if len(shape) == 2 else shape))  # Linear is (out, in)
    fan_in = torch.nn.init._calculate_correct_fan(w, "fan_in")
    fan_out = torch.nn.init._calculate_correct_fan(w, "fan_out")
    assert Initializer.fans(shape) == (fan_in, fan_out)


def test_fixed_scale_means_the_spread_ignores_the_width():
    from nettrain.nn.initializers import INITIALIZERS, get_initializer

    for name in INITIALIZERS:
        init = get_initializer(name)
        narrow = init((100, 50), np.random.default_rng(0), np.float64).std()
        wide = init((1600, 50), np.random.default_rng(0), np.float64).std()
        fixed = narrow == pytest.approx(wide, rel=0.05)
        assert init.fixed_scale == fixed, name
