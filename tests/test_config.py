"""Config loading: defaults and sources, every bad input with its place, --set, cross-field checks."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from nettrain.config.loading import apply_overrides, check_against_data, config_from_dict, load_config
from nettrain.errors import ConfigError

BASE = """\
data:
  path: iris.csv
  target: species
model:
  layers:
    - {type: dense, units: 8, activation: relu}
    - {type: dropout, rate: 0.1}
    - {type: dense, units: 3}
"""


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # so messages name files as the user would: cfg.yaml:3:5


def write(tmp_path, text, name="cfg.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return Path(os.path.relpath(path))


def error(tmp_path, text, overrides=()):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), overrides)
    return str(info.value)


# ---------------------------------------------------------------- defaults and sources


def test_every_default_filled_with_its_source(tmp_path):
    config = load_config(write(tmp_path, BASE + "training: {epochs: 5}\n"), ["optimizer.lr=0.01"])
    data = config.data
    assert data["name"] == "cfg" and data["seed"] == 0 and data["dtype"] == "float32"
    assert data["data"]["split"] == {"train": 0.7, "val": 0.15, "test": 0.15, "stratify": True}
    assert data["data"]["scale"] == "standard" and data["data"]["missing"] == "error"
    assert data["training"]["epochs"] == 5 and data["training"]["batch_size"] == 32
    assert data["training"]["clip_value"] is None and data["training"]["diagnostics"] is False
    assert data["optimizer"]["name"] == "adam" and data["optimizer"]["lr"] == 0.01
    assert data["loss"]["name"] == "cross_entropy"
    assert data["schedule"] is None and data["metrics"] == ["accuracy"]
    assert data["search"] == {"method": "grid", "trials": 20, "metric": "val_loss", "mode": "min",
                              "repeats": 1, "pruner": "none", "folds": None, "storage": None,
                              "space": {}}
    assert data["model"]["layers"][1] == {"type": "dropout", "rate": 0.1}
    sources = config.sources
    assert sources["training.epochs"] == "file"
    assert sources["training.batch_size"] == "default"
    assert sources["optimizer.lr"] == "--set"
    assert sources["optimizer.name"] == "default"
    assert sources["model.layers[0].units"] == "file"
    assert sources["model.layers[0].use_bias"] == "default"
    assert config.path.name == "cfg.yaml" and config.base_dir == tmp_path.resolve()


def test_resolved_config_resolves_to_itself(tmp_path):
    config = load_config(write(tmp_path, BASE + "training: {early_stopping: {monitor: val_accuracy}}\n"))
    again = config_from_dict(config.data, base_dir=tmp_path)
    assert again.data == config.data
    assert config.data["training"]["early_stopping"]["mode"] == "max"


def test_exponent_without_dot_reads_as_float(tmp_path):
    config = load_config(write(tmp_path, BASE + "optimizer: {name: adam, lr: 1e-3}\n"),
                         ["regularization.l2=5E-4"])
    assert config.data["optimizer"]["lr"] == 0.001
    assert config.data["regularization"]["l2"] == 0.0005


def test_quoted_number_is_a_string_with_a_hint(tmp_path):
    message = error(tmp_path, BASE + "training: {epochs: '10'}\n")
    assert "cfg.yaml:9:20: training.epochs: expected an integer >= 1, got '10'" in message
    assert "remove the quotes" in message


def test_to_yaml_makes_paths_absolute_and_refits_from_anywhere(tmp_path):
    config = load_config(write(tmp_path, BASE))
    dumped = yaml.safe_load(config.to_yaml())
    assert dumped["data"]["path"] == str(tmp_path.resolve() / "iris.csv")
    assert dumped["output"] == str(tmp_path.resolve() / "runs")
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    copy = load_config(write(elsewhere, config.to_yaml(), "config.yaml"))
    assert copy.data == dumped
    assert copy.resolve_path(copy.data["data"]["path"]) == config.resolve_path("iris.csv")


def test_config_from_dict_resolves_paths_against_base_dir(tmp_path):
    config = config_from_dict(yaml.safe_load(BASE), base_dir=tmp_path, overrides={"seed": 3})
    assert config.path is None and config.data["name"] == "run" and config.data["seed"] == 3
    assert config.resolve_path("iris.csv") == tmp_path.resolve() / "iris.csv"
    assert config.sources["seed"] == "--set"


def test_config_module_imports_neither_numpy_nor_pandas():
    code = "import sys, nettrain.config.loading; print('numpy' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ---------------------------------------------------------------- bad input, with its place


def test_unknown_top_level_key_suggests_and_points_at_the_key(tmp_path):
    message = error(tmp_path, BASE + "optimiser: {name: sgd}\n")
    assert "cfg.yaml:9:1: Unknown key 'optimiser' at the top level. Did you mean 'optimizer'?" in message


def test_unknown_nested_key_suggests(tmp_path):
    message = error(tmp_path, BASE + "training:\n  epoch: 5\n")
    assert "cfg.yaml:10:3: Unknown key 'epoch' at training. Did you mean 'epochs'?" in message


def test_unknown_layer_key_suggests(tmp_path):
    message = error(tmp_path, BASE.replace("units: 3", "unit: 3"))
    assert "cfg.yaml:8:21: Unknown key 'unit' at model.layers[2] (layer 'dense'). Did you mean 'units'?" in message


@pytest.mark.parametrize("line, expected", [
    ("training: {batch_size: 0}", "cfg.yaml:9:24: training.batch_size: expected an integer >= 1, got 0."),
    ("training: {shuffle: maybe}", "training.shuffle: expected true or false, got 'maybe'."),
    ("seed: -1", "cfg.yaml:9:7: seed: expected an integer >= 0, got -1."),
    ("dtype: float16", "dtype: expected one of float32, float64, got 'float16'. Did you mean 'float64'?"),
    ("regularization: {l2: -0.1}", "regularization.l2: expected a number >= 0, got -0.1."),
    ("training: {clip_norm: 0}", "training.clip_norm: expected a number > 0, or null, got 0."),
    ("metrics: accuracy", "metrics: expected a list of metric names such as [accuracy, f1], got 'accuracy'."),
    ("model: []", "model: expected a mapping with keys layers, init_from, got []."),
    ("training: {early_stopping: {patience: 2.5}}", "training.early_stopping.patience: expected an integer >= 0"),
])
def test_wrong_type_or_range_names_key_place_and_value(tmp_path, line, expected):
    assert expected in error(tmp_path, BASE + line + "\n")


def test_layer_values_are_checked_by_the_layers(tmp_path):
    text = BASE.replace("units: 8", "units: 0").replace("rate: 0.1", "rate: 1.0")
    message = error(tmp_path, text)
    assert "cfg.yaml:6:28: model.layers[0]: units must be an integer >= 1. Got 0." in message
    assert "cfg.yaml:7:29: model.layers[1]: rate must be a number in [0, 1). Got 1.0." in message


@pytest.mark.parametrize("lr", ["0", "-0.1"])
def test_learning_rate_must_be_positive(tmp_path, lr):
    message = error(tmp_path, BASE + f"optimizer: {{name: adam, lr: {lr}}}\n")
    assert "cfg.yaml:9:29: optimizer: lr must be" in message


@pytest.mark.parametrize("text, expected", [
    (BASE.replace("type: dropout", "type: dropuot"),
     "cfg.yaml:7:14: Unknown layer 'dropuot' at model.layers[1].type. Did you mean 'dropout'?"),
    (BASE.replace("activation: relu", "activation: rlu"),
     "cfg.yaml:6:43: Unknown activation 'rlu' at model.layers[0].activation. Did you mean 'relu'?"),
    (BASE + "optimizer: {name: adm}\n",
     "cfg.yaml:9:19: Unknown optimizer 'adm' at optimizer.name. Did you mean 'adam'?"),
    (BASE + "loss: crossentropy\n",
     "cfg.yaml:9:7: Unknown loss 'crossentropy' at loss.name. Did you mean 'cross_entropy'?"),
    (BASE + "metrics: [accuracy, acuracy]\n", "cfg.yaml:9:21: Unknown metric 'acuracy' at metrics[1]. Did you mean 'accuracy'?"),
    (BASE.replace("units: 3}", "units: 3, init: he_norml}"),
     "Unknown initializer 'he_norml' at model.layers[2].init. Did you mean 'he_normal'?"),
    (BASE + "schedule: {name: cosin}\n", "Unknown schedule 'cosin' at schedule.name. Did you mean 'cosine'?"),
])
def test_unknown_names_suggest_the_closest(tmp_path, text, expected):
    assert expected in error(tmp_path, text)


def test_yaml_syntax_error_shows_line_and_caret(tmp_path):
    message = error(tmp_path, BASE + "training:\n  epochs: 5\n   batch_size: 8\n")
    lines = message.splitlines()
    assert lines[0].startswith("cfg.yaml:11:") and "YAML syntax error" in lines[0]
    assert lines[1] == "       batch_size: 8"
    assert lines[2].strip() == "^" and lines[2].index("^") == 4 + int(lines[0].split(":")[2]) - 1


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n"])
def test_empty_file_is_a_clear_error(tmp_path, text):
    message = error(tmp_path, text)
    assert "cfg.yaml: the config file is empty" in message and "nettrain init" in message


def test_config_that_is_not_a_mapping(tmp_path):
    assert "a config must be a mapping of keys" in error(tmp_path, "- data\n- model\n")


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_missing_data_and_model(tmp_path):
    message = error(tmp_path, "seed: 1\n")
    assert "data: is required" in message and "model.layers: is required" in message


def test_duplicate_key_is_an_error(tmp_path):
    message = error(tmp_path, BASE + "seed: 1\nseed: 2\n")
    assert "cfg.yaml:10:1: seed: duplicate key 'seed' (first given on line 9)" in message


def test_every_problem_is_reported_at_once(tmp_path):
    text = BASE.replace("units: 8", "units: 0") + "optimiser: {}\ntraining: {batch_size: 0, epochs: x}\nloss: mse2\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert len(info.value.problems) == 5
    assert str(info.value).startswith("5 problems in the config:")
    lines = [int(p.split(":")[1]) for p in info.value.problems]
    assert lines == sorted(lines)


# ---------------------------------------------------------------- checks across keys


@pytest.mark.parametrize("split, expected", [
    ("{train: 0.7, val: 0.2, test: 0.2}", "the fractions must sum to 1, got 1.1 (train 0.7 + val 0.2 + test 0.2)"),
    ("{train: 0.8, val: 0.1}", "the fractions must sum to 1, got 0.9"),
    ("{train: 1.2, val: -0.2}", "data.split.val: expected a number in [0, 1], got -0.2"),
    ("{train: 0, val: 0.5, test: 0.5}", "data.split.train: the train split cannot be empty"),
])
def test_split_fractions(tmp_path, split, expected):
    assert expected in error(tmp_path, BASE.replace("  target: species\n", f"  target: species\n  split: {split}\n"))


def test_a_split_left_out_counts_as_zero(tmp_path):
    text = BASE.replace("  target: species\n", "  target: species\n  split: {train: 0.8, val: 0.2}\n")
    assert load_config(write(tmp_path, text)).data["data"]["split"]["test"] == 0.0


def test_early_stopping_on_val_needs_a_val_split(tmp_path):
    text = BASE.replace("  target: species\n", "  target: species\n  split: {train: 0.8, test: 0.2}\n")
    message = error(tmp_path, text + "training: {early_stopping: {monitor: val_loss}}\n")
    assert "training.early_stopping.monitor: 'val_loss' needs a validation split" in message
    config = load_config(write(tmp_path, text + "training: {early_stopping: {monitor: loss}}\n"))
    assert config.data["training"]["early_stopping"]["mode"] == "min"


def test_monitored_metric_must_be_listed(tmp_path):
    message = error(tmp_path, BASE + "training: {early_stopping: {monitor: val_f1}}\n")
    assert "'val_f1' is not logged. Add 'f1' to metrics to monitor it." in message


def test_early_stopping_true_means_the_defaults_and_mode_can_be_given(tmp_path):
    config = load_config(write(tmp_path, BASE + "training: {early_stopping: true}\n"))
    assert config.data["training"]["early_stopping"] == {
        "monitor": "val_loss", "mode": "min", "patience": 10, "min_delta": 0.0, "restore_best": True}
    config = load_config(write(tmp_path, BASE + "training: {early_stopping: {monitor: val_accuracy, mode: min}}\n"))
    assert config.data["training"]["early_stopping"]["mode"] == "min"


def test_search_space_paths_must_exist(tmp_path):
    text = BASE + "search:\n  space:\n    optimizer.lrr: [0.1]\n    model.layers.5.units: [4]\n    seed: [0, 1]\n"
    message = error(tmp_path, text)
    assert "cfg.yaml:11:20: search.space.optimizer.lrr: with optimizer.lrr=0.1: Unknown key 'lrr'" in message
    assert "Did you mean 'lr'?" in message
    assert "search.space.model.layers.5.units: with model.layers.5.units=4:" in message
    assert "model.layers is a list of 3 items" in message


def test_search_space_values_and_distributions_are_checked(tmp_path):
    message = error(tmp_path, BASE + "search:\n  space:\n    training.batch_size: [16, 0]\n"
                                     "    optimizer.lr: {log_uniform: [0.0001, 0.1]}\n")
    assert "with training.batch_size=0: training.batch_size: expected an integer >= 1, got 0." in message
    assert "search.space.optimizer.lr: is a distribution, which only search.method: random" in message
    config = load_config(write(tmp_path, BASE + "search:\n  method: random\n  space:\n"
                                                "    optimizer.lr: {log_uniform: [0.0001, 0.1]}\n"
                                                "    model.layers.0.units: [4, 16]\n"))
    assert config.data["search"]["space"]["model.layers.0.units"] == [4, 16]
    assert config.sources["search.space.optimizer.lr"] == "file"


@pytest.mark.parametrize("data, expected", [
    ("{path: a.csv, train: b.csv, target: y}", "give either data.path"),
    ("{val: b.csv, target: y}", "data.val is a file of its own and needs data.train"),
    ("{path: a.csv}", "data: needs data.target"),
    ("{path: a.xlsx, target: y}", "data.path: expected a .csv, .tsv, .parquet or .npz file (.csv.gz and .tsv.gz too), got 'a.xlsx'."),
    ("{path: a.csv, target: y, features: [x, y]}", "the target 'y' cannot be a feature too"),
    ("{train: a.csv, target: y, split: {train: 1.0}}", "data.split: applies to data.path only"),
    ("{path: a.csv, target: y, scale: standart}", "Did you mean 'standard'?"),
])
def test_data_section(tmp_path, data, expected):
    text = BASE.replace("data:\n  path: iris.csv\n  target: species\n", f"data: {data}\n")
    assert expected in error(tmp_path, text)


def test_train_files_and_npz(tmp_path):
    text = BASE.replace("  path: iris.csv\n  target: species\n", "  train: a.npz\n  val: b.npz\n")
    data = load_config(write(tmp_path, text)).data["data"]
    assert data["split"] is None and data["train"] == "a.npz" and data["target"] is None


# ---------------------------------------------------------------- --set


def test_set_creates_an_optional_section_and_indexes_lists(tmp_path):
    config = load_config(write(tmp_path, BASE), ["schedule.name=cosine", "schedule.T_max=20",
                                                 "model.layers.0.units=64", "data.features=[a, b]"])
    assert config.data["schedule"] == {"name": "cosine", "T_max": 20, "eta_min": 0.0, "warmup_epochs": 0}
    assert config.data["model"]["layers"][0]["units"] == 64
    assert config.data["data"]["features"] == ["a", "b"]
    assert config.sources["model.layers[0].units"] == "--set"
    assert config.sources["model.layers[0].activation"] == "file"


def test_set_a_parameter_under_a_name(tmp_path):
    config = load_config(write(tmp_path, BASE + "loss: huber\n"), ["loss.delta=2"])
    assert config.data["loss"] == {"name": "huber", "delta": 2.0}


@pytest.mark.parametrize("override, expected", [
    ("training.epoch=5", "--set training.epoch=5: Unknown key 'epoch' at training. Did you mean 'epochs'?"),
    ("model.layers.3.units=4", "--set model.layers.3.units=4: model.layers is a list of 3 items; use an index from 0 to 2"),
    ("seed.value=1", "--set seed.value=1: seed: expected an integer >= 0, got {value: 1}."),
    ("data.path.x=1", "--set data.path.x=1: data.path is 'iris.csv', not a mapping, so it has no key 'x'."),
    ("training.batch_size=0", "--set training.batch_size=0: training.batch_size: expected an integer >= 1, got 0."),
    ("optimizer.lr", "--set expects KEY=VALUE"),
    ("optimizer.lr=[0.1", "--set optimizer.lr=[0.1: the value is not valid YAML"),
    ("model..units=1", "is not a dotted key path"),
])
def test_bad_set(tmp_path, override, expected):
    assert expected in error(tmp_path, BASE, [override])


def test_apply_overrides_copies_and_accepts_pairs():
    raw = yaml.safe_load(BASE)
    out = apply_overrides(raw, [("model.layers.0.units", 16), "optimizer.lr=0.1", ("loss.name", "mse")])
    assert out["model"]["layers"][0]["units"] == 16 and out["optimizer"] == {"lr": 0.1}
    assert out["loss"] == {"name": "mse"}
    assert raw["model"]["layers"][0]["units"] == 8 and "optimizer" not in raw


# ---------------------------------------------------------------- against the data


def dataset(task, n_outputs, classes=None):
    return SimpleNamespace(task=task, n_outputs=n_outputs, classes=classes, n_features=4, splits={})


def test_matching_data_passes(tmp_path):
    config = load_config(write(tmp_path, BASE))
    check_against_data(config, dataset("classification", 3, ["a", "b", "c"]))


def test_output_units_must_match_the_classes(tmp_path):
    config = load_config(write(tmp_path, BASE.replace("units: 3", "units: 4")))
    with pytest.raises(ConfigError) as info:
        check_against_data(config, dataset("classification", 3, ["setosa", "versicolor", "virginica"]))
    assert str(info.value) == (
        "cfg.yaml:8:28: model.layers[2].units: the output layer needs 3 units (one per class: "
        "'setosa', 'versicolor', 'virginica'), got 4. Set units: 3, or units: auto.")


def test_binary_cross_entropy_needs_one_unit(tmp_path):
    config = load_config(write(tmp_path, BASE + "loss: binary_cross_entropy\n"))
    with pytest.raises(ConfigError, match=r"needs 1 units \(one logit for the positive class 'yes'\), got 3"):
        check_against_data(config, dataset("classification", 1, ["no", "yes"]))


def test_cross_entropy_needs_a_classification_target(tmp_path):
    config = load_config(write(tmp_path, BASE.replace("species", "progression")))
    with pytest.raises(ConfigError) as info:
        check_against_data(config, dataset("regression", 1))
    message = str(info.value)
    assert message.startswith("2 problems in the config:")
    assert "cross_entropy needs a classification target, but the target 'progression' is a regression" in message
    assert "cfg.yaml:7:3: metrics: 'accuracy' is a classification metric, but the task is regression" not in message
    assert "metrics[0]: 'accuracy' is a classification metric, but the task is regression" in message


def test_regression_units_count_the_targets(tmp_path):
    text = BASE.replace("target: species", "target: [a, b]") + "loss: mse\nmetrics: [r2]\n"
    config = load_config(write(tmp_path, text))
    with pytest.raises(ConfigError, match=r"needs 2 units \(one per target: 'a', 'b'\), got 3"):
        check_against_data(config, dataset("regression", 2))


def test_bad_set_paths_are_reported_with_the_other_problems(tmp_path):
    message = error(tmp_path, BASE + "seed: -1\n", ["model.layers.9.units=1", "training.epoch=1"])
    assert message.startswith("3 problems in the config:")
    assert "cfg.yaml:9:7: seed: expected an integer >= 0" in message
    assert "--set model.layers.9.units=1: model.layers is a list of 3 items" in message
    assert "--set training.epoch=1: Unknown key 'epoch' at training." in message


def test_yaml_tags_that_would_run_code_are_refused(tmp_path):
    message = error(tmp_path, BASE + "seed: !!python/object/apply:os.system ['true']\n")
    assert "cfg.yaml:9:7: YAML error: could not determine a constructor" in message
    assert "plain YAML only" in message


def test_positions_after_a_duplicate_key_are_those_of_the_kept_value(tmp_path):
    text = BASE + "training: {epochs: 1, batch_size: 0}\ntraining: {epochs: 0}\n"
    message = error(tmp_path, text)
    assert "cfg.yaml:10:1: training: duplicate key 'training' (first given on line 9)" in message
    assert "cfg.yaml:10:20: training.epochs: expected an integer >= 1, got 0." in message
    assert "batch_size" not in message
