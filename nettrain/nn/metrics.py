"""Metrics: the per-epoch training metrics (`METRICS`) and the full reports `evaluate` prints.

Every score follows scikit-learn's definition, so numbers can be cross-checked with it
(tests/test_scores.py compares each one on the same predictions):
- Classification targets are int64 class indices (n,); scores are probabilities, (n, n_classes),
  or (n, 1) for a binary model with one logit.
- A binary model (two classes) predicts its positive class `pos` (a class index; by default
  1, the second label in sorted order) when that class's probability is >= `threshold`
  (default 0.5); more classes predict the most probable one.
- Binary precision, recall and f1 are those of the positive class (sklearn's
  `average="binary", pos_label=...`); with more classes they are macro averages over the
  labels present in y_true or y_pred (sklearn's `average="macro"`).
- Zero division gives 0.0 (sklearn's `zero_division=0`).
- balanced_accuracy: mean recall over the classes present in y_true. log_loss clips
  probabilities to [eps, 1 - eps], eps the machine epsilon of their dtype.
- roc_auc and pr_auc (average precision, no interpolation) score the positive class's
  probability in a binary model; with more classes they average one-vs-rest scores over the
  classes present in y_true (sklearn's `multi_class="ovr", average="macro"`). roc_auc is NaN
  when y_true holds a single class.
- Regression targets are float (n, n_targets). mse, rmse, mae and r2 are computed per output
  and averaged uniformly over outputs (sklearn's `multioutput="uniform_average"`); an output
  with constant targets has r2 1.0 when predicted exactly, else 0.0 (sklearn's `force_finite`).
"""

from nettrain import registry
from nettrain.backend import xp
from nettrain.errors import ConfigError, DataError
from nettrain.nn import scores as sc

CLASSIFICATION = "classification"
REGRESSION = "regression"


# ---------------------------------------------------------------- shared arithmetic


as_class_columns = sc.class_columns


def positive_index(classes, pos_label=None):
    """The class index a binary model scores as positive: `pos_label`'s (compared as text),
    else 1 (the second label in sorted order, as for binary_cross_entropy)."""
    names = [str(c) for c in (classes if classes is not None else [])]
    if pos_label is not None and str(pos_label) in names:
        return names.index(str(pos_label))
    return 1


def predicted_classes(proba, threshold=0.5, pos=1):
    """Class indices from probabilities (see `scores.decide`)."""
    return sc.decide(proba, threshold, pos)


def confusion_matrix(y_true, y_pred, n_classes):
    """(n_classes, n_classes) counts: rows are true classes, columns predicted ones."""
    y_true = xp.asarray(y_true, dtype=xp.int64).ravel()
    if y_true.size and (y_true.min() < 0 or y_true.max() >= n_classes):
        raise DataError(
            f"Class indices must lie in [0, {n_classes}); got values from {int(y_true.min())} "
            f"to {int(y_true.max())}. The labels do not match the model's classes."
        )
    return sc.confusion(y_true, y_pred, n_classes)


def per_class_scores(cm):
    """Per-class precision, recall, f1 and support (float arrays) from a confusion matrix."""
    return sc.per_class(cm)


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
    r2 = xp.where(ss_tot != 0, 1 - sc.divide(ss_res, ss_tot), xp.where(ss_res == 0, 1.0, 0.0))
    return mse, mae, r2


# ---------------------------------------------------------------- per-epoch metrics


METRICS = {}  # name -> Metric class, filled by @register_metric
register_metric = registry.registrar("metric", METRICS)


class Metric:
    """A named score of `(y_true, scores) -> float`.

    `task` is the task it applies to; `mode` says whether larger ("max") or smaller ("min")
    is better, which early stopping and grid-search infer from. Classification metrics get
    probabilities, and with two classes score the positive class index `pos` and predict
    it at probability >= `threshold`; regression metrics get predictions.
    """

    task = CLASSIFICATION
    mode = "max"

    def __init__(self, pos=1, threshold=0.5):
        self.pos, self.threshold = pos, threshold

    def __call__(self, y_true, scores):
        raise NotImplementedError

    def _binary_pos(self, scores):
        """The positive class index for a binary model's scores, None for more classes."""
        return self.pos if sc.class_columns(scores).shape[1] == 2 else None

    def _confusion(self, y_true, scores):
        proba = sc.class_columns(scores)
        pred = sc.decide(proba, self.threshold, self.pos)
        return sc.confusion(y_true, pred, proba.shape[1])


