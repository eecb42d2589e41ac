"""Grid-search figure: each searched parameter against the search metric."""

import numpy as np

from nettrain.reporting.figures import BEST, TRAIN, auto_log, figure, grid, plain, styled


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
