"""Gradient-health figure: diagnostics.csv's four measures per layer over the epochs."""

import numpy as np

from nettrain.reporting.figures import epoch_axis, figure, grid, legend_place, palette, plain, series, styled

PANELS = (  # column, title, log scale, the bounds drawn as lines (training.diagnostics keys)
    ("grad_norm", "gradient norm", True, ("exploding_norm",)),
    ("update_ratio", "update / weight ratio", True, ("min_update_ratio", "max_update_ratio")),
    ("dead_fraction", "dead units (ReLU family)", False, ("dead_fraction",)),
    ("saturated_fraction", "saturated pre-activations (sigmoid, tanh)", False, ("saturated_fraction",)),
    ("time_ratio", "through time: first-step / last-step gradient", True,
     ("vanishing_ratio", "exploding_norm")),
)


def panels(frame):
    """The PANELS that diagnostics.csv has values for."""
    return [p for p in PANELS if p[0] in frame.columns and frame[p[0]].notna().any()]


@styled
def gradient_health(frame, bounds):
    """One panel per measure, one line per layer; dashed lines at the warning bounds.

    Args:
        frame: diagnostics.csv as a DataFrame (epoch, layer, description, measures).
        bounds: the run's `training.diagnostics` mapping (defaults filled in).
    """
    shown = panels(frame)
    layers = frame.drop_duplicates("layer").sort_values("layer")
    colors = dict(zip(layers["layer"], palette(len(layers))))
    legend_rows = 1 + -(-len(layers) // 4)
    fig = figure(9.6, 2.9 * -(-len(shown) // 2) + 0.4 + 0.2 * legend_rows)
    axes = grid(fig, len(shown), 2, legend_rows=legend_rows)
    epochs = frame["epoch"].to_numpy(dtype=float)
    for ax, (column, title, log, limits) in zip(axes, shown):
        for _, layer in layers.iterrows():
            rows = frame[frame["layer"] == layer["layer"]].sort_values("epoch")
            series(ax, rows["epoch"], rows[column], f"{layer['layer']} {plain(layer['description'])}",
                   colors[layer["layer"]])
        values = frame[column].to_numpy(dtype=float)
        positive = values[np.isfinite(values) & (values > 0)]
        if log and len(positive):
            ax.set_yscale("log")
        for key in limits:
            if key in bounds and (not log or bounds[key] > 0) and _near(bounds[key], values, log):
                ax.axhline(bounds[key], color="#cf222e", linestyle="--", linewidth=1)
        if not log:
            ax.set_ylim(-0.03, 1.03)
        ax.set_title(title)
        epoch_axis(ax, epochs)
    _layer_legend(fig, axes)
    return fig


def _near(bound, values, log):
    """A bound is drawn when it lies within a few decades (or the unit range) of the data,
    so a far-away limit does not squash the curves."""
    values = values[np.isfinite(values)]
    if not len(values):
        return False
    if not log:
        return True
    positive = values[values > 0]
    if not len(positive):
        return False
    return positive.min() / 100 <= bound <= positive.max() * 100


def _layer_legend(fig, axes):
    seen = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    fig.legend(list(seen.values()), list(seen), ncol=4, **legend_place(fig),
               title="model.layers[i]  (red dashed: the warning bounds)", title_fontsize=8)
