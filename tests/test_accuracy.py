"""The shipped example configs learn: a reduced version of the README's accuracy table.

Fewer epochs and looser thresholds than the full table (see README, "Accuracy"), so the
suite stays fast; the figures are test-split scores of the saved weights.
"""

import io

import pytest
from conftest import ROOT
from rich.console import Console

import nettrain

CASES = [
    # config, epochs, metric, threshold (the full runs reach 0.95 / 0.96 / 1.0 / 0.97 / 0.47)
    ("iris", 30, "accuracy", 0.85),
    ("breast_cancer", 10, "accuracy", 0.90),
    ("penguins", 20, "accuracy", 0.90),
    ("digits", 5, "accuracy", 0.90),
    ("diabetes", 30, "r2", 0.25),
]


@pytest.mark.parametrize("name, epochs, metric, threshold", CASES)
def test_shipped_config_learns(tmp_path, name, epochs, metric, threshold):
    run = nettrain.fit(ROOT / "configs" / f"{name}.yaml", out=tmp_path, quiet=True,
                       console=Console(file=io.StringIO()), training={"epochs": epochs})
    assert run.metrics["test"][metric] >= threshold
    assert len(run.history) <= epochs