@register_metric("accuracy")
class Accuracy(Metric):
    """Share of samples whose predicted class is the true one."""

    def __call__(self, y_true, scores):
        y_pred = sc.decide(scores, self.threshold, self.pos)
        return float(xp.mean(y_pred == xp.asarray(y_true)))


@register_metric("balanced_accuracy")
class BalancedAccuracy(Metric):
    """Mean recall over the classes present in y_true."""

    def __call__(self, y_true, scores):
        return sc.balanced_accuracy(self._confusion(y_true, scores))


@register_metric("precision")
class Precision(Metric):
    """TP / (TP + FP): of the positive class (binary), else the macro average."""

    def __call__(self, y_true, scores):
        return sc.averaged(self._confusion(y_true, scores), self._binary_pos(scores))[0]


@register_metric("recall")
class Recall(Metric):
    """TP / (TP + FN): of the positive class (binary), else the macro average."""

    def __call__(self, y_true, scores):
        return sc.averaged(self._confusion(y_true, scores), self._binary_pos(scores))[1]


@register_metric("f1")
class F1(Metric):
    """2 TP / (2 TP + FP + FN): of the positive class (binary), else the macro average."""

    def __call__(self, y_true, scores):
        return sc.averaged(self._confusion(y_true, scores), self._binary_pos(scores))[2]


@register_metric("roc_auc")
class RocAuc(Metric):
    """Area under the ROC curve (one-vs-rest macro average with more than two classes)."""

    def __call__(self, y_true, scores):
        return sc.roc_auc(y_true, scores, self.pos)


@register_metric("pr_auc")
class PrAuc(Metric):
    """Average precision (one-vs-rest macro average with more than two classes)."""

    def __call__(self, y_true, scores):
        return sc.pr_auc(y_true, scores, self.pos)


@register_metric("log_loss")
class LogLoss(Metric):
    """Mean negative log-probability of the true class (probabilities clipped as sklearn)."""

    mode = "min"

    def __call__(self, y_true, scores):
        return sc.log_loss(y_true, scores)


@register_metric("mse")
class MSE(Metric):
    """Mean squared error, averaged over outputs."""

    task, mode = REGRESSION, "min"

    def __call__(self, y_true, scores):
        return float(_regression_errors(y_true, scores)[0].mean())


@register_metric("rmse")
class RMSE(Metric):
    """Root mean squared error per output, averaged over outputs (as sklearn)."""

    task, mode = REGRESSION, "min"

    def __call__(self, y_true, scores):
        return float(xp.sqrt(_regression_errors(y_true, scores)[0]).mean())


@register_metric("mae")
class MAE(Metric):
    """Mean absolute error, averaged over outputs."""

    task, mode = REGRESSION, "min"

    def __call__(self, y_true, scores):
        return float(_regression_errors(y_true, scores)[1].mean())


@register_metric("r2")
class R2(Metric):
    """Coefficient of determination 1 - SS_res / SS_tot per output, averaged over outputs."""

    task, mode = REGRESSION, "max"

    def __call__(self, y_true, scores):
        return float(_regression_errors(y_true, scores)[2].mean())


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


