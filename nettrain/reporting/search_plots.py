"""Grid-search and cross-validation figures: each searched parameter against the search
metric, each trial's curve of the search metric with where pruned trials stopped, the best
value by trial, parameter importances, and the spread of a cv directory's scores over its folds."""

import numpy as np

from nettrain.reporting.figures import (
    BEST,
    TRAIN,
    VAL,
    auto_log,
    epoch_axis,
    figure,
    grid,
    legend_below,
    palette,
    plain,
    styled,
)

PRUNED_COLOR = "#8c959f"


def _numeric(values):
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return None


@styled
def parameters_vs_metric(results, params, metric):
    """One panel per parameter: every ok trial's metric (mean over repeats, with its std
    as an error bar when repeated), the best trial starred.

    Args:
        results: results.csv as a DataFrame, ranked (best first), ok trials only.
        params: the searched parameter columns; metric: the search metric column.
    """
    ncols = min(len(params), 3)
    fig = figure(3.6 * ncols + 0.4, 3.2 * -(-len(params) // ncols) + 0.2)
    axes = grid(fig, len(params), ncols, left=0.85)
    y = results[metric].to_numpy(dtype=float)
    std = results[f"{metric}_std"].to_numpy(dtype=float) if f"{metric}_std" in results else None
    rng = np.random.default_rng(0)
    for ax, param in zip(axes, params):
        x, labels = _positions(results[param])
        if labels is not None:  # a choice of strings/lists: spread the points a little
            x = x + rng.uniform(-0.12, 0.12, len(x))
            ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 3 else 0)
        else:
            _numeric_ticks(ax, x)
        if std is not None:
            ax.errorbar(x, y, yerr=std, fmt="none", ecolor="#8c959f", elinewidth=1)
        ax.scatter(x, y, s=28, color=TRAIN, alpha=0.8, edgecolors="none", label="trial")
        if len(x):
            ax.scatter(x[:1], y[:1], s=140, marker="*", color=BEST, label="best trial", zorder=3)
        auto_log(ax, y)
        ax.set(xlabel=param, ylabel=metric, title=param)
    axes[0].legend(loc="best")
    return fig


def _numeric_ticks(ax, x):
    """Log scale for positive values spanning a decade or more; ticks at the values tried
    when there are few of them (a grid), so each one is labelled as the config wrote it."""
    from matplotlib.ticker import NullFormatter

    finite = x[np.isfinite(x)]
    if len(finite) and finite.min() > 0 and finite.max() / finite.min() >= 10:
        ax.set_xscale("log")
    values = np.unique(finite)
    if 0 < len(values) <= 8:
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.xaxis.set_minor_formatter(NullFormatter())


def _positions(column):
    """(x values, None) for numbers; (category index, category labels) otherwise."""
    numbers = _numeric(column)
    if numbers is not None:
        return numbers, None
    labels = list(dict.fromkeys(plain(v) for v in column))
    return np.asarray([labels.index(plain(v)) for v in column], dtype=float), labels


@styled
def metric_curves(curves, metric, best, step):
    """Every trial's search metric at each step it reached (an epoch, or the folds trained so
    far), one panel: ok trials blue, the best one green, pruned ones grey with an x where the
    pruner stopped them.

    Args:
        curves: (trial id, steps, values, status) per trial.
        metric: the search metric; best: the best trial's id (or None); step: "epoch" or "folds".
    """
    fig = figure(7.0, 3.9)
    ax = grid(fig, 1, 1, legend_rows=1, left=0.85)[0]
    labelled = set()
    for tid, x, y, status in curves:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if not len(x):
            continue
        if tid == best:
            continue  # drawn last, on top
        pruned = status == "pruned"
        kind = "pruned trial (x: where it stopped)" if pruned else "trial"
        ax.plot(x, y, color=PRUNED_COLOR if pruned else TRAIN, alpha=0.7, linewidth=1.1,
                label=None if kind in labelled else kind)
        labelled.add(kind)
        if pruned:
            ax.scatter(x[-1:], y[-1:], marker="x", s=42, color=VAL, zorder=3)
    for tid, x, y, _ in curves:
        if tid == best and len(x):
            ax.plot(x, y, color=BEST, linewidth=2.2, label=f"best trial {plain(tid)}", zorder=4)
    auto_log(ax, np.concatenate([np.asarray(c[2], dtype=float) for c in curves if len(c[2])] or [[1.0]]))
    steps = np.concatenate([np.asarray(c[1], dtype=float) for c in curves if len(c[1])] or [[1.0]])
    epoch_axis(ax, steps)
    ax.set(xlabel="epoch" if step == "epoch" else "folds trained (the mean over them)", ylabel=metric,
           title=f"{metric} of every trial")
    legend_below(fig, [ax])
    return fig


@styled
def best_by_trial(order, values, statuses, metric, mode):
    """The sampler's history: each trial's value in the order the trials ran (pruned ones, an
    x, at the value they stopped at) and the best value so far among the finished ones.

    Args:
        order: the trials' numbers (1-based); values, statuses: each trial's value and status.
    """
    fig = figure(7.0, 3.6)
    ax = grid(fig, 1, 1, legend_rows=1, left=0.85)[0]
    order, values = np.asarray(order, dtype=float), np.asarray(values, dtype=float)
    statuses = np.asarray(statuses)
    ok, pruned = statuses == "ok", statuses == "pruned"
    ax.scatter(order[ok], values[ok], s=24, color=TRAIN, label="finished trial", zorder=3)
    if pruned.any():
        ax.scatter(order[pruned], values[pruned], s=30, marker="x", color=PRUNED_COLOR,
                   label="pruned trial (its value when stopped)", zorder=3)
    best = _best_so_far(np.where(ok, values, np.nan), mode)
    ax.step(order, best, where="post", color=BEST, linewidth=1.8, label="best so far")
    auto_log(ax, values)
    ax.set(xlabel="trial", ylabel=metric, title=f"best {metric} by trial ({mode})")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=10))
    legend_below(fig, [ax])
    return fig


