"""Shared fixtures: tiny, seeded, fast."""

from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root():
    return ROOT


def make_config(base, path=None, seed=0, dtype="float32", loss="cross_entropy", **data):
    """A stand-in for nettrain.config.loading.Config: the resolved dict and resolve_path."""
    section = {"path": path, "train": None, "val": None, "test": None, "target": None,
               "features": None, "task": "auto",
               "split": {"train": 0.7, "val": 0.15, "test": 0.15, "stratify": True},
               "scale": "standard", "scale_target": "none", "categorical": "onehot",
               "missing": "error"}
    section.update(data)
    return SimpleNamespace(data={"seed": seed, "dtype": dtype, "loss": {"name": loss},
                                 "data": section},
                           resolve_path=lambda p: (Path(base) / p).resolve())


def assert_usage_error(result, *phrases):
    """A CliRunner result of a bad-input error: exit 2, "Error: " and each phrase on stderr."""
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in result.stderr
