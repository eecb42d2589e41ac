"""Metrics: the per-epoch training metrics (`METRICS`) and the full reports `evaluate` prints.

Conventions (those of scikit-learn, so numbers can be cross-checked with it):
- Classification targets are int64 class indices (n,); scores are probabilities, (n, n_classes),
  or (n, 1) for a binary model with one logit, whose predicted class is `p >= 0.5`.
- precision, recall and f1 are macro averages over *all* the model's classes (sklearn with
  `labels=range(n_classes)`), so a split missing a class still reports on the same classes.
- Zero division gives 0.0 (sklearn's `zero_division=0`): a class never predicted has precision
  0, a class never present has recall 0, and f1 is 0 when precision + recall is 0.
- log_loss clips probabilities to [eps, 1 - eps], eps the machine epsilon of their dtype.
- Regression targets are float (n, n_targets). mse, rmse, mae and r2 are computed per output
  and averaged uniformly over outputs (sklearn's `multioutput="uniform_average"`); an output
  with constant targets has r2 1.0 when predicted exactly, else 0.0 (sklearn's `force_finite`).
"""

from nettrain import registry
from nettrain.backend import xp
from nettrain.errors import ConfigError, DataError

CLASSIFICATION = "classification"
REGRESSION = "regression"


# ---------------------------------------------------------------- shared arithmetic


def _safe_divide(num, den):
    """num / den elementwise, 0.0 where den == 0 (sklearn's zero_division=0)."""
    num = xp.asarray(num, dtype=xp.float64)
    den = xp.asarray(den, dtype=xp.float64)
    return xp.divide(num, den, out=xp.zeros_like(num), where=den != 0)


def as_class_columns(proba):
    """(n, n_classes) probabilities; a binary model's single column p becomes [1 - p, p]."""
    proba = xp.asarray(proba)
    if proba.ndim == 1:
        proba = proba[:, None]
    if proba.shape[1] == 1:
        proba = xp.concatenate([1 - proba, proba], axis=1)
    return proba


def predicted_classes(proba):
    """Class indices from probabilities: argmax, or `p >= 0.5` for one binary column."""
    proba = xp.asarray(proba)
    if proba.ndim == 2 and proba.shape[1] == 1:
        return (proba[:, 0] >= 0.5).astype(xp.int64)
    return xp.argmax(proba, axis=1).astype(xp.int64)


