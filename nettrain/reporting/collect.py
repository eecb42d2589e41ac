"""What a report shows about one run, read from its directory without trusting it.

Each piece (history, diagnostics, model summary, evaluation) is read on first use. When it
cannot be had, the accessor raises `Missing` with a sentence saying what is missing and why;
the page shows that sentence where the piece would have been.
"""

import warnings

from nettrain.errors import NettrainError
from nettrain.store import rundir
from nettrain.store.listing import RunRecord


class Missing(Exception):
    """A piece of a run that cannot be shown; the message says what and why."""


class Evaluation:
    """The run's model scored on one of its splits.

    Attributes:
        split, n: the split's name and size; task: classification or regression.
        report: `LoadedRun.report`'s dict (per class / per output scores, confusion matrix).
        y_true: class indices (classification) or targets in their units (n, n_targets).
        scores: class probabilities (n, n_classes), or predictions in the targets' units.
        labels: class labels (classification) or target names (regression).
    """

    def __init__(self, split, task, report, y_true, scores, labels):
        self.split, self.task, self.report = split, task, report
        self.y_true, self.scores, self.labels = y_true, scores, labels
        self.n = len(y_true)


class RunData:
    """One run directory for the report: its RunRecord plus lazily read pieces."""

    def __init__(self, path):
        self.record = RunRecord(path)
        self.path = self.record.path
        self._cache = {}

    def _once(self, key, read):
        if key not in self._cache:
            try:
                self._cache[key] = (read(), None)
            except Missing as err:
                self._cache[key] = (None, err)
        value, err = self._cache[key]
        if err is not None:
            raise err
        return value

    @property
    def name(self):
        return self.record.name

    @property
    def metrics(self):
        return self.record.metrics or {}

    @property
    def config(self):
        return self.record.config or {}

    def config_text(self):
        file = self.path / rundir.CONFIG
        try:
            return file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise Missing(f"{rundir.CONFIG} cannot be read ({err}).") from None

    # ------------------------------------------------------------ tables

    def history(self):
        return self._once("history", lambda: self._csv(rundir.HISTORY, "epoch"))

    def diagnostics(self):
        return self._once("diagnostics", lambda: self._csv(rundir.DIAGNOSTICS, "layer"))

    def _csv(self, name, needed):
        import pandas as pd

        file = self.path / name
        if not file.is_file():
            raise Missing(f"{name} is missing.")
        try:
            frame = pd.read_csv(file)
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise Missing(f"{name} cannot be read ({err}).") from None
        if "epoch" not in frame or needed not in frame:
            raise Missing(f"{name} has no '{needed}' column: it is not a file nettrain wrote.")
        frame = frame[pd.to_numeric(frame["epoch"], errors="coerce").notna()]
        if frame.empty:
            raise Missing(f"{name} has no rows yet: no epoch finished.")
        return frame.reset_index(drop=True)

    # ------------------------------------------------------------ the model

    def loaded(self):
        """The LoadedRun (weights, preprocessing), or Missing saying why it cannot load."""
        def read():
            from nettrain.inference.loading import load

            if self.record.state in ("unfinished", "running") and not (self.path / rundir.MODEL).is_file():
                raise Missing(f"No trained weights: {rundir.MODEL} is written when training "
                              "ends, and this run has not finished.")
            try:
                return load(self.path)
            except NettrainError as err:
                raise Missing(str(err)) from None
        return self._once("loaded", read)

    def loaded_problem(self):
        """Why the weights cannot be loaded ('' when they can)."""
        try:
            self.loaded()
        except Missing as err:
            return str(err)
        return ""

    def model(self):
        """The trained model, or the untrained one the config describes when the weights
        cannot be read (its shapes and parameter counts are the same)."""
        def read():
            try:
                return self.loaded().model, True
            except Missing as err:
                return self._model_from_config(err), False
        return self._once("model", read)

    def _model_from_config(self, why):
        from nettrain.build.model import OutputCountError, build_model
        from nettrain.config.loading import load_config
        from nettrain.data.kinds import load_data_kind

        try:
            config = load_config(self.path / rundir.CONFIG)
            text = (self.path / rundir.PREPROCESS).read_text(encoding="utf-8")
            pre = load_data_kind(text, config["data"], source=self.path / rundir.PREPROCESS)
            try:
                return build_model(config, pre, rng=0).model
            except OutputCountError as err:  # its shapes and parameter counts are still shown
                return err.model
        except (NettrainError, OSError, UnicodeDecodeError, KeyError, ValueError) as err:
            if str(err) in str(why):
                raise why from None
            raise Missing(f"{why} The model cannot be rebuilt from {rundir.CONFIG} and "
                          f"{rundir.PREPROCESS} either ({err}).") from None

    def summary(self):
        """(rows, total parameters, weights loaded): rows are (index, layer, output shape,
        parameters), taken from the model's own summary, an input row first."""
        from nettrain.nn.model import batch_shape

        model, trained = self.model()
        rows = [("", "input", batch_shape(model.input_shape), 0), *model.summary()]
        return rows, model.n_params(), trained

    # ------------------------------------------------------------ evaluation

    def evaluation(self):
        return self._once("evaluation", self._evaluate)

    def _evaluate(self):
        from nettrain.nn.metrics import as_class_columns

        loaded = self.loaded()
        split = loaded.default_split()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                X, y = loaded.split_arrays(split)
                report = loaded.report(X, y)
        except NettrainError as err:
            raise Missing(f"The {split} split cannot be scored: {err}") from None
        scores = loaded.link(loaded.outputs(X))
        if loaded.task == "classification":
            return Evaluation(split, loaded.task, report, y.ravel().astype(int),
                              as_class_columns(scores), [str(c) for c in loaded.classes.tolist()])
        inverse = loaded.preprocessor.inverse_target
        return Evaluation(split, loaded.task, report, inverse(y), inverse(scores),
                          loaded.target_names)

    def diagnostic_bounds(self):
        from nettrain.training.diagnostics import default_bounds

        spec = (self.config.get("training") or {}).get("diagnostics")
        return {**default_bounds(), **(spec if isinstance(spec, dict) else {})}
