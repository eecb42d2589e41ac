"""Evaluation figures: confusion matrix, ROC and precision-recall curves, regression fits.

The curves are computed here with NumPy (no scikit-learn at run time); the tests compare
them with scikit-learn's `roc_curve`, `roc_auc_score` and `average_precision_score`.
"""

import numpy as np

from nettrain.reporting.figures import BEST, TRAIN, VAL, figure, grid, plain, styled

ANNOTATE_MAX = 15  # confusion matrices up to this many classes get a count in every cell
MAX_TARGETS = 6  # regression figures show at most this many targets


# ---------------------------------------------------------------- binary curves


def roc_curve(y_true, score):
    """(false positive rates, true positive rates, AUC) over every distinct threshold."""
    fps, tps = _counts(y_true, score)
    fpr = fps / fps[-1] if fps[-1] else np.zeros_like(fps)
    tpr = tps / tps[-1] if tps[-1] else np.zeros_like(tps)
    fpr, tpr = np.r_[0.0, fpr], np.r_[0.0, tpr]
    return fpr, tpr, float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def pr_curve(y_true, score):
    """(recall, precision, average precision) as scikit-learn defines AP (a step sum)."""
    fps, tps = _counts(y_true, score)
    precision = tps / np.maximum(tps + fps, 1)
    recall = tps / tps[-1] if tps[-1] else np.zeros_like(tps)
    recall, precision = np.r_[0.0, recall], np.r_[1.0, precision]
    return recall, precision, float(np.sum(np.diff(recall) * precision[1:]))


def _counts(y_true, score):
    """False and true positives at each distinct score, thresholds from high to low."""
    order = np.argsort(-np.asarray(score, dtype=float), kind="mergesort")
    score, y = np.asarray(score, dtype=float)[order], np.asarray(y_true)[order].astype(float)
    last = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    tps = np.cumsum(y)[last]
    return (1 + last) - tps, tps


@styled
def binary_curves(y_true, score, positive):
    """ROC and precision-recall curves of a binary model's positive-class probabilities."""
    fig = figure(8.4, 3.6, constrained=True)
    roc_ax, pr_ax = grid(fig, 2, 2)
    fpr, tpr, auc = roc_curve(y_true, score)
    roc_ax.plot([0, 1], [0, 1], ":", color="#8c959f", label="chance")
    roc_ax.plot(fpr, tpr, color=TRAIN, label=f"AUC {auc:.3f}")
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(-0.02, 1.02),
               ylim=(-0.02, 1.02), title=f"ROC, positive class '{plain(positive)}'")
    recall, precision, ap = pr_curve(y_true, score)
    base = float(np.mean(y_true)) if len(y_true) else 0.0
    pr_ax.axhline(base, linestyle=":", color="#8c959f", label=f"chance {base:.2f}")
    pr_ax.step(recall, precision, where="post", color=VAL, label=f"AP {ap:.3f}")
    pr_ax.set(xlabel="recall", ylabel="precision", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02),
              title="precision-recall")
    for ax in (roc_ax, pr_ax):
        ax.set_aspect("equal")
        ax.legend(loc="lower right" if ax is roc_ax else "lower left")
    return fig


# ---------------------------------------------------------------- classification


@styled
def confusion_matrix(matrix, labels):
    """Counts, rows true and columns predicted; the colour is each row's share (recall),
    so small classes read as clearly as large ones."""
    cm = np.asarray(matrix, dtype=float)
    n = len(labels)
    side = float(np.clip(0.42 * n + 2.2, 3.6, 11.0))
    fig = figure(side + 1.0, side, constrained=True)
    ax = fig.subplots()
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    ticks = np.arange(n)
    size = 8 if n <= 20 else max(4.5, 8 - (n - 20) / 10)
    names = [_short(plain(label)) for label in labels]
    ax.set_xticks(ticks, names, rotation=90 if n > 6 or max(map(len, names)) > 6 else 0,
                  fontsize=size)
    ax.set_yticks(ticks, names, fontsize=size)
    ax.set(xlabel="predicted", ylabel="true")
    ax.grid(False)
    if n <= ANNOTATE_MAX:
        for i, j in np.ndindex(cm.shape):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8 if n <= 10 else 6.5,
                    color="white" if share[i, j] > 0.55 else "#1f2328")
    return fig


def _short(label, width=14):
    text = str(label)
    return text if len(text) <= width else text[:width - 1] + "…"


# ---------------------------------------------------------------- regression


@styled
def regression_fit(y_true, y_pred, names):
    """Per target: predicted against actual (with the identity line), residuals against
    predicted, and the residuals' histogram."""
    from matplotlib.ticker import MaxNLocator

    y_true, y_pred = np.atleast_2d(y_true.T).T, np.atleast_2d(y_pred.T).T
    shown = min(len(names), MAX_TARGETS)
    fig = figure(10.5, 3.2 * shown + 0.3)
    axes = np.array(grid(fig, 3 * shown, 3, left=0.85)).reshape(shown, 3)
    alpha = float(np.clip(30 / max(len(y_true), 1) ** 0.5, 0.15, 0.8))
    for row, (fit, resid, hist) in enumerate(axes):
        actual, predicted, name = y_true[:, row], y_pred[:, row], plain(names[row])
        residual = actual - predicted
        lo, hi = np.nanmin([actual.min(), predicted.min()]), np.nanmax([actual.max(), predicted.max()])
        pad = 0.04 * (hi - lo or 1.0)
        fit.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "--", color=BEST, linewidth=1,
                 label="predicted = actual")
        fit.scatter(actual, predicted, s=12, alpha=alpha, color=TRAIN, edgecolors="none")
        fit.set(xlabel=f"actual {name}", ylabel=f"predicted {name}", title=f"{name}: predicted vs actual")
        fit.legend(loc="upper left")
        resid.axhline(0, color=BEST, linestyle="--", linewidth=1)
        resid.scatter(predicted, residual, s=12, alpha=alpha, color=VAL, edgecolors="none")
        resid.set(xlabel=f"predicted {name}", ylabel="actual - predicted", title="residuals")
        hist.hist(residual, bins=int(np.clip(np.sqrt(len(residual)), 5, 40)), color=VAL, alpha=0.8)
        hist.axvline(0, color=BEST, linestyle="--", linewidth=1)
        hist.set(xlabel="actual - predicted", ylabel="samples", title="residual distribution")
        hist.yaxis.set_major_locator(MaxNLocator(integer=True))
    return fig
