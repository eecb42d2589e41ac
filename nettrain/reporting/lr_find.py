"""The range test's plot, as fastai's `plot_lr_find`: the smoothed loss against the lr on a
log axis (the last five batches left out), the suggested lr marked."""

from nettrain.reporting.figures import BEST, TRAIN, figure, png, style

SKIP_END = 5  # fastai's plot_lr_find leaves out the last batches, where the loss shoots up


def range_test_png(result):
    """PNG bytes of a `nettrain.training.lr_find.RangeTest`, on white (a file of its own)."""
    with style():
        fig = figure(6.0, 3.6)
        ax = fig.add_axes((0.12, 0.15, 0.84, 0.75))
        keep = slice(None, -SKIP_END) if len(result.lrs) > 2 * SKIP_END else slice(None)
        lrs, losses, raw = result.lrs[keep], result.losses[keep], result.raw_losses[keep]
        ax.plot(lrs, raw, color=TRAIN, alpha=0.25, linewidth=0.9, label="loss of the batch")
        ax.plot(lrs, losses, color=TRAIN, label="smoothed loss")
        if result.suggestion is not None:
            at = min(range(len(result.lrs)), key=lambda i: abs(result.lrs[i] - result.suggestion))
            ax.plot([result.suggestion], [result.losses[at]], "o", color=BEST, markersize=7,
                    label=f"suggested lr {result.suggestion:.2g} (steepest descent)")
        low, high = min(losses), max(losses)
        pad = 0.1 * (high - low) or 0.1 * abs(high) or 0.1
        ax.set_ylim(low - pad, high + pad)  # the batches' own losses may leave the frame
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.set_title(f"Learning-rate range test: {len(result.lrs)} batches of {result.batch_size}, "
                     f"{result.stopped}")
        ax.legend(loc="best")
        return png(fig, background="white")
