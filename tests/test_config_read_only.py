"""The resolved config is read, never written: a change is a new Config (`with_values`, or
`--set` overrides resolved again), and training leaves the Config it is given as it was."""

import copy
import io
from pathlib import Path

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
