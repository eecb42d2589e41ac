"""The one model builder: auto units, the output-count check, the bound loss, init_from, and
that nothing else in the package builds a Model from a config."""

import ast
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from nettrain.build.model import OutputCountError, build_model
from nettrain.config.loading import config_from_dict
from nettrain.errors import ConfigError
from nettrain.nn.model import Model, save_model

PACKAGE = Path(__file__).resolve().parent.parent / "nettrain"
HIDDEN = {"type": "dense", "units": 4, "activation": "tanh"}


def config_with(output_units, loss="cross_entropy", **extra):
    return config_from_dict({"data": {"path": "table.csv", "target": "y"},
                             "model": {"layers": [HIDDEN, {"type": "dense", "units": output_units}],
                                       **extra.pop("model", {})},
                             "loss": loss, **extra})


def three_classes(**changes):
    """A fitted data description: 5 features, classes a/b/c with 2, 1 and 1 train rows."""
    return SimpleNamespace(**{"task": "classification", "targets": ["y"],
                              "classes": np.array(["a", "b", "c"]), "class_counts": [2, 1, 1],
                              "data_facts": {}, "input_shape": (5,), **changes})


def test_auto_units_become_one_output_per_class_and_the_loss_is_balanced_by_the_train_counts():
    model, loss = build_model(config_with("auto", {"name": "cross_entropy", "class_weights": "balanced"}),
                              three_classes(), rng=0)
    assert model.n_out == 3 and model.input_shape == (5,) and model.dtype == np.float32
    assert loss.weight_list == pytest.approx([4 / (3 * 2), 4 / 3, 4 / 3])  # n / (k * n_c)


def test_auto_units_follow_the_loss_and_the_targets():
    binary = three_classes(classes=np.array(["no", "yes"]), class_counts=[3, 1])
    assert build_model(config_with("auto", "binary_cross_entropy"), binary, rng=0).model.n_out == 1
    two_targets = three_classes(task="regression", targets=["a", "b"], classes=None, class_counts=None)
    assert build_model(config_with("auto", "mse"), two_targets, rng=0).model.n_out == 2


def test_an_output_count_the_target_does_not_need_is_a_config_error_saying_the_fix():
    config = config_with(2)
    with pytest.raises(OutputCountError) as caught:
        build_model(config, three_classes(), rng=0)
    assert isinstance(caught.value, ConfigError)
    assert str(caught.value) == ("model.layers[1]: the model has 2 outputs, but the classification "
                                 "target with loss cross_entropy needs 3. Set the last dense layer's "
                                 "units to 3.")
    assert (caught.value.n_out, caught.value.needed, caught.value.model.n_out) == (2, 3, 2)


def test_the_weights_are_drawn_from_the_given_generator_in_the_given_dtype():
    rng = np.random.default_rng(7)
    model, _ = build_model(config_with("auto"), three_classes(), rng=rng, dtype="float64")
    reference_rng = np.random.default_rng(7)
    reference = Model([HIDDEN, {"type": "dense", "units": 3}], (5,), "float64", rng=reference_rng)
    assert model.dtype == np.float64
    for (key, ours), (_, theirs) in zip(model.state_dict().items(), reference.state_dict().items()):
        np.testing.assert_array_equal(ours, theirs, err_msg=key)
    # the caller's Generator moved on exactly as the Model's own draws moved it
    assert rng.random() == reference_rng.random()


def test_init_from_is_loaded_only_when_asked(tmp_path):
    source, _ = build_model(config_with("auto"), three_classes(), rng=1)
    save_model(source, tmp_path / "model.npz")
    config = config_with("auto", model={"init_from": str(tmp_path)})
    loaded, _ = build_model(config, three_classes(), rng=0, load_init=True)
    fresh, _ = build_model(config, three_classes(), rng=0)
    np.testing.assert_array_equal(loaded.layers[0].params["W"], source.layers[0].params["W"])
    assert not np.array_equal(fresh.layers[0].params["W"], source.layers[0].params["W"])


def test_an_init_from_without_a_model_file_is_a_config_error(tmp_path):
    config = config_with("auto", model={"init_from": str(tmp_path)})
    with pytest.raises(ConfigError, match=re.escape(f"model.init_from ({tmp_path / 'model.npz'}): no such file")):
        build_model(config, three_classes(), rng=0, load_init=True)


def model_calls(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name) and node.func.id == "Model"]


def test_only_the_builder_and_nn_construct_a_model():
    allowed = (PACKAGE / "build", PACKAGE / "nn")
    elsewhere = [f"{path.relative_to(PACKAGE.parent)}:{line}"
                 for path in sorted(PACKAGE.rglob("*.py")) if not path.is_relative_to(allowed[0])
                 and not path.is_relative_to(allowed[1]) for line in model_calls(path)]
    assert not elsewhere, "build the model with nettrain.build.model.build_model:\n" + "\n".join(elsewhere)
    assert model_calls(PACKAGE / "build" / "model.py")  # the test looks at the right name
