"""The resolved config is read, never written: its dicts and lists refuse every change (a
TypeError saying what to do instead), a change is a new Config (`with_values`, or `--set`
overrides resolved again), and training leaves the Config it is given as it was."""

import copy
import io
import json
import pickle
from pathlib import Path

import pytest
from rich.console import Console

import nettrain
from nettrain.config.loading import config_from_dict, load_config
from nettrain.training.launch import as_config

ROOT = Path(__file__).resolve().parent.parent
IRIS = ROOT / "configs" / "iris.yaml"


def test_with_values_is_a_new_config_and_the_old_one_is_unchanged():
    config = load_config(IRIS)
    before = copy.deepcopy(config.data)
    changed = config.with_values({"output": "/elsewhere", "model.layers.0.units": 4})
    assert config.data == before
    assert changed["output"] == "/elsewhere" and changed["model"]["layers"][0]["units"] == 4
    assert changed.where(("optimizer", "lr")) == config.where(("optimizer", "lr"))  # places kept


def test_overrides_build_a_new_config():
    config = load_config(IRIS)
    before = copy.deepcopy(config.data)
    overridden = as_config(config, ["optimizer.lr=0.5"])
    assert overridden is not config and overridden["optimizer"]["lr"] == 0.5
    assert config.data == before


def test_fit_leaves_the_config_it_is_given_unchanged(tmp_path):
    config = load_config(IRIS, [f"output={tmp_path}/runs/..", "training.epochs=1", "training.early_stopping=null"])
    before = copy.deepcopy(config.data)
    run = nettrain.fit(config, quiet=True, console=Console(file=io.StringIO()))
    assert config.data == before
    assert run.config["output"] == str(tmp_path.resolve())  # config.yaml records where it went


def test_config_from_dict_leaves_the_mapping_it_is_given_unchanged():
    raw = {"data": {"path": str(ROOT / "datasets" / "iris.csv"), "target": "species"},
           "model": {"layers": [{"type": "dense", "units": 3}]}}
    before = copy.deepcopy(raw)
    config_from_dict(raw, overrides=["model.layers.0.units=4"])
    assert raw == before


WRITES = [  # what a consumer might try on a resolved config, each refused
    lambda c: c.data.__setitem__("seed", 1),
    lambda c: c.data["training"].__setitem__("epochs", 5),
    lambda c: c.data["data"]["split"].update(train=1.0),
    lambda c: c.data["model"]["layers"][0].pop("units"),
    lambda c: c.data["model"]["layers"].append({"type": "dense", "units": 2}),
    lambda c: c.data["metrics"].__setitem__(0, "f1"),
    lambda c: c.data["training"].setdefault("new", 1),
    lambda c: c.sources.__setitem__("seed", "file"),
]


@pytest.mark.parametrize("write", WRITES)
def test_writing_into_the_resolved_config_raises_a_clear_type_error(write):
    config = load_config(IRIS)
    before = copy.deepcopy(config.data)
    with pytest.raises(TypeError, match=r"^The resolved config is read-only: it cannot .+ Make a new "
                                        r"Config instead: config\.with_values"):
        write(config)
    assert config.data == before


def test_the_read_only_config_reads_copies_and_travels_as_plain_data():
    config = load_config(IRIS)
    layers = config["model"]["layers"]
    assert isinstance(config.data, dict) and isinstance(layers, list) and layers[0]["units"] == 16
    assert json.loads(json.dumps(config.data)) == config.data
    plain = copy.deepcopy(config.data)
    plain["model"]["layers"][0]["units"] = 4  # a copy is writable
    assert type(plain) is dict and type(plain["model"]["layers"]) is list
    assert config["model"]["layers"][0]["units"] == 16
    again = pickle.loads(pickle.dumps(config))  # as grid-search workers receive it
    assert again.data == config.data
    with pytest.raises(TypeError):
        again.data["seed"] = 3
    with pytest.raises(AttributeError):
        config.data = {}