def confusion_matrix(y_true, y_pred, n_classes):
    """(n_classes, n_classes) counts: rows are true classes, columns predicted ones."""
    y_true = xp.asarray(y_true, dtype=xp.int64).ravel()
    y_pred = xp.asarray(y_pred, dtype=xp.int64).ravel()
    if y_true.size and (y_true.min() < 0 or y_true.max() >= n_classes):
        raise DataError(
            f"Class indices must lie in [0, {n_classes}); got values from {int(y_true.min())} "
            f"to {int(y_true.max())}. The labels do not match the model's classes."
        )
    flat = xp.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def per_class_scores(cm):
    """Per-class precision, recall, f1 and support (float arrays) from a confusion matrix."""
    tp = xp.diag(cm).astype(xp.float64)
    predicted = cm.sum(axis=0)
    support = cm.sum(axis=1)
    precision = _safe_divide(tp, predicted)
    recall = _safe_divide(tp, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    return precision, recall, f1, support


def _log_loss(y_true, proba):
    proba = as_class_columns(proba)
    eps = xp.finfo(proba.dtype).eps if xp.issubdtype(proba.dtype, xp.floating) else 1e-15
    y_true = xp.asarray(y_true, dtype=xp.int64)
    p_true = xp.clip(proba[xp.arange(len(y_true)), y_true], eps, 1 - eps)
    return float(-xp.mean(xp.log(p_true)))


def _confusion(y_true, proba):
    n_classes = as_class_columns(proba).shape[1]
    return confusion_matrix(y_true, predicted_classes(proba), n_classes)


def _regression_errors(y_true, y_pred):
    """Per-output mse, mae and r2 as float64 arrays of shape (n_targets,)."""
    y_true = xp.asarray(y_true, dtype=xp.float64)
    y_pred = xp.asarray(y_pred, dtype=xp.float64)
    if y_true.ndim == 1:
        y_true = y_true[:, None]
    y_pred = y_pred.reshape(y_true.shape)
    residual = y_true - y_pred
    mse = xp.mean(residual**2, axis=0)
    mae = xp.mean(xp.abs(residual), axis=0)
    ss_res = xp.sum(residual**2, axis=0)
    ss_tot = xp.sum((y_true - y_true.mean(axis=0)) ** 2, axis=0)
    # A constant target has no variance to explain: sklearn's force_finite gives 1 or 0.
    r2 = xp.where(ss_tot != 0, 1 - _safe_divide(ss_res, ss_tot), xp.where(ss_res == 0, 1.0, 0.0))
    return mse, mae, r2


# ---------------------------------------------------------------- per-epoch metrics


class Metric:
    """A named score of `(y_true, scores) -> float`.

    `task` is the task it applies to; `mode` says whether larger ("max") or smaller ("min")
    is better, which early stopping and grid-search infer from. Classification metrics get
    probabilities; regression metrics get predictions.
    """

    task = CLASSIFICATION
    mode = "max"

    def __call__(self, y_true, scores):
        raise NotImplementedError


class Accuracy(Metric):
    """Share of samples whose predicted class is the true one."""

    def __call__(self, y_true, scores):
        y_pred = predicted_classes(scores)
        return float(xp.mean(y_pred == xp.asarray(y_true)))


class Precision(Metric):
    """Macro precision: mean over classes of TP / (TP + FP)."""

    def __call__(self, y_true, scores):
        return float(per_class_scores(_confusion(y_true, scores))[0].mean())


class Recall(Metric):
    """Macro recall: mean over classes of TP / (TP + FN)."""

    def __call__(self, y_true, scores):
        return float(per_class_scores(_confusion(y_true, scores))[1].mean())


class F1(Metric):
    """Macro F1: mean over classes of 2 P R / (P + R)."""

    def __call__(self, y_true, scores):
        return float(per_class_scores(_confusion(y_true, scores))[2].mean())


class LogLoss(Metric):
    """Mean negative log-probability of the true class (probabilities clipped as sklearn)."""

    mode = "min"

    def __call__(self, y_true, scores):
        return _log_loss(y_true, scores)


class MSE(Metric):
    """Mean squared error, averaged over outputs."""

    task, mode = REGRESSION, "min"

    def __call__(self, y_true, scores):
        return float(_regression_errors(y_true, scores)[0].mean())


class RMSE(Metric):
    """Root mean squared error per output, averaged over outputs (as sklearn)."""

    task, mode = REGRESSION, "min"

    def __call__(self, y_true, scores):
        return float(xp.sqrt(_regression_errors(y_true, scores)[0]).mean())


class MAE(Metric):
    """Mean absolute error, averaged over outputs."""

    task, mode = REGRESSION, "min"

    def __call__(self, y_true, scores):
        return float(_regression_errors(y_true, scores)[1].mean())


class R2(Metric):
    """Coefficient of determination 1 - SS_res / SS_tot per output, averaged over outputs."""

    task, mode = REGRESSION, "max"

    def __call__(self, y_true, scores):
        return float(_regression_errors(y_true, scores)[2].mean())


METRICS = {
    "accuracy": Accuracy,
    "precision": Precision,
    "recall": Recall,
    "f1": F1,
    "log_loss": LogLoss,
    "mse": MSE,
    "rmse": RMSE,
    "mae": MAE,
    "r2": R2,
}


def metric_mode(name, where=None):
    """'max' or 'min': the better direction of a metric, with or without a `val_` prefix.

    `loss` and `val_loss` are "min". An unknown name raises ConfigError with a suggestion.
    """
    base = name[4:] if isinstance(name, str) and name.startswith("val_") else name
    if base == "loss":
        return "min"
    return registry.lookup("metric", METRICS, base, where).mode


def metric_task(name, where=None):
    """The task ('classification' or 'regression') a metric applies to."""
    return registry.lookup("metric", METRICS, name, where).task


def check_metrics(names, task, where="metrics"):
    """ConfigError listing every name that is unknown or does not fit `task`."""
    problems = []
    for i, name in enumerate(names):
        place = f"{where}[{i}]"
        try:
            cls = registry.lookup("metric", METRICS, name, place)
        except ConfigError as err:
            problems += err.problems
            continue
        if cls.task != task:
            fitting = ", ".join(n for n, c in METRICS.items() if c.task == task)
            problems.append(
                f"Metric {name!r} at {place} is a {cls.task} metric but the task is {task}. "
                f"Use one of: {fitting}."
            )
    if problems:
        raise ConfigError(problems)


def compute_metrics(names, y_true, output, link, inverse_target=None):
    """Each named metric on one split, as {name: float}.

    Args:
        names: metric names from `METRICS`.
        y_true: int64 class indices (n,) or float targets (n, n_targets).
        output: the model's raw output (logits for classification).
        link: the loss's link function (softmax, sigmoid or identity).
        inverse_target: for regression, maps targets and predictions back to the original
            units (undoing target scaling) before scoring; None keeps them as given.
    """
    scores = link(output)
    if inverse_target is not None:
        y_true, scores = inverse_target(y_true), inverse_target(scores)
    return {name: registry.lookup("metric", METRICS, name)()(y_true, scores) for name in names}


# ---------------------------------------------------------------- full reports


def _plain(value):
    """A JSON-friendly Python scalar from a NumPy one (labels may be numpy ints or strs)."""
    return value.item() if hasattr(value, "item") else value


def _check_nonempty(n):
    if n == 0:
        raise DataError("There are no samples to evaluate: the split or file is empty.")


def classification_report(y_true, proba, class_names):
    """Every classification score `evaluate` reports, as a JSON-able dict.

    Args:
        y_true: int64 class indices (n,).
        proba: probabilities (n, n_classes), or (n, 1) for a binary model.
        class_names: the original labels, in class-index order.

    Returns keys: n_samples, accuracy, log_loss, per_class (list of {class, precision,
    recall, f1, support}), macro and weighted ({precision, recall, f1}) averages, and
    confusion_matrix ({labels, matrix}; rows true, columns predicted).
    """
    y_true = xp.asarray(y_true, dtype=xp.int64).ravel()
    _check_nonempty(len(y_true))
    names = [_plain(c) for c in class_names]
    cm = confusion_matrix(y_true, predicted_classes(proba), len(names))
    precision, recall, f1, support = per_class_scores(cm)
    weights = support / support.sum()
    scores = {"precision": precision, "recall": recall, "f1": f1}
    return {
        "n_samples": int(len(y_true)),
        "accuracy": float(xp.trace(cm) / cm.sum()),
        "log_loss": _log_loss(y_true, proba),
        "per_class": [
            {"class": name, "precision": float(precision[i]), "recall": float(recall[i]),
             "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(names)
        ],
        "macro": {k: float(v.mean()) for k, v in scores.items()},
        "weighted": {k: float((v * weights).sum()) for k, v in scores.items()},
        "confusion_matrix": {"labels": names, "matrix": cm.tolist()},
    }


def regression_report(y_true, y_pred, target_names):
    """Every regression score `evaluate` reports, as a JSON-able dict.

    Args:
        y_true, y_pred: float arrays (n, n_targets), in the targets' original units.
        target_names: one name per output column.

    Returns keys: n_samples, mse, rmse, mae, r2 (uniform averages over outputs) and
    per_output (list of {target, mse, rmse, mae, r2}).
    """
    _check_nonempty(len(y_true))
    mse, mae, r2 = _regression_errors(y_true, y_pred)
    rmse = xp.sqrt(mse)
    return {
        "n_samples": int(len(y_true)),
        "mse": float(mse.mean()),
        "rmse": float(rmse.mean()),
        "mae": float(mae.mean()),
        "r2": float(r2.mean()),
        "per_output": [
            {"target": _plain(name), "mse": float(mse[i]), "rmse": float(rmse[i]),
             "mae": float(mae[i]), "r2": float(r2[i])}
            for i, name in enumerate(target_names)
        ],
    }
