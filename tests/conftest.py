"""Shared fixtures: tiny, seeded, fast."""

from pathlib import Path

import pytest

from nettrain.config.loading import Config
from nettrain.config.locations import Places
from nettrain.config.schema import resolve
from nettrain.search import executors

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root():
    return ROOT


def make_config(base, path=None, seed=0, dtype="float32", loss="cross_entropy", **data):
    """A Config of the data keys given, every other key at the schema's default, relative paths
    under `base`. Unlike `config_from_dict` it keeps a config the schema would refuse (no
    data.target, say), so that the data layer's own checks can be tested."""
    raw = {"seed": seed, "dtype": dtype, "loss": loss, "data": {"path": path, **data},
           "model": {"layers": [{"type": "dense", "units": 1}]}}
    resolved, sources, _ = resolve(raw, Places())
    return Config(resolved, sources, None, Path(base).resolve(), Places())


def assert_usage_error(result, *phrases):
    """A CliRunner result of a bad-input error: exit 2, "Error: " and each phrase on stderr."""
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in result.stderr


@pytest.fixture
def count_runs(monkeypatch):
    """Count the units trained in this process (workers=1 calls executors.run_unit)."""
    calls = []
    real = executors.run_unit

    def counting(unit, dataset, ship=False):
        calls.append(unit)
        return real(unit, dataset, ship)

    monkeypatch.setattr(executors, "run_unit", counting)
    return calls
