"""`nettrain runs`: the run directories under a folder, one row each, newest first."""

import math

import click

WIDE = 160  # narrower consoles get fewer, merged columns


@click.command("runs")
@click.argument("folder", required=False, default="runs", type=click.Path(), metavar="[DIR]")
@click.option("--sort", "sort", metavar="KEY", default=None,
              help="Order by this column: best first for test_* metrics and best_value, newest "
                   "first for started, else ascending (default: newest first).")
@click.option("--csv", "as_csv", is_flag=True, help="Write CSV (every column) instead of a table.")
def command(folder, sort, as_csv):
    """List every run directory under DIR (default: runs/), grid-search trials included.

    \b
    Columns: name, path, started, state, epochs, stopped_reason, best_epoch, monitor,
    best_value, test_<metric> for each test metric, note. The state is finished,
    interrupted, running, unfinished (killed or diverged) or damaged; the note says what is
    missing or unreadable. From Python: nettrain.runs(DIR) returns the same DataFrame.
    """
    from nettrain.api import runs

    frame = runs(folder, sort)
    if as_csv:
        click.echo(frame.to_csv(index=False), nl=False)
        return
    if frame.empty:
        click.echo(f"No run directories under {folder}.")
        return
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # a pipe or a file: no terminal width to fit, keep every column
        console = Console(width=200)
    print_runs(frame, console)


def print_runs(frame, console):
    """The table on a rich Console, compact: the best value with its monitor, the test
    metrics in one column, numbers to 4 significant digits. A console narrower than WIDE
    leaves out name and stopped reason (the path holds the name; --csv has every column)
    and shows the best epoch with the best value."""
    from rich.table import Table

    wide = console.width >= WIDE
    columns = (["name", "path", "started", "state", "epochs", "stopped", "best epoch", "best",
                "test", "note"] if wide else
               ["path", "started", "state", "epochs", "best", "test", "note"])
    table = Table(show_edge=False, pad_edge=False)
    for title in columns:
        table.add_column(title, justify="right" if title in ("epochs", "best epoch") else "left",
                         no_wrap=title in ("started", "state", "epochs", "best epoch")
                         or (wide and title == "path"),
                         overflow="fold")
    metrics = [c for c in frame.columns if c.startswith("test_")]
    for _, row in frame.iterrows():
        best = f"{row['monitor']}={_cell(row['best_value'])}" if _cell(row["best_value"]) else ""
        if best and not wide:
            best += f" (epoch {_cell(row['best_epoch'])})"
        cells = {
            "name": row["name"], "path": row["path"], "started": _cell(row["started"]),
            "state": row["state"], "epochs": _cell(row["epochs"]),
            "stopped": _cell(row["stopped_reason"]), "best epoch": _cell(row["best_epoch"]),
            "best": best, "note": _cell(row["note"]),
            "test": " ".join(f"{c[5:]}={_cell(row[c])}" for c in metrics if _cell(row[c])),
        }
        table.add_row(*(cells[c] for c in columns), style=_style(row["state"]))
    console.print(table)


def _style(state):
    return {"damaged": "red", "unfinished": "yellow", "interrupted": "yellow", "running": "cyan"}.get(state)


def _cell(value):
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)
