"""`nettrain validate`: the resolved config with sources, the model, steps per epoch; exit 2 on bad input."""

import pytest
import yaml
from click.testing import CliRunner

from nettrain.cli import cli
from nettrain.config.loading import load_config


def iris_config(root, body=""):
    return (f"data:\n  path: {root / 'datasets' / 'iris.csv'}\n  target: species\n"
            "model:\n  layers:\n    - {type: dense, units: 8, activation: relu}\n"
            "    - {type: dropout, rate: 0.1}\n    - {type: dense, units: 3}\n" + body)


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def invoke(text, *args):
        (tmp_path / "cfg.yaml").write_text(text)
        return CliRunner().invoke(cli, ["validate", "cfg.yaml", *args])
    return invoke


def test_valid_config_prints_sources_model_and_steps(run, root):
    result = run(iris_config(root, "training: {batch_size: 16}\n"), "--set", "optimizer.lr=0.01")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split("#")[0].strip() == "lr: 0.01" and line.endswith("# --set") for line in lines)
    assert any(line.split("#")[0].strip() == "batch_size: 16" and line.endswith("# file") for line in lines)
    assert any(line.split("#")[0].strip() == "epochs: 100" and line.endswith("# default") for line in lines)
    # The printed config is YAML that reads back as the resolved config.
    printed = "\n".join(lines[1:lines.index("")])
    assert yaml.safe_load(printed) == load_config("cfg.yaml", ["optimizer.lr=0.01"]).data
    assert "classification, 4 input features, 3 output unit(s)" in result.output
    assert "dense(8, relu)" in result.output and "(n, 8)" in result.output
    assert "67" in result.output.split("total")[1].splitlines()[0]  # 4*8+8 + 8*3+3
    assert "Steps per epoch: 7 (ceil(105 train rows / batch_size 16))" in result.output
    assert "OK: cfg.yaml is valid." in result.output


def test_every_layer_row_has_its_output_shape_and_parameters(run, root):
    result = run(iris_config(root).replace("{type: dropout, rate: 0.1}", "{type: batchnorm}"))
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "│ batchnorm" in line)
    assert "(n, 8)" in row and "16" in row  # gamma and beta


BAD = [
    ("unknown key", "training: {epoch: 5}\n", (),
     "cfg.yaml:9:12: Unknown key 'epoch' at training. Did you mean 'epochs'?"),
    ("wrong type", "training: {epochs: ten}\n", (),
     "cfg.yaml:9:20: training.epochs: expected an integer >= 1, got 'ten'."),
    ("lr <= 0", "optimizer: {name: adam, lr: -0.1}\n", (), "cfg.yaml:9:29: optimizer: lr must be a number > 0"),
    ("dropout >= 1", "", ("model.layers.1.rate=1",), "--set model.layers.1.rate=1: model.layers[1]: rate must be"),
    ("batch_size 0", "training: {batch_size: 0}\n", (), "training.batch_size: expected an integer >= 1, got 0."),
    ("fractions", "", ("data.split={train: 0.5, val: 0.2}",),
     "data.split: the fractions must sum to 1, got 0.7 (train 0.5 + val 0.2 + test 0)"),
    ("layer name", "", ("model.layers.1.type=dropot",), "Unknown layer 'dropot' at model.layers[1].type."),
    ("activation", "", ("model.layers.0.activation=relux",),
     "Unknown activation 'relux' at model.layers[0].activation. Did you mean 'relu'?"),
    ("optimizer", "optimizer: {name: adamm}\n", (), "Unknown optimizer 'adamm' at optimizer.name. Did you mean 'adam'"),
    ("loss", "loss: cross_entropi\n", (), "Unknown loss 'cross_entropi' at loss.name. Did you mean 'cross_entropy'"),
    ("metric", "metrics: [acuracy]\n", (), "Unknown metric 'acuracy' at metrics[0]. Did you mean 'accuracy'"),
    ("syntax", "training:\n  epochs: 5\n   shuffle: true\n", (), "YAML syntax error: mapping values are not allowed"),
    ("set path", "", ("training.batchsize=8",), "--set training.batchsize=8: Unknown key 'batchsize' at training."),
    ("set index", "", ("model.layers.7.units=8",), "model.layers is a list of 3 items"),
    ("units vs classes", "", ("model.layers.2.units=4",),
     "--set model.layers.2.units=4: model.layers[2].units: the output layer needs 3 units (one per class: "
     "'setosa', 'versicolor', 'virginica'), got 4. Set units: 3, or units: auto."),
    ("loss vs task", "loss: mse\nmetrics: [r2]\n", (), "mse is a regression loss, but the target 'species'"),
]


@pytest.mark.parametrize("case, body, overrides, expected", BAD, ids=[b[0] for b in BAD])
def test_bad_input_exits_2_with_a_clear_message(run, root, case, body, overrides, expected):
    args = [a for o in overrides for a in ("--set", o)]
    result = run(iris_config(root, body), *args)
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert result.output.startswith("Error: ") and "Traceback" not in result.output


def test_empty_file_exits_2(run):
    result = run("")
    assert result.exit_code == 2 and "cfg.yaml: the config file is empty" in result.output
    assert "Traceback" not in result.output


def test_all_problems_at_once(run, root):
    result = run(iris_config(root, "training: {epochs: 0, batch_size: 0}\nloss: mse2\n"))
    assert result.exit_code == 2
    assert result.output.startswith("Error: 3 problems in the config:")


def test_cross_entropy_on_a_regression_target(run, root):
    text = iris_config(root).replace("iris.csv", "diabetes.csv").replace("species", "progression")
    result = run(text.replace("units: 3", "units: 1"))
    assert result.exit_code == 2
    assert "cross_entropy needs a classification target, but the target 'progression' is a regression target" in result.output


def test_missing_config_file_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["validate", "nope.yaml"])
    assert result.exit_code == 2 and "does not exist" in result.output
