"""The terminal output of a fit: the epoch table (live on a terminal, plain lines in logs and
pipes) and the summary at the end. The only part of training that imports rich.
"""

import math

from rich import box
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nettrain.training.callbacks import Callback

# ---------------------------------------------------------------- formatting


def format_value(column, value):
    """A logged number as the table shows it: fixed decimals, scientific when tiny or huge."""
    if column == "epoch":
        return str(value)
    value = float(value)
    if column == "lr":
        return f"{value:.3g}"
    if column == "seconds":
        return f"{value:.2f}"
    if not math.isfinite(value):
        return str(value)
    if value != 0 and not 1e-3 <= abs(value) < 1e5:
        return f"{value:.3e}"
    return f"{value:.4f}"


def _plain_line(columns, logs, epochs, best):
    parts = [f"epoch {logs['epoch']}/{epochs}"]
    parts += [f"{c}={format_value(c, logs[c])}" for c in columns if c != "epoch"]
    return "  ".join(parts) + ("  *best" if best else "")


# ---------------------------------------------------------------- reporters


class PlainLines(Callback):
    """One plain line per epoch, for logs and pipes: no colours, no cursor movement."""

    def __init__(self, console, columns, epochs):
        self.console = console
        self.columns = columns
        self.epochs = epochs

    def on_epoch_end(self, trainer, logs):
        line = _plain_line(self.columns, logs, self.epochs, trainer.best.epoch == logs["epoch"])
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)


class LiveTable(Callback):
    """A rich table on a terminal: finished epochs print as rows that stay in the scrollback,
    while a live footer shows the running epoch's progress bar and the best epoch so far.

    Args:
        console: the rich Console to draw on (tests pass one writing to a StringIO).
        columns: the logged columns, fixed up front.
        epochs: the number of epochs the run is configured for.
    """

    def __init__(self, console, columns, epochs):
        self.console = console
        self.columns = columns
        self.epochs = epochs
        self.progress = Progress(
            TextColumn(f"epoch {{task.fields[epoch]}}/{epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("batches"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[best]}"),
            console=console,
        )
        self.task = None
        self.live = None
        self.stride = 1
        self.best_label = ""

    def widths(self):
        """Column widths that fit every formatted value (see `format_value`), marker first."""
        narrow = {"epoch": len(f"{self.epochs}/{self.epochs}"), "lr": 7, "seconds": 7}
        return [1] + [max(len(c), narrow.get(c, 10)) for c in self.columns]

    def fits(self):
        """Whether a row fits the console's width (one space before each column)."""
        return sum(w + 1 for w in self.widths()) <= self.console.width

    def _table(self, header):
        table = Table(box=box.SIMPLE_HEAD, show_header=header, show_edge=False, pad_edge=False,
                      padding=(0, 0, 0, 1))
        for name, width in zip(["", *self.columns], self.widths()):
            table.add_column(name, justify="right" if name else "left", width=width, no_wrap=True)
        return table

    def on_train_begin(self, trainer):
        self.console.print(self._table(header=True))
        self.task = self.progress.add_task("", total=1, epoch=0, best="")
        self.live = Live(self.progress, console=self.console, transient=True, refresh_per_second=8)
        self.live.start()

    def on_epoch_begin(self, trainer, epoch):
        # Updating the bar every batch would cost more than a small batch's arithmetic.
        self.stride = max(1, trainer.n_batches // 200)
        self.progress.reset(self.task, total=trainer.n_batches, epoch=epoch, best=self.best_label)

    def on_batch_end(self, trainer, batch):
        if (batch + 1) % self.stride == 0:
            self.progress.update(self.task, completed=batch + 1)

    def on_epoch_end(self, trainer, logs):
        best = trainer.best
        is_best = best.epoch == logs["epoch"]
        table = self._table(header=False)
        cells = [format_value(c, logs[c]) for c in self.columns]
        cells[0] = f"{logs['epoch']}/{self.epochs}"
        table.add_row("*" if is_best else "", *cells, style="bold green" if is_best else None)
        self.console.print(table)
        if best.epoch is not None:
            value = format_value(best.monitor, best.value)
            self.best_label = f"best: epoch {best.epoch}, {best.monitor} {value}"
            self.progress.update(self.task, best=self.best_label)

    def on_train_end(self, trainer):
        if self.live is not None:
            self.live.stop()
            self.live = None


def make_reporter(console, columns, epochs, quiet=False):
    """The reporter for this console: none when quiet, a live table on a terminal wide enough
    for it, else plain lines."""
    if quiet:
        return None
    if console.is_terminal and not console.is_dumb_terminal:
        table = LiveTable(console, columns, epochs)
        if table.fits():
            return table
    return PlainLines(console, columns, epochs)


# ---------------------------------------------------------------- the end of a run


def _metric_rows(metrics):
    splits = [s for s in ("train", "val", "test") if s in metrics]
    names = list(dict.fromkeys(k for s in splits for k in metrics[s]))
    return splits, names


def saved_text(result):
    """Which epoch's weights model.npz holds, and why: 'Saved weights: epoch 12 (the best ...)'."""
    epoch = result.get("weights_epoch")
    if result.get("weights") == "best" and result.get("best_epoch") is not None:
        why = f"the best {result['monitor']}"
    else:
        why = "the last epoch"
    return f"Saved weights: epoch {epoch} ({why})"


def print_summary(console, result, path, stopped, quiet=False):
    """Best epoch, why training stopped, final metrics per split and the run directory.

    `result` is what metrics.json holds; `stopped` says in words why training ended. Quiet
    mode prints the run directory alone on the first line (for scripts), then one line of
    metrics per split.
    """
    splits, names = _metric_rows(result)
    plain = quiet or not console.is_terminal
    if quiet:
        console.print(str(path), markup=False, highlight=False, soft_wrap=True)
    else:
        if result.get("best_epoch") is not None:
            value = format_value(result["monitor"], result["best_value"])
            console.print(f"Best epoch {result['best_epoch']}: {result['monitor']} {value}",
                          markup=False, highlight=False)
        console.print(f"Stopped: {stopped}", markup=False, highlight=False)
        if result.get("weights_epoch") is not None:
            console.print(saved_text(result), markup=False, highlight=False)
    if plain:
        for split in splits:
            values = "  ".join(f"{n}={format_value(n, result[split][n])}" for n in names)
            console.print(f"{split}: {values}", markup=False, highlight=False, soft_wrap=True)
    else:
        table = Table(box=box.SIMPLE_HEAD, title="final metrics (saved weights)", title_justify="left")
        table.add_column("split")
        for name in names:
            table.add_column(name, justify="right")
        for split in splits:
            table.add_row(split, *(format_value(n, result[split][n]) for n in names))
        console.print(table)
    if not quiet:
        console.print(f"Run directory: {path}", markup=False, highlight=False, soft_wrap=True)
