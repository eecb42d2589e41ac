"""Shared fixtures: tiny, seeded, fast."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root():
    return ROOT
