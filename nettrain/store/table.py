"""`nettrain runs`: the runs under a folder as one table (a pandas DataFrame), newest first."""

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
