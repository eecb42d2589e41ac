"""`Run`: a run directory and what `fit` wrote into it (history, metrics, config, model)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nettrain.config.loading import Config, load_config
from nettrain.store import rundir

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from nettrain.inference.evaluation import EvaluationReport
    from nettrain.inference.loading import DataSource, LoadedRun


class Run:
    """A run directory and what `fit` wrote into it.

    Attributes:
        path: the run directory.
        history: history.csv as a pandas DataFrame, one row per epoch.
        diagnostics: diagnostics.csv as a DataFrame (runs trained with diagnostics).
        metrics: metrics.json as a dict ({"train": {...}, "val": {...}, "test": {...}, ...}).
        config: the resolved Config the run was trained with (config.yaml).
    """

    def __init__(self, path: str | os.PathLike, config: Config | None = None):
        self.path = Path(path)
        self._config = config

    def __repr__(self) -> str:
        return f"Run('{self.path}')"

    def _table(self, name):
        """A CSV file of the run as a DataFrame; empty when the run has not written it."""
        import pandas as pd

        file = self.path / name
        return pd.read_csv(file) if file.exists() else pd.DataFrame()

    @property
    def history(self) -> pd.DataFrame:
        """history.csv as a DataFrame, one row per epoch; empty before the first epoch ends."""
        return self._table(rundir.HISTORY)

    @property
    def metrics(self) -> dict:
        """metrics.json as a dict; empty until training has finished."""
        file = self.path / rundir.METRICS_FILE
        return json.loads(file.read_text(encoding="utf-8")) if file.exists() else {}

    @property
    def diagnostics(self) -> pd.DataFrame:
        """diagnostics.csv as a DataFrame (one row per epoch x layer); empty without diagnostics."""
        return self._table(rundir.DIAGNOSTICS)

    @property
    def config(self) -> Config:
        """The resolved Config the run was trained with (config.yaml)."""
        if self._config is None:
            self._config = load_config(self.path / rundir.CONFIG)
        return self._config

    def load(self) -> LoadedRun:
        """The trained model, ready to predict and evaluate (a `nettrain.inference.loading.LoadedRun`)."""
        from nettrain.inference.loading import load

        return load(self.path)

    def evaluate(self, data: DataSource | None = None, *, split: str | None = None,
                 threshold: float | None = None) -> EvaluationReport:
        """The metrics report on labelled data or on a split (see `LoadedRun.evaluate`)."""
        return self.load().evaluate(data, split=split, threshold=threshold)

    def predict(self, data: DataSource, *, proba: bool = False, keep: Sequence[str] = (),
                threshold: float | None = None, missing: str | None = None) -> pd.DataFrame:
        """The table `nettrain predict` writes, as a DataFrame (see `LoadedRun.predict`)."""
        return self.load().predict(data, proba=proba, keep=keep, threshold=threshold,
                                   missing=missing)

    def predict_array(self, data: DataSource, *, threshold: float | None = None,
                      missing: str | None = None) -> np.ndarray:
        """The predictions as an array, one per input row (see `LoadedRun.predict_array`)."""
        return self.load().predict_array(data, threshold=threshold, missing=missing)

    def predict_proba(self, data: DataSource, *, missing: str | None = None) -> np.ndarray:
        """Class probabilities, one row per input row (see `LoadedRun.predict_proba`)."""
        return self.load().predict_proba(data, missing=missing)