def _best_so_far(values, mode):
    """The running best (min or max) of `values`, NaN where none is finite yet."""
    best, out = np.nan, []
    for value in values:
        if np.isfinite(value) and (np.isnan(best) or (value < best if mode == "min" else value > best)):
            best = value
        out.append(best)
    return np.asarray(out)


@styled
def importances(names, values):
    """Horizontal bars: each parameter's importance, the largest on top."""
    fig = figure(6.4, 0.45 * len(names) + 1.1)
    ax = grid(fig, 1, 1, left=min(3.2, 0.6 + 0.075 * max(len(n) for n in names)))[0]
    positions = np.arange(len(names))[::-1]
    ax.barh(positions, values, color=TRAIN, height=0.6)
    ax.set_yticks(positions, [plain(n) for n in names])
    ax.set(xlabel="importance (fANOVA)", xlim=(0, max(1.0, max(values) * 1.05)),
           title="parameter importances")
    ax.grid(axis="y", visible=False)
    return fig


@styled
def fold_spread(scores, folds):
    """Each score of a cv directory per fold (one dot per fold, coloured by fold) with its mean
    ± std over the folds, one panel per quantity (loss, each metric), the splits side by side.

    Args:
        scores: {quantity: {split: (per-fold values, mean, std)}}; folds: the fold labels.
    """
    names = list(scores)
    ncols = min(len(names), 2)
    fig = figure(4.6 * ncols, 2.9 * -(-len(names) // ncols) + 0.6)
    axes = grid(fig, len(names), ncols, legend_rows=1)
    colors = palette(len(folds))
    for ax, name in zip(axes, names):
        splits = list(scores[name])
        for i, split in enumerate(splits):
            values, mean, std = scores[name][split]
            ax.errorbar([i], [mean], yerr=[0 if np.isnan(std) else std], fmt="_", markersize=22,
                        color="#1f2328", capsize=5, zorder=2, label="mean ± std" if i == 0 else None)
            offsets = np.linspace(-0.18, 0.18, len(values)) if len(values) > 1 else np.zeros(1)
            for j, value in enumerate(values):
                ax.scatter([i + offsets[j]], [value], s=26, color=colors[j], zorder=3,
                           label=f"fold {plain(folds[j])}" if i == 0 else None)
        ax.set_xticks(range(len(splits)), splits)
        ax.set_xlim(-0.6, len(splits) - 0.4)
        ax.set_title(name)
    legend_below(fig, axes, ncol=min(6, len(folds) + 1))
    return fig
