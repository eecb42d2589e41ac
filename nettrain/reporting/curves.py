"""Learning curves: one run's loss, metrics and learning rate, or several runs overlaid."""

import numpy as np

from nettrain.reporting.figures import (
    SAVED,
    TRAIN,
    VAL,
    auto_log,
    epoch_axis,
    figure,
    grid,
    legend_below,
    legend_place,
    mark_epochs,
    palette,
    plain,
    series,
    styled,
)

FIXED = ("epoch", "train_loss", "val_loss", "lr", "seconds")


def quantities(columns):
    """The plotted quantities of a history.csv header: loss, then each metric, then lr.

    Returns (name, train column, val column) triples; a missing column is None.
    """
    columns = list(columns)
    out = [("loss", _have("train_loss", columns), _have("val_loss", columns))]
    for column in columns:
        if column in FIXED or column.startswith("val_"):
            continue
        out.append((column, column, _have(f"val_{column}", columns)))
    if "lr" in columns:
        out.append(("learning rate", "lr", None))
    return [q for q in out if q[1] or q[2]]


def constant_lr(history):
    """The learning rate when it is the same in every epoch, else None."""
    if "lr" not in history:
        return None
    values = history["lr"].dropna().unique()
    return float(values[0]) if len(values) == 1 else None


def _have(name, columns):
    return name if name in columns else None


def _values(history, column):
    return history[column].to_numpy(dtype=float) if column else None


@styled
def learning_curves(history, best=None, saved=None):
    """Train and val curves of every quantity of one history DataFrame, one panel each,
    with the best epoch and the saved-weights epoch marked. A constant learning rate gets
    no panel (`constant_lr` gives it for the caption)."""
    panels = [q for q in quantities(history.columns)
              if not (q[0] == "learning rate" and constant_lr(history) is not None)]
    ncols = 1 if len(panels) == 1 else 2
    fig = figure(4.6 * ncols if ncols == 2 else 6.0, 2.7 * -(-len(panels) // ncols) + 0.6)
    axes = grid(fig, len(panels), ncols, legend_rows=1)
    epochs = history["epoch"].to_numpy(dtype=float)
    for ax, (name, train, val) in zip(axes, panels):
        train_v, val_v = _values(history, train), _values(history, val)
        if name == "learning rate":
            series(ax, epochs, train_v, None, SAVED, steps=True)
            auto_log(ax, train_v)
        else:
            series(ax, epochs, train_v, "train", TRAIN)
            if val_v is not None:
                series(ax, epochs, val_v, "val", VAL)
            if name == "loss":
                auto_log(ax, np.concatenate([v for v in (train_v, val_v) if v is not None]))
        mark_epochs(ax, best, saved)
        ax.set_title(name)
        epoch_axis(ax, epochs)
    legend_below(fig, axes)
    return fig


@styled
def overlay_curves(runs):
    """Several runs' curves on shared panels: val solid, train dashed, one colour per run.

    Args:
        runs: (label, history DataFrame) pairs; quantities missing from a run are skipped.
    """
    names = []
    for _, history in runs:
        names += [q[0] for q in quantities(history.columns) if q[0] not in names]
    ncols = 1 if len(names) == 1 else 2
    rows = -(-len(runs) // 3)
    fig = figure(4.6 * ncols, 2.8 * -(-len(names) // ncols) + 0.5 + 0.2 * rows)
    axes = grid(fig, len(names), ncols, legend_rows=rows)
    colors = palette(len(runs))
    runs = [(plain(label), history) for label, history in runs]
    for color, (label, history) in zip(colors, runs):
        epochs = history["epoch"].to_numpy(dtype=float)
        for ax, (name, train, val) in _panels(axes, names, history):
            if name == "learning rate":
                series(ax, epochs, _values(history, train), label, color, steps=True)
                continue
            if val is not None:
                series(ax, epochs, _values(history, val), label, color)
            if train is not None:
                series(ax, epochs, _values(history, train), f"{label} (train)", color, "--", 0.55)
    for ax, name in zip(axes, names):
        ax.set_title(name if name == "learning rate" else f"{name}: val solid, train dashed")
        lines = [line.get_ydata() for line in ax.get_lines()]
        if lines and name in ("loss", "learning rate"):
            auto_log(ax, np.concatenate(lines))
        epoch_axis(ax, np.concatenate([h["epoch"].to_numpy(dtype=float) for _, h in runs]))
    _run_legend(fig, [label for label, _ in runs], colors)
    return fig


def _panels(axes, names, history):
    own = {q[0]: q for q in quantities(history.columns)}
    return [(ax, own[name]) for ax, name in zip(axes, names) if name in own]


def _run_legend(fig, labels, colors):
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, linewidth=2) for c in colors]
    fig.legend(handles, labels, ncol=min(3, len(labels)), **legend_place(fig))
