"""Convolutional networks end to end: SGD steps agree with PyTorch in float64, `nettrain
gradcheck` on a conv config, bit-identical mid-epoch resume with random_flip/random_shift,
gradient-health diagnostics for conv layers, and shape errors as exit 2."""

import io

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console

import nettrain
from nettrain.cli import cli
from nettrain.errors import Interrupted
from nettrain.nn.losses import get_loss
from nettrain.nn.model import Model
from nettrain.nn.optimizers import get_optimizer
from nettrain.store import rundir
from nettrain.training.callbacks import Callback

torch = pytest.importorskip("torch")

LAYERS = [
    {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": 1, "activation": "relu"},
    {"type": "batchnorm"},
    {"type": "max_pool2d", "pool_size": 2},
    {"type": "conv2d", "filters": 6, "kernel_size": [2, 3], "stride": [1, 2], "activation": "relu"},
    {"type": "avg_pool2d", "pool_size": 2, "stride": 1},
    {"type": "flatten"},
    {"type": "dense", "units": 3},
]


def torch_twin(model):
    """The same network in torch, with the same starting weights."""
    c1, bn, c2, dense = (model.layers[i] for i in (0, 1, 3, 6))
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.BatchNorm2d(4),
        torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 6, (2, 3), stride=(1, 2)), torch.nn.ReLU(),
        torch.nn.AvgPool2d(2, stride=1, count_include_pad=True), torch.nn.Flatten(),
        torch.nn.Linear(dense.params["W"].shape[0], 3)).double()
    with torch.no_grad():
        for t, ours in ((net[0], c1), (net[4], c2)):
            t.weight.copy_(torch.tensor(ours.params["W"]))
            t.bias.copy_(torch.tensor(ours.params["b"]))
        net[2].weight.copy_(torch.tensor(bn.params["gamma"]))
        net[2].bias.copy_(torch.tensor(bn.params["beta"]))
        net[8].weight.copy_(torch.tensor(dense.params["W"].T))
        net[8].bias.copy_(torch.tensor(dense.params["b"]))
    return net, [(net[0], c1), (net[4], c2)], net[8], dense


def test_weights_after_sgd_steps_agree_with_torch_in_float64():
    rng = np.random.default_rng(0)
    model = Model(LAYERS, (2, 10, 12), dtype="float64", rng=1)
    net, convs, linear, dense = torch_twin(model)
    loss = get_loss("cross_entropy")
    sgd = get_optimizer({"name": "sgd", "lr": 0.1, "momentum": 0.9})
    reference = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for _ in range(4):
        x, y = rng.normal(size=(10, 2, 10, 12)), rng.integers(0, 3, 10)
        loss.forward(model.forward(x, training=True), y)
        model.backward(loss.backward())
        sgd.step(model.named_params())
        reference.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.tensor(x)), torch.tensor(y)).backward()
        reference.step()
    for t, ours in convs:
        np.testing.assert_allclose(ours.params["W"], t.weight.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ours.params["b"], t.bias.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dense.params["W"], linear.weight.detach().numpy().T, rtol=1e-10, atol=1e-12)
    bn = model.layers[1]
    np.testing.assert_allclose(bn.buffers["running_var"], net[2].running_var.numpy(), rtol=1e-10)
    net.eval()
    x = rng.normal(size=(5, 2, 10, 12))
    np.testing.assert_allclose(model.forward(x), net(torch.tensor(x)).detach().numpy(), rtol=1e-9, atol=1e-12)


def image_npz(tmp_path, n=48, seed=0):
    """Two classes of 1x8x8 images: a bright bar on the left or on the right, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.random((n, 1, 8, 8)).astype(np.float32) * 0.3
    X[y == 0, 0, :, 1:3] += 0.7
    X[y == 1, 0, :, 5:7] += 0.7
    np.savez(tmp_path / "bars.npz", X=X, y=y)
    return tmp_path / "bars.npz"


CONFIG = """
seed: 2
dtype: DTYPE
data: {path: bars.npz, split: {train: 0.75, val: 0.25}}
model:
  layers:
    - {type: random_flip, mode: both}
    - {type: random_shift, max_pixels: 1}
    - {type: conv2d, filters: 3, kernel_size: 3, padding: same, activation: relu}
    - {type: batchnorm}
    - {type: max_pool2d}
    - {type: conv2d, filters: 4, kernel_size: 2, stride: 2, activation: tanh}
    - {type: global_avg_pool2d}
    - {type: dense, units: 2}
