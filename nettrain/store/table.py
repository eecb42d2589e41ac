"""`nettrain runs`: the runs under a folder as one table (a pandas DataFrame), newest first."""

import math
from pathlib import Path

from nettrain.errors import ConfigError, DataError
from nettrain.registry import suggest
from nettrain.store.listing import COLUMNS, records


def runs(folder="runs", sort=None):
    """Every run directory under `folder`, one row each, newest first (or sorted by `sort`).

    Columns: name, path, started, state (finished, interrupted, running, unfinished, damaged), epochs,
    stopped_reason, best_epoch, monitor, best_value, test_<metric> for each test metric, and
    note (what is missing or unreadable). Unfinished and damaged runs are rows like any other.

    Args:
        folder: the folder to search (run directories at any depth; grid-search trials too).
        sort: a column to sort by instead: best first for test metrics and best_value
            (lowest loss, highest accuracy), newest first for started, else ascending.
    """
    import pandas as pd

    folder = Path(folder)
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise DataError(f"'{folder}' {what}. Give the folder run directories are written to "
                        "(the config's `output`, default runs/).")
    rows = [r.row() for r in records(folder)]
    metric_columns = list(dict.fromkeys(k for row in rows for k in row if k.startswith("test_")))
    frame = pd.DataFrame(rows, columns=[*COLUMNS, *metric_columns, "note"])
    for column in ("epochs", "best_epoch"):
        frame[column] = frame[column].astype("Int64")
    frame["started"] = pd.to_datetime(frame["started"])
    if sort is not None:
        frame = sort_runs(frame, sort)
    return frame.reset_index(drop=True)


def sort_runs(frame, key):
    """The table sorted by one of its columns (see `runs`); NaN and empty values last."""
    if key not in frame.columns:
        raise ConfigError(f"--sort {key}: no such column.{suggest(key, list(frame.columns))} "
                          f"Choose one of: {', '.join(frame.columns)}.")
    descending = key == "started" or _mode(frame, key) == "max"
    return frame.sort_values(key, ascending=not descending, na_position="last", kind="stable")


def _mode(frame, key):
    from nettrain.nn.metrics import metric_mode

    if key.startswith("test_"):
        name = key[len("test_"):]
    elif key == "best_value":
        monitors = set(frame["monitor"].dropna())
        if len(monitors) != 1:
            return "min"
        name = monitors.pop().removeprefix("train_")
    else:
        return None
    try:
        return metric_mode(name)
    except ConfigError:
        return None


WIDE = 160  # narrower consoles get fewer, merged columns


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
