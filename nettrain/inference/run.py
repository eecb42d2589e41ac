"""`Run`: a run directory and what `fit` wrote into it (history, metrics, config, model)."""

import json
from pathlib import Path

from nettrain.config.loading import load_config
from nettrain.store import rundir


class Run:
    """A run directory and what `fit` wrote into it.

    Attributes:
        path: the run directory.
        history: history.csv as a pandas DataFrame, one row per epoch.
        diagnostics: diagnostics.csv as a DataFrame (runs trained with diagnostics).
        metrics: metrics.json as a dict ({"train": {...}, "val": {...}, "test": {...}, ...}).
        config: the resolved Config the run was trained with (config.yaml).
    """

    def __init__(self, path, config=None):
        self.path = Path(path)
        self._config = config

    def __repr__(self):
        return f"Run('{self.path}')"

    def _table(self, name):
        """A CSV file of the run as a DataFrame; empty when the run has not written it."""
        import pandas as pd

        file = self.path / name
        return pd.read_csv(file) if file.exists() else pd.DataFrame()

    @property
    def history(self):
        return self._table(rundir.HISTORY)

    @property
    def metrics(self):
        file = self.path / rundir.METRICS_FILE
        return json.loads(file.read_text(encoding="utf-8")) if file.exists() else {}

    @property
    def diagnostics(self):
        """diagnostics.csv as a DataFrame (one row per epoch x layer); empty without diagnostics."""
        return self._table(rundir.DIAGNOSTICS)

    @property
    def config(self):
        if self._config is None:
            self._config = load_config(self.path / rundir.CONFIG)
        return self._config

    def load(self):
        """The trained model, ready to predict and evaluate (a `nettrain.inference.loading.LoadedRun`)."""
        from nettrain.inference.loading import load

        return load(self.path)

    def evaluate(self, data=None, split=None, threshold=None):
        """The metrics report on a labelled DataFrame / file, or on a split (default: test, else val)."""
        return self.load().evaluate(data, split, threshold)

    def predict(self, data, threshold=None, missing=None):
        """Predictions in the original label form, one per row of a DataFrame or data file."""
        return self.load().predict(data, threshold=threshold, missing=missing)
