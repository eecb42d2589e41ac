"""A new layer type is one class in one file plus one registration: this file defines a toy
layer, registers it with one decorator line, and then trains it, checks its gradients, saves
and loads it through the ordinary commands, with no other module told its name."""

import io

import numpy as np
import pytest
from rich.console import Console

import nettrain
from nettrain.backend import xp
from nettrain.config.loading import config_from_dict
from nettrain.errors import ShapeError
from nettrain.nn.layers.base import LAYERS, Layer, register_layer
from nettrain.training.config_gradients import check_config_gradients

IRIS = str(__import__("pathlib").Path(__file__).resolve().parent.parent / "datasets" / "iris.csv")


@register_layer("toy_scale")
class ToyScale(Layer):
    """y = x * a + c, one learned scale a and shift c per feature (a starts at `start`)."""

    weight_keys = ("a",)

    def __init__(self, start=1.0):
        super().__init__()
        if not isinstance(start, (int, float)) or isinstance(start, bool):
            raise ValueError(f"start must be a number. Got {start!r}.")
        self.start = float(start)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        if len(self.input_shape) != 1:
            raise ShapeError("add {type: flatten} before it")
        n = self.input_shape[0]
        self.params = {"a": xp.full(n, self.start, self.dtype), "c": xp.zeros(n, self.dtype)}
        self.grads = {k: xp.zeros(n, self.dtype) for k in self.params}
        return self.output_shape

    def forward(self, x, training=False):
        self.x = x
        return x * self.params["a"] + self.params["c"]

    def backward(self, grad_out, input_grad=True):
        xp.sum(grad_out * self.x, axis=0, out=self.grads["a"])
        xp.sum(grad_out, axis=0, out=self.grads["c"])
        return grad_out * self.params["a"] if input_grad else None

    def _args(self):
        return {"start": self.start}


@pytest.fixture(autouse=True)
def registered():
    LAYERS["toy_scale"] = ToyScale  # restored for every test, removed after the file
    yield
    LAYERS.pop("toy_scale", None)


def config(tmp_path, **model):
    return {
        "name": "toy", "seed": 0,
        "data": {"path": IRIS, "target": "species", "scale": "standard"},
        "model": {"layers": [{"type": "toy_scale", "start": 0.5},
                             {"type": "dense", "units": 8, "activation": "tanh"},
                             {"type": "dense", "units": 3}], **model},
        "optimizer": {"name": "adam", "lr": 0.05},
        "training": {"epochs": 15, "batch_size": 16},
        "regularization": {"l2": 0.01},
        "metrics": ["accuracy"],
        "output": str(tmp_path / "runs"),
    }


def test_the_registration_is_the_only_link():
    assert register_layer("toy_scale")(ToyScale) is ToyScale and LAYERS["toy_scale"] is ToyScale
    with pytest.raises(ValueError, match="registered twice"):
        register_layer("dense")(ToyScale)


def test_the_toy_layer_trains_saves_and_loads(tmp_path):
    run = nettrain.fit(config(tmp_path), quiet=True, console=Console(file=io.StringIO()))
    assert run.metrics["val"]["accuracy"] >= 0.8, run.metrics
    model = nettrain.load(run.path).model
    toy = model.layers[0]
    assert isinstance(toy, ToyScale) and toy.start == 0.5
    assert not np.allclose(toy.params["a"], 0.5)  # it learned
    assert model.architecture()["layers"][0] == {"type": "toy_scale", "start": 0.5}
    predictions = nettrain.load(run.path).predict_array(IRIS)
    assert len(predictions) == 150
    # the saved weights reproduce the trained model's test metrics
    report = nettrain.load(run.path).evaluate(split="test")
    assert report["accuracy"] == pytest.approx(run.metrics["test"]["accuracy"])


def test_the_toy_layer_gradchecks(tmp_path):
    rows, sizes, used = check_config_gradients(config_from_dict(config(tmp_path)), n_rows=8)
    toy_rows = [row for row in rows if row[0] == "layers.0"]
    assert [row[1] for row in toy_rows] == ["a", "c"]
    assert max(rel for *_, rel in rows) < 1e-6, rows


def test_a_shape_it_cannot_take_is_a_config_error(tmp_path):
    from nettrain.errors import ConfigError
    from nettrain.nn.model import Model

    with pytest.raises(ConfigError, match=r"model.layers\[0\] \(toy_scale\) gets \(1, 2, 2\): add "
                                          r"\{type: flatten\} before it"):
        Model([{"type": "toy_scale"}], (1, 2, 2))
