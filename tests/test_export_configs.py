"""Every shipped config's run exports, passes onnx.checker and agrees with predict.

Each config trains for one epoch (agreement does not depend on accuracy); the comparison runs
on every row of its data file, the test split among them (or on its test file). The configs
of downloaded datasets (MNIST, Fashion-MNIST: tens of megabytes) are left to a manual check
(docs/export.md) so the suite stays fast.
"""

import io

import onnx
import pytest
import yaml
from onnx_check import assert_agrees
from rich.console import Console
from trained_runs import ROOT

import nettrain
from nettrain.export import to_onnx

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
SMALL = 5_000_000  # bytes of data files: the shipped datasets, not the downloaded ones


def data_files(path):
    data = yaml.safe_load(path.read_text())["data"]
    files = [data[k] for k in ("path", "train", "val", "test") if data.get(k)]
    return data, [(path.parent / f).resolve() for f in files]


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_shipped_config_exports_and_agrees(config, tmp_path):
    data, files = data_files(config)
    absent = [str(f) for f in files if not f.exists()]
    if absent:
        pytest.skip(f"data not downloaded: {', '.join(absent)}")
    if sum(f.stat().st_size for f in files) > SMALL:
        pytest.skip("a downloaded dataset: too big for the test suite")
    run = nettrain.fit(str(config), overrides=["training.epochs=1"], out=str(tmp_path),
                       quiet=True, console=Console(file=io.StringIO()))
    model = to_onnx(run)
    onnx.checker.check_model(model, full_check=True)
    # every row of the data file (the test split among them), or the config's test file
    assert_agrees(run, files[-1] if data.get("test") else files[0], model)