optimizer: {name: adam, lr: 0.01}
training: {epochs: 4, batch_size: 8}
"""


@pytest.fixture
def conv_config(tmp_path):
    image_npz(tmp_path)

    def write(dtype="float32", **replace):
        text = CONFIG.replace("DTYPE", dtype)
        for old, new in replace.items():
            text = text.replace(old, new)
        path = tmp_path / "conv.yaml"
        path.write_text(text)
        return path
    return write


def test_gradcheck_command_passes_on_a_conv_config(conv_config):
    result = CliRunner().invoke(cli, ["gradcheck", str(conv_config()), "--rows", "6"])
    assert result.exit_code == 0, result.output
    for key in ("layers.2", "layers.3", "layers.5", "layers.7"):
        assert key in result.output
    assert "OK: every gradient matches" in result.output


class PressCtrlC(Callback):
    def __init__(self, epoch, batch):
        self.at, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, trainer, epoch):
        self.epoch = epoch

    def on_batch_end(self, trainer, batch):
        if (self.epoch, batch) == self.at:
            trainer.request_stop("interrupted", "interrupted by SIGINT")


def fit(path, tmp_path, **kwargs):
    return nettrain.fit(str(path), console=Console(file=io.StringIO()),
                        overrides=[f"output={tmp_path / 'runs'}"], **kwargs)


def test_interrupted_mid_epoch_with_random_layers_resumes_bit_identically(conv_config, tmp_path):
    path = conv_config()
    whole = fit(path, tmp_path)
    with pytest.raises(Interrupted) as info:
        fit(path, tmp_path, callbacks=[PressCtrlC(epoch=3, batch=1)])
    resumed = nettrain.fit(info.value.run.path / rundir.CONFIG, resume=info.value.run.path,
                           console=Console(file=io.StringIO()))
    assert resumed.history.drop(columns="seconds").equals(whole.history.drop(columns="seconds"))
    with np.load(whole.path / rundir.MODEL) as a, np.load(resumed.path / rundir.MODEL) as b:
        assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)


def test_diagnose_reports_conv_layers_and_dead_filters(conv_config, tmp_path):
    run = fit(conv_config(), tmp_path, diagnose=True)
    rows = [r for r in rundir.read_history(run.path / "diagnostics.csv")[1]]
    header = rundir.read_history(run.path / "diagnostics.csv")[0]
    table = [dict(zip(header, r)) for r in rows]
    conv = [r for r in table if r["layer"] == "2"]
    assert len(conv) == 4  # one row per epoch
    assert all(float(r["grad_norm"]) > 0 and float(r["update_ratio"]) > 0 for r in conv)
    assert all(0 <= float(r["dead_fraction"]) <= 1 for r in conv)  # per filter
    assert all(r["saturated_fraction"] != "" for r in table if r["layer"] == "5")  # tanh


def test_all_dead_filters_are_counted(conv_config, tmp_path):
    from nettrain.training.diagnostics import Diagnostics

    model = Model([{"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu"}],
                  (1, 5, 5), rng=0)
    model.layers[0].params["b"][...] = [-100, -100, -100, 1]  # three filters never fire
    diagnostics = Diagnostics()

    class Trainer:
        pass
    trainer = Trainer()
    trainer.model, trainer.epoch, trainer.n_batches = model, 0, 1
    diagnostics.on_train_begin(trainer)
    diagnostics.on_epoch_begin(trainer, 1)
    model.forward(np.random.default_rng(0).random((6, 1, 5, 5)), training=True)
    model.backward(np.ones((6, 4, 3, 3), np.float32))
    diagnostics.on_after_backward(trainer, 0)
    diagnostics.on_epoch_end(trainer, {"epoch": 1})
    assert diagnostics.rows[0]["dead_fraction"] == 0.75


@pytest.mark.parametrize("replace,message", [
    ({"    - {type: global_avg_pool2d}\n": ""}, "model.layers[6] (dense) gets (4, 2, 2): add {type: "
                                               "flatten} before it"),
    ({"kernel_size: 2, stride: 2": "kernel_size: 9"}, "model.layers[5] (conv2d) gets (3, 4, 4): its "
                                                      "kernel_size 9 is larger than the (padded) input 4"),
    ({"padding: same": "padding: same, stride: 2"}, "padding 'same' needs stride 1"),
])
def test_shape_errors_exit_2_naming_the_layer_and_the_fix(conv_config, replace, message):
    result = CliRunner().invoke(cli, ["fit", str(conv_config(**replace)), "--quiet"])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_flat_rows_into_conv2d_ask_for_data_shape(tmp_path, conv_config):
    np.savez(tmp_path / "flat.npz", X=np.random.default_rng(0).random((20, 64)), y=np.arange(20) % 2)
    result = CliRunner().invoke(cli, ["fit", str(conv_config(**{"bars.npz": "flat.npz"})), "--quiet"])
    assert result.exit_code == 2
    assert "reshape the data with data.shape: [C, H, W]" in " ".join(result.output.split())
    ok = CliRunner().invoke(cli, ["validate", str(conv_config(**{
        "bars.npz": "flat.npz", "split: {": "shape: [1, 8, 8], split: {"}))])
    assert ok.exit_code == 0, ok.output