class LoggedMetrics:
    """Turns a model's raw outputs on one split into its logged metrics, {name: float}.

    The loss's `link` makes probabilities (classification) or predictions (regression) of
    the outputs; `inverse_target` maps regression targets and predictions back to their
    units before scoring; a binary model predicts its positive class `pos` at a probability
    >= `threshold` (the binary decision, also used by `predicted_classes`).

    Args:
        names: metric names from `METRICS` (none: every call gives {}).
        link: the loss's link function (softmax, sigmoid or identity).
        inverse_target: for regression, undoes target scaling; None keeps values as given.
        pos, threshold: a binary model's positive class index and decision threshold.
    """

    def __init__(self, names=(), link=None, inverse_target=None, pos=1, threshold=0.5):
        self.names = list(names)
        self.link, self.inverse_target = link, inverse_target
        self.pos, self.threshold = pos, threshold
        self._metrics = [registry.lookup("metric", METRICS, name)(pos, threshold) for name in self.names]

    def __call__(self, y_true, output):
        """Each metric on targets `y_true` (class indices or float targets) and raw `output`."""
        if not self.names:
            return {}
        scores = self.link(output)
        if self.inverse_target is not None:
            y_true, scores = self.inverse_target(y_true), self.inverse_target(scores)
        return {name: metric(y_true, scores) for name, metric in zip(self.names, self._metrics)}

    def predicted_classes(self, output):
        """The class indices a classifier's raw `output` predicts, by the binary decision."""
        return sc.decide(self.link(output), self.threshold, self.pos)


# ---------------------------------------------------------------- full reports


def _plain(value):
    """A JSON-friendly Python scalar from a NumPy one (labels may be numpy ints or strs)."""
    return value.item() if isinstance(value, xp.generic) else value


def _check_nonempty(n):
    if n == 0:
        raise DataError("There are no samples to evaluate: the split or file is empty.")


def classification_report(y_true, proba, class_names, pos=1, threshold=0.5):
    """Every classification score `evaluate` reports, as a JSON-able dict.

    Args:
        y_true: int64 class indices (n,).
        proba: probabilities (n, n_classes), or (n, 1) for a binary model.
        class_names: the original labels, in class-index order.
        pos, threshold: a binary model's positive class index and decision threshold.

    Returns keys: n_samples, accuracy, balanced_accuracy, log_loss, roc_auc, pr_auc,
    per_class (list of {class, precision, recall, f1, support}, every class of the model),
    macro (over the labels present in y_true or y_pred) and weighted ({precision, recall,
    f1}) averages, never_predicted (labels present in y_true that are never predicted),
    confusion_matrix ({labels, matrix}; rows true, columns predicted) and, for a binary
    model, positive ({class, precision, recall, f1}) and threshold.
    """
    y_true = xp.asarray(y_true, dtype=xp.int64).ravel()
    _check_nonempty(len(y_true))
    names = [_plain(c) for c in class_names]
    proba = as_class_columns(proba)
    cm = confusion_matrix(y_true, sc.decide(proba, threshold, pos), len(names))
    precision, recall, f1, support = sc.per_class(cm)
    scores = {"precision": precision, "recall": recall, "f1": f1}
    keep = sc.present(cm)
    report = {
        "n_samples": int(len(y_true)),
        "accuracy": float(xp.trace(cm) / cm.sum()),
        "balanced_accuracy": sc.balanced_accuracy(cm),
        "log_loss": sc.log_loss(y_true, proba),
        "roc_auc": sc.roc_auc(y_true, proba, pos),
        "pr_auc": sc.pr_auc(y_true, proba, pos),
        "per_class": [
            {"class": name, "precision": float(precision[i]), "recall": float(recall[i]),
             "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(names)
        ],
        "macro": {k: float(v[keep].mean()) for k, v in scores.items()},
        "weighted": {k: float((v * support).sum() / support.sum()) for k, v in scores.items()},
        "never_predicted": never_predicted(cm, names),
        "confusion_matrix": {"labels": names, "matrix": cm.tolist()},
    }
    if len(names) == 2:
        report["positive"] = {"class": names[pos], **{k: float(v[pos]) for k, v in scores.items()}}
        report["threshold"] = float(threshold)
    return report


def never_predicted(cm, names):
    """Labels that occur in y_true (rows of `cm`) but are never predicted."""
    missed = (cm.sum(axis=1) > 0) & (cm.sum(axis=0) == 0)
    return [names[i] for i in xp.flatnonzero(missed)]


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
