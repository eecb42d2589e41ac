"""Classification scores with scikit-learn's definitions, vectorized over samples.

`y` holds class indices (n,) into the model's classes; `proba` is (n, k) probabilities, or
(n, 1) for a binary model's single column (the probability of class index 1). A binary
model scores the positive class `pos` (a class index); more classes average per class.
Every function here is checked against scikit-learn in tests/test_scores.py.
"""

from nettrain.backend import xp


def class_columns(proba):
    """(n, k) probabilities; a binary model's single column p becomes [1 - p, p]."""
    proba = xp.asarray(proba)
    if proba.ndim == 1:
        proba = proba[:, None]
    if proba.shape[1] == 1:
        proba = xp.concatenate([1 - proba, proba], axis=1)
    return proba


def decide(proba, threshold=0.5, pos=1):
    """Predicted class indices: with two classes, `pos` where its probability >= threshold
    (the other class below it), else the most probable class."""
    proba = class_columns(proba)
    if proba.shape[1] == 2:
        return xp.where(proba[:, pos] >= threshold, pos, 1 - pos).astype(xp.int64)
    return xp.argmax(proba, axis=1).astype(xp.int64)


def confusion(y, pred, k):
    """(k, k) counts, rows true classes, columns predicted ones."""
    y = xp.asarray(y, dtype=xp.int64).ravel()
    pred = xp.asarray(pred, dtype=xp.int64).ravel()
    return xp.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def divide(num, den):
    """num / den elementwise, 0.0 where den == 0 (sklearn's zero_division=0)."""
    num = xp.asarray(num, dtype=xp.float64)
    den = xp.asarray(den, dtype=xp.float64)
    return xp.divide(num, den, out=xp.zeros_like(num), where=den != 0)


def per_class(cm):
    """Per-class precision, recall, f1 (2 TP / (2 TP + FP + FN)) and support from counts."""
    tp = xp.diag(cm).astype(xp.float64)
    fp, fn = cm.sum(axis=0) - tp, cm.sum(axis=1) - tp
    return divide(tp, tp + fp), divide(tp, tp + fn), divide(2 * tp, 2 * tp + fp + fn), cm.sum(axis=1)


def present(cm):
    """Classes that occur in y_true or y_pred: the labels sklearn's averages run over."""
    return (cm.sum(axis=0) + cm.sum(axis=1)) > 0


def averaged(cm, pos=None):
    """(precision, recall, f1): of class `pos` for a binary model, else macro averages over
    the classes present in y_true or y_pred."""
    precision, recall, f1, _ = per_class(cm)
    if pos is not None:
        return float(precision[pos]), float(recall[pos]), float(f1[pos])
    keep = present(cm)
    if not keep.any():
        return 0.0, 0.0, 0.0
    return tuple(float(v[keep].mean()) for v in (precision, recall, f1))


def balanced_accuracy(cm):
    """Mean recall over the classes present in y_true (sklearn's, adjusted=False)."""
    support = cm.sum(axis=1)
    keep = support > 0
    return float((xp.diag(cm)[keep] / support[keep]).mean()) if keep.any() else 0.0


def log_loss(y, proba):
    """Mean -log p(true class), probabilities clipped to [eps, 1 - eps] of their dtype
    (integer probabilities as float64, as sklearn)."""
    proba = class_columns(proba)
    if not xp.issubdtype(proba.dtype, xp.floating):
        proba = proba.astype(xp.float64)
    eps = xp.finfo(proba.dtype).eps
    y = xp.asarray(y, dtype=xp.int64)
    return float(-xp.mean(xp.log(xp.clip(proba[xp.arange(len(y)), y], eps, 1 - eps))))


def _one_vs_rest(y, proba, pos):
    """(truth, scores): one column for a binary model's class `pos`, else one per class."""
    proba = class_columns(proba).astype(xp.float64)
    y = xp.asarray(y, dtype=xp.int64)
    if proba.shape[1] == 2:
        return (y == pos)[:, None], proba[:, [pos]]
    return y[:, None] == xp.arange(proba.shape[1]), proba


def _average_ranks(scores):
    """Per column, each score's 1-based rank in its column, tied scores sharing their mean rank."""
    n, k = scores.shape
    order = xp.argsort(scores, axis=0, kind="stable")
    ordered = xp.take_along_axis(scores, order, axis=0)
    starts = xp.ones((n, k), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    group = xp.cumsum(starts, axis=0) - 1 + xp.arange(k) * n  # a tie group id, unique over columns
    flat = group.ravel()
    position = xp.broadcast_to(xp.arange(1, n + 1, dtype=xp.float64)[:, None], (n, k)).ravel()
    mean_rank = (xp.bincount(flat, weights=position, minlength=n * k)
                 / xp.maximum(xp.bincount(flat, minlength=n * k), 1))
    ranks = xp.empty((n, k))
    xp.put_along_axis(ranks, order, mean_rank[group], axis=0)
    return ranks


def roc_auc(y, proba, pos=1):
    """Area under the ROC curve, as the Mann-Whitney statistic (ties count one half).

    Binary: of class `pos`. More classes: one-vs-rest, the unweighted mean over the classes
    that have positives and negatives in y (sklearn's multi_class="ovr", average="macro").
    NaN when no class has both.
    """
    truth, scores = _one_vs_rest(y, proba, pos)
    n_pos = truth.sum(axis=0).astype(xp.float64)
    n_neg = len(truth) - n_pos
    ok = (n_pos > 0) & (n_neg > 0)
    if not ok.any():
        return float("nan")
    ranks = _average_ranks(scores[:, ok])
    u = (ranks * truth[:, ok]).sum(axis=0) - n_pos[ok] * (n_pos[ok] + 1) / 2
    return float((u / (n_pos[ok] * n_neg[ok])).mean())


def pr_auc(y, proba, pos=1):
    """Average precision, sum over thresholds t of (R_t - R_t-1) P_t (sklearn's
    average_precision_score, no interpolation). Binary: of class `pos`; more classes: the
    unweighted mean over the classes present in y. 0.0 when no class is present."""
    truth, scores = _one_vs_rest(y, proba, pos)
    keep = truth.sum(axis=0) > 0
    if not keep.any():
        return 0.0
    truth, scores = truth[:, keep], scores[:, keep]
    n = len(scores)
    order = xp.argsort(-scores, axis=0, kind="stable")
    ordered = xp.take_along_axis(scores, order, axis=0)
    hits = xp.cumsum(xp.take_along_axis(truth, order, axis=0), axis=0)
    last = xp.ones(ordered.shape, dtype=bool)  # the last row of each threshold (tie group)
    last[:-1] = ordered[:-1] != ordered[1:]
    precision = hits / xp.arange(1, n + 1)[:, None]
    recall = hits / hits[-1]
    ends = xp.where(last, xp.arange(n)[:, None], -1)
    before = xp.maximum.accumulate(xp.vstack([xp.full((1, ends.shape[1]), -1), ends[:-1]]), axis=0)
    recall_before = xp.where(before >= 0, xp.take_along_axis(recall, xp.maximum(before, 0), axis=0), 0.0)
    return float(xp.where(last, (recall - recall_before) * precision, 0.0).sum(axis=0).mean())
