"""Using a trained run: load its directory safely, predict, and evaluate on a split or a file.

Loading reads JSON, YAML (safe loader) and `numpy.load(..., allow_pickle=False)` only, so a
run directory can never make nettrain run code. The weights are checked against the
architecture in config.yaml before they are used.
"""

import contextlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from nettrain.data.dataset import SPLITS, prepare_data
from nettrain.data.kinds import load_data_kind
from nettrain.errors import ConfigError, DataError, NettrainError
from nettrain.inference.evaluation import EvaluationReport
from nettrain.nn.metrics import (
    as_class_columns,
    classification_report,
    positive_index,
    predicted_classes,
    regression_report,
)
from nettrain.registry import suggest
from nettrain.store import rundir

REQUIRED = (rundir.CONFIG, rundir.MODEL, rundir.PREPROCESS)
# what predict and evaluate read: a DataFrame, or a data file (or an image folder) by its path
DataSource = pd.DataFrame | str | os.PathLike
CHUNK = 8192  # rows per forward pass, to bound the memory of activations on big files


class DataWarning(UserWarning):
    """Data that was used, but not as given: unseen category levels, left-out rows."""


@contextlib.contextmanager
def captured_warnings():
    """Collect the DataWarning messages raised inside the block, once each, in order."""
    messages = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        yield messages
    for w in caught:
        text = str(w.message)
        if issubclass(w.category, DataWarning) and text not in messages:
            messages.append(text)


# ---------------------------------------------------------------- loading


def check_run_dir(path):
    """The run directory as a Path, after checking it holds every file inference needs."""
    path = Path(path)
    if not path.is_dir():
        what = "is a file, not a directory" if path.exists() else "does not exist"
        raise DataError(f"Run directory '{path}' {what}. Give the folder `nettrain fit` printed, "
                        "e.g. runs/iris-mlp/20240101-120000.")
    absent = [name for name in REQUIRED if not (path / name).is_file()]
    if absent:
        raise DataError(
            f"'{path}' is not a complete nettrain run directory: {', '.join(absent)} "
            f"{'is' if len(absent) == 1 else 'are'} missing (a run holds {', '.join(REQUIRED)}). "
            "Point to a run that finished writing, or refit."
        )
    return path


def read_model_arrays(file):
    """(architecture dict, {key: array}) from model.npz; any damage is a DataError."""
    from nettrain.nn.model import UnreadableModel, read_model_file

    try:
        return read_model_file(file)
    except UnreadableModel as err:
        if err.kind == "no_architecture":
            raise DataError(f"'{file}' has no 'architecture' entry: it is not a nettrain "
                            "model.npz. Refit the run to regenerate it.") from None
        if err.kind == "not_numeric":
            raise DataError(f"'{file}': array(s) {err.detail} are not numeric. The file was "
                            "changed after training; refit the run to regenerate it.") from None
        raise DataError(f"'{file}' is truncated or corrupt and cannot be read ({err.detail}). "
                        "Refit the run to regenerate it.") from None


def trained_model(config, preprocessor, file):
    """(model, loss): the run's Model, built from config.yaml and preprocess.json and filled
    with model.npz's checked weights, and its loss bound to the classes."""
    from nettrain.build.model import OutputCountError, build_model
    from nettrain.nn.model import architecture_input_shape, format_shape

    arch, arrays = read_model_arrays(file)
    try:
        model, loss = build_model(config, preprocessor, rng=0)
        wrong_outputs = None
    except OutputCountError as err:  # said after the checks against model.npz, which say more
        model, loss, wrong_outputs = err.model, None, err
    expected = model.architecture()
    try:
        saved_shape = architecture_input_shape(arch)
    except (KeyError, TypeError, ValueError):
        saved_shape = None
    if arch.get("layers") != expected["layers"] or saved_shape != model.input_shape:
        raise DataError(
            f"'{file}' describes a different network than the run's config.yaml and "
            f"preprocess.json (input shape {format_shape(model.input_shape)}, layers "
            f"{json.dumps(expected['layers'])}). The files come from different runs or were "
            "changed; refit the run."
        )
    try:
        model.load_state_dict(arrays, source=f"'{file}'")
    except ConfigError as err:
        raise DataError(" ".join(err.problems) + " The file is truncated or was changed; refit "
                        "the run.") from None
    if not all(np.isfinite(v).all() for v in arrays.values()):
        raise DataError(f"'{file}' holds NaN or infinite weights; refit the run.")
    if wrong_outputs is not None:
        raise DataError(f"'{file}' has {wrong_outputs.n_out} outputs but the run's task needs "
                        f"{wrong_outputs.needed}; the run's files do not belong together. Refit "
                        "the run.")
    return model, loss


