"""Figures as PNG bytes: matplotlib's Agg canvas, no pyplot, no window, no global state.

Every figure has a transparent background and dark text, so it sits on a light page as it
is; the page's dark theme inverts it (CSS `filter: invert(1) hue-rotate(180deg)`), which
keeps the hues and turns dark text light. matplotlib is imported here and only here.
"""

import io

import numpy as np

DPI = 120  # PNG pixels per inch; the page shows figures at 96 px per inch, so HiDPI-sharp
STYLE = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "text.color": "#1f2328",
    "axes.labelcolor": "#1f2328", "axes.edgecolor": "#8c959f", "xtick.color": "#424a53",
    "ytick.color": "#424a53", "axes.grid": True, "grid.color": "#afb8c1", "grid.alpha": 0.5,
    "grid.linewidth": 0.6, "axes.spines.top": False, "axes.spines.right": False,
    "legend.frameon": False, "lines.linewidth": 1.6, "figure.facecolor": "none",
    "axes.facecolor": "none", "savefig.transparent": True,
}
TRAIN, VAL, BEST, SAVED = "#0969da", "#d4731a", "#1a7f37", "#8250df"
MANY_POINTS = 40  # series longer than this are drawn as lines without markers


def plain(text):
    """Text from the data (class labels, names) drawn as it is: a `$` would start mathtext."""
    return str(text).replace("$", r"\$")


def _mpl():
    import matplotlib

    return matplotlib


def figure(width, height, constrained=False):
    """A new Figure of `width` x `height` inches with the report's style. Panels laid out by
    `grid` get fixed margins in inches; `constrained` (twice the drawing time) is for figures
    whose labels vary in size, such as a confusion matrix's class names."""
    from matplotlib.figure import Figure

    with _mpl().rc_context(STYLE):
        return Figure(figsize=(width, height), dpi=DPI, layout="constrained" if constrained else None)


def png(fig, background=None):
    """The figure as PNG bytes (transparent, or on a `background` colour for a file that
    stands alone; no metadata), reduced to a 256-colour palette."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    FigureCanvasAgg(fig)
    raw = io.BytesIO()
    opaque = {"transparent": False, "facecolor": background} if background else {}
    with _mpl().rc_context(STYLE):
        fig.savefig(raw, format="png", dpi=DPI, metadata={"Software": None}, **opaque)
    image = Image.open(io.BytesIO(raw.getvalue()))
    out = io.BytesIO()
    image.quantize(256, method=Image.Quantize.FASTOCTREE).save(out, format="PNG", optimize=True)
    return out.getvalue()


def style():
    """A context in which new figures and artists take the report's style."""
    return _mpl().rc_context(STYLE)


def styled(draw):
    """Decorator: run a drawing function under the report's rc style; return PNG bytes."""
    def wrapper(*args, **kwargs):
        with _mpl().rc_context(STYLE):
            return png(draw(*args, **kwargs))
    wrapper.__name__, wrapper.__doc__ = draw.__name__, draw.__doc__
    return wrapper


MARGIN = {"top": 0.32, "right": 0.2, "bottom": 0.55, "legend_row": 0.2, "gap_h": 0.8, "gap_w": 0.8}


def grid(fig, n, ncols, legend_rows=0, left=0.75):
    """`n` axes in rows of `ncols`, unused cells removed. Without a layout engine the margins
    are fixed in inches: `left` for tick labels (more with a y label), room at the bottom
    for `legend_rows` rows of a figure legend (`legend_below`)."""
    nrows = -(-n // ncols)
    if fig.get_layout_engine() is None:
        width, height = fig.get_size_inches()
        m = MARGIN
        bottom = m["bottom"] + (m["legend_row"] * legend_rows + 0.15 if legend_rows else 0)
        axes_w = (width - left - m["right"] - m["gap_w"] * (ncols - 1)) / ncols
        axes_h = (height - m["top"] - bottom - m["gap_h"] * (nrows - 1)) / nrows
        fig.subplots_adjust(left=left / width, right=1 - m["right"] / width, bottom=bottom / height,
                            top=1 - m["top"] / height, wspace=m["gap_w"] / axes_w,
                            hspace=m["gap_h"] / axes_h)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.remove()
    return list(axes[:n])


# ---------------------------------------------------------------- axes helpers


def epoch_axis(ax, epochs):
    """Integer epoch ticks; one epoch gets a little room on each side."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=8))
    lo, hi = (min(epochs), max(epochs)) if len(epochs) else (1, 1)
    if lo == hi:
        ax.set_xlim(lo - 1, hi + 1)
    ax.set_xlabel("epoch")


def auto_log(ax, values, axis="y"):
    """A log scale when positive values span more than two decades."""
    values = np.asarray([v for v in np.ravel(values) if np.isfinite(v)], dtype=float)
    if len(values) and values.min() > 0 and values.max() / values.min() > 100:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
        return True
    return False


def series(ax, x, y, label, color, style="-", alpha=1.0, steps=False):
    """A line through the finite points, with markers when there are few of them."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(y)
    if not keep.any():
        return False
    marker = "o" if keep.sum() <= MANY_POINTS else None
    ax.plot(x[keep], y[keep], style, color=color, label=label, alpha=alpha, marker=marker,
            markersize=3.5 if keep.sum() > 1 else 6, drawstyle="steps-mid" if steps else "default")
    return True


def mark_epochs(ax, best, saved):
    """Vertical lines at the best epoch and at the epoch whose weights were saved."""
    if best is not None:
        ax.axvline(best, color=BEST, linestyle="--", linewidth=1.1,
                   label=f"best epoch {best}" + (" (saved)" if saved == best else ""))
    if saved is not None and saved != best:
        ax.axvline(saved, color=SAVED, linestyle=":", linewidth=1.4, label=f"saved weights, epoch {saved}")


def palette(n):
    """n distinguishable colours: tab10 up to 10, then a sampled continuous map."""
    import matplotlib

    if n <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(n)]
    return [matplotlib.colormaps["turbo"](x) for x in np.linspace(0.05, 0.95, n)]


def legend_below(fig, axes, ncol=4):
    """One legend for the figure, under its axes, from the labelled lines of every axis."""
    seen = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen), ncol=min(ncol, len(seen)), **legend_place(fig))


def legend_place(fig):
    """Where a figure legend goes: under the axes, in the room `grid` left for it."""
    if fig.get_layout_engine() is not None:
        return {"loc": "outside lower center"}
    return {"loc": "lower center", "bbox_to_anchor": (0.5, 0.005)}