def load(run_dir):
    """A `LoadedRun` from a run directory that `nettrain fit` wrote."""
    from nettrain.config.loading import load_config

    path = check_run_dir(run_dir)
    config = load_config(path / rundir.CONFIG)
    try:
        text = (path / rundir.PREPROCESS).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"'{path / rundir.PREPROCESS}' cannot be read: {err}.") from None
    preprocessor = load_data_kind(text, config["data"], source=path / rundir.PREPROCESS)
    model, loss = trained_model(config, preprocessor, path / rundir.MODEL)
    return LoadedRun(path, config, preprocessor, model, loss, text)


# ---------------------------------------------------------------- using a run


class LoadedRun:
    """A trained run ready to score data.

    Attributes:
        path: the run directory.
        config: its resolved Config (config.yaml).
        preprocessor: the fitted data kind (preprocess.json), a `nettrain.data.kinds.DataKind`.
        model: the Model with the run's weights (model.npz).
        task: "classification" or "regression".
        classes: the class labels in index order (classification), else None.
        target_names: the target column names.
    """

    def __init__(self, path, config, preprocessor, model, loss, preprocess_text=None):
        self.path, self.config = Path(path), config
        self.preprocessor, self.model, self.loss = preprocessor, model, loss
        self._preprocess_text = preprocess_text or preprocessor.to_json()
        # a binary model's decision: the positive class index and its probability threshold
        self.pos = positive_index(preprocessor.classes, config["data"]["pos_label"])
        self.threshold = config["threshold"]

    def _threshold(self, threshold):
        """The decision threshold to use: the run's, or `threshold` when given."""
        if threshold is None:
            return self.threshold
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
            raise DataError(f"--threshold must be a probability strictly between 0 and 1, got "
                            f"{threshold!r}.")
        if self.task != "classification" or len(self.classes) != 2:
            raise DataError(f"--threshold applies to binary classification, but '{self.path}' "
                            + ("is a regression run." if self.task != "classification" else
                               f"has {len(self.classes)} classes (it predicts the most probable)."))
        return float(threshold)

    @contextlib.contextmanager
    def _missing(self, missing):
        """Within the block, rows with missing features are handled as `missing` says
        (drop: left out, their prediction empty; mean: filled with the train means)."""
        saved = self.preprocessor.missing
        if missing is not None:
            if missing not in ("drop", "mean", "error"):
                raise DataError(f"--missing must be drop, mean or error, got {missing!r}.")
            self.preprocessor.missing = missing
        try:
            yield
        finally:
            self.preprocessor.missing = saved

    def __repr__(self):
        return f"LoadedRun('{self.path}')"

    @property
    def task(self):
        return self.preprocessor.task

    @property
    def classes(self):
        return self.preprocessor.classes

    @property
    def target_names(self):
        return list(self.preprocessor.targets)

    @property
    def splits(self):
        """The splits fit made, in order ("train", "val", "test"), from the config."""
        files = self.preprocessor.files(self.config)
        if "all" in files:  # one file (or folder) cut by data.split
            return [s for s in SPLITS if self.config["data"]["split"][s] > 0]
        return [s for s in SPLITS if s in files]

    def outputs(self, X):
        """The model's raw outputs for preprocessed inputs X, in evaluation mode."""
        chunks = [self.model.forward(X[i:i + CHUNK], training=False)
                  for i in range(0, max(len(X), 1), CHUNK)]
        return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]

    def _transform(self, frame, require_target):
        """(X, y, used rows) for a DataFrame, warning about what transform had to change."""
        if require_target:
            absent = [t for t in self.target_names if t not in frame.columns]
            if absent:
                raise DataError(
                    f"The data has no target column {', '.join(map(repr, absent))}, which "
                    "evaluate needs to score the predictions against. Add the labels, or use "
                    "`nettrain predict` for unlabelled data.")
        try:
            X, y, rows = self.preprocessor.transform(frame, require_target=require_target,
                                                     return_rows=True, use_target=require_target)
        except DataError as err:
            if require_target or not str(err).startswith("Missing or non-finite"):
                raise
            raise DataError(f"{str(err).split('. Fix the data')[0]}. Predict them anyway with "
                            "--missing drop (their prediction is left empty) or --missing mean "
                            "(filled with the train means).") from None
        for text in self.preprocessor.warnings:
            warnings.warn(text, DataWarning, stacklevel=3)
        return X, y, rows

    def _scores(self, X):
        """Probabilities ((n, 1) for a binary model) or predictions in target units."""
        out = self.link(self.outputs(X))
        if self.task == "classification":
            return out
        return self.preprocessor.inverse_target(out)

    def link(self, output):
        return self.loss.link(output)

    def read(self, frame, keep=()):
        """A DataFrame as given, or a data file (or, for some kinds, a folder) read as fit
        reads its data; the `keep` columns as the file has them."""
        if isinstance(frame, pd.DataFrame):
            return frame
        if isinstance(frame, (str, Path)):
            return self.preprocessor.read_to_score(frame, tuple(keep))
        raise DataError(f"Expected a pandas DataFrame or a data file path. Got {type(frame).__name__}.")

    def predict_proba(self, data, *, missing=None):
        """Class probabilities, an array with one row per input row and one column per class.

        Rows left out for missing values (data.missing or `missing`: drop) get NaN.
        """
        if self.task != "classification":
            raise DataError(f"predict_proba needs a classification run; '{self.path}' is a "
                            "regression run. Use predict.")
        frame = self.read(data)
        with self._missing(missing):
            X, _, rows = self._transform(frame, require_target=False)
        proba = np.full((len(frame), len(self.classes)), np.nan)
        proba[rows] = as_class_columns(self._scores(X))
        return proba

    def predict_array(self, data, *, threshold=None, missing=None):
        """Predictions in the original label form as an array, one per input row.

        Classification: labels (n,) as in the training data (strings stay strings); a binary
        model predicts its positive class where that probability >= `threshold` (default:
        the run's `threshold`). Regression: float (n, n_targets) in the targets' units
        (target scaling undone). A target column in the data is ignored. Rows left out for
        missing values (data.missing or `missing`: drop) get None / NaN.
        """
        threshold = self._threshold(threshold)
        frame = self.read(data)
        with self._missing(missing):
            X, _, rows = self._transform(frame, require_target=False)
        return self._fill(self._decode(self._scores(X), threshold), rows, len(frame))

    def _decode(self, scores, threshold):
        if self.task == "classification":  # as the metrics decide
            return self.preprocessor.decode(predicted_classes(scores, threshold, self.pos))
        return scores

    def _fill(self, values, rows, n):
        if len(rows) == n:
            return values
        if self.task == "classification":
            full = np.full(n, None, dtype=object)
        else:
            full = np.full((n, values.shape[1]), np.nan)
        full[rows] = values
        return full

    def predict(self, data, *, proba=False, keep=(), threshold=None, missing=None):
        """The table `nettrain predict` writes, as a DataFrame: the `keep` columns,
        `predicted_<target>` (as `predict_array` gives them), and `proba_<class>` with `proba`.

        One row per input row (per complete window for a series); `threshold` and `missing`
        are as in `predict_array`."""
        if proba and self.task != "classification":
            raise DataError(f"--proba gives class probabilities, but '{self.path}' is a regression "
                            "run: its predictions are numbers. Leave --proba out.")
        threshold = self._threshold(threshold)
        frame = self.read(data, (*keep, *self.preprocessor.columns_read_as_is()))
        absent = [c for c in keep if c not in frame.columns]
        if absent:
            names = [str(c) for c in frame.columns]
            raise DataError(f"--keep: column(s) {', '.join(map(repr, absent))} not found in the "
                            f"data.{suggest(absent[0], names)} The data has: {', '.join(names[:50])}.")
        with self._missing(missing):
            X, _, rows = self._transform(frame, require_target=False)
        scores = self._scores(X)
        out, rows = self.preprocessor.prediction_rows(frame, rows, tuple(keep))
        n = len(out)
        preds = self._fill(self._decode(scores, threshold), rows, n)
        if self.task == "classification":
            out[f"predicted_{self.target_names[0]}"] = preds
            if proba:
                scores = as_class_columns(scores)
                full = np.full((n, scores.shape[1]), np.nan, dtype=scores.dtype)
                full[rows] = scores
                for j, name in enumerate(self.preprocessor.class_names):
                    out[f"proba_{name}"] = full[:, j]
        else:
            for j, name in enumerate(self.target_names):
                out[f"predicted_{name}"] = preds[:, j]
        return out.reset_index(drop=True)

    def evaluate(self, data=None, *, split=None, threshold=None):
        """The full metrics report (an `EvaluationReport`, the dict `nettrain evaluate`
        prints), on labelled data or on one of fit's splits.

        Args:
            data: labelled data (a DataFrame or a file path) read through the saved
                preprocessing; it must hold the target column(s).
            split: "train", "val" or "test": rebuilt exactly as fit made it. Default (no
                data): test if the run has one, else val, else train.
            threshold: a binary model's decision threshold (default: the run's).
        """
        threshold = self._threshold(threshold)
        if data is not None and split is not None:
            raise DataError("Evaluate either a split (--split) or a file (--data), not both.")
        if data is not None:
            X, y, _ = self._transform(self.read(data), require_target=True)
            source = {"split": None, "data": str(data) if isinstance(data, (str, Path)) else None}
        else:
            split = split or self.default_split()
            X, y = self.split_arrays(split)
            source = {"split": split, "data": None}
        return EvaluationReport({"run": str(self.path), **source, "task": self.task,
                                 **self.report(X, y, threshold)})

    def default_split(self):
        have = self.splits
        return next(s for s in ("test", "val", "train") if s in have)

    def report(self, X, y, threshold=None):
        """Loss plus the classification or regression report for preprocessed X and y."""
        outputs = self.outputs(X)
        loss = float(self.loss.forward(outputs, y)) if len(X) else float("nan")
        scores = self.link(outputs)
        if self.task == "classification":
            rep = classification_report(y, scores, self.classes.tolist(), self.pos,
                                        self.threshold if threshold is None else threshold)
        else:
            inverse = self.preprocessor.inverse_target
            rep = regression_report(inverse(y), inverse(scores), self.target_names)
        return {"loss": loss, **rep}

    def split_arrays(self, split):
        """(X, y) of one of fit's splits, rebuilt from the data files with the run's seed."""
        if split not in SPLITS:
            raise DataError(f"Unknown split {split!r}.{suggest(split, SPLITS)} Choose one of: "
                            f"{', '.join(SPLITS)}.")
        if split not in self.splits:
            raise DataError(
                f"The run '{self.path}' has no {split} split (it has: {', '.join(self.splits)}; "
                f"data.split.{split} was 0 or left out when it was trained). Use "
                f"--split {self.splits[-1]}, or --data FILE with labelled data."
            )
        dataset = self._rebuild(split)
        if json.loads(dataset.preprocessor.to_json()) != json.loads(self._preprocess_text):
            # The data files changed since training: use the saved preprocessing, and say so.
            warnings.warn(f"The data files of '{self.path}' changed since it was trained, so "
                          f"the {split} split may differ from fit's.", DataWarning, stacklevel=2)
            dataset = self._rebuild(split, self.preprocessor)
        return dataset.splits[split]

    def _rebuild(self, split, preprocessor=None):
        """prepare_data on the run's config.yaml; its errors say where the data came from."""
        try:
            return prepare_data(self.config, preprocessor=preprocessor)
        except NettrainError as err:
            raise DataError(f"The {split} split of '{self.path}' cannot be rebuilt from the data "
                            f"its config.yaml names: {err} Evaluate a labelled file with --data "
                            "FILE instead.") from None
