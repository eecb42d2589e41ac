"""The data files a config names, and a data file read by its format into a table.

A format is one entry of `config.schema.DATA_FORMATS` (its suffixes, which the config checks)
and its reader here, in READERS (and, for a table format, its cells in `read_cells` /
`write_cells`, which write the fold files of `nettrain cv` in the data's own format).
"""

import os
from pathlib import Path

import numpy as np

from nettrain.config.schema import data_format
from nettrain.data.csvfast import read_simple_csv
from nettrain.data.splits import SPLITS
from nettrain.data.tables import SAMPLE_ROWS, download_hint, read_delimited, read_parquet
from nettrain.errors import ConfigError, DataError
from nettrain.registry import suggest

SUPPORTED = ".csv, .tsv, .parquet (each may be .gz but parquet) or .npz (arrays X and y)"


def data_files(config):
    """{"all": (resolved, shown)} for data.path, or {"train": ..., "val": ..., "test": ...}."""
    data = config.data["data"]
    named = {k: data[k] for k in SPLITS if data[k]}
    if data["path"] and named:
        raise ConfigError(f"data.path and data.{next(iter(named))} are both set: give either "
                          "one file with data.split, or train/val/test files.")
    if data["path"]:
        return {"all": (config.resolve_path(data["path"]), str(data["path"]))}
    if "train" not in named:
        raise ConfigError("data.path is not set: give the data file (data.path), or "
                          "separate files as data.train, data.val and data.test.")
    return {k: (config.resolve_path(v), str(v)) for k, v in named.items()}


def read_table(path, shown=None, targets=None, dtype="float32", fast=False, sep=None,
               encoding="utf-8"):
    """A .csv, .tsv, .parquet or .npz file as a DataFrame; `shown` is the path as the user wrote it.

    Numeric CSV columns are read straight into `dtype` floats (not float64 first) to keep
    memory low. An .npz holds arrays `X` (n, ...) and optionally `y`; X is flattened to
    columns x0, x1, ... and y becomes the target column(s), named `targets` or y / y0, y1, ...
    With `fast`, a small, simple CSV file comes back as a `csvfast.Table` with the same
    columns and values, read without pandas; anything else is read as usual. `sep` and
    `encoding` are those of text files (see `tables.read_delimited`).
    """
    path, shown = Path(path), shown or str(path)
    where = f"'{shown}'" + (f" (resolved to '{path}')" if str(path) != shown else "")
    if not path.is_file():
        near = suggest(path.name, os.listdir(path.parent)) if path.parent.is_dir() else ""
        what = "is a directory, not a file" if path.is_dir() else "not found"
        # `shown` differs from `path` when it was resolved against a config file's folder
        hint = " Paths in a config are relative to the config file." if str(path) != shown else ""
        raise DataError(f"Data file {where} {what}.{near}{hint}{download_hint(path)}")
    fmt = data_format(path.name)
    if fmt is None:
        raise DataError(f"Data file {where} has an unsupported format; use {SUPPORTED}.")
    options = {"targets": list(targets or ()), "dtype": np.dtype(dtype), "fast": fast,
               "sep": sep, "encoding": encoding}
    return READERS[fmt](path, where, options)


def _read_text(path, where, options, default_sep=","):
    sep, encoding, dtype = options["sep"], options["encoding"], options["dtype"]
    targets = set(options["targets"])
    simple = (options["fast"] and path.name.lower().endswith(".csv") and sep in (None, ",")
              and encoding.lower() in ("utf-8", "utf8"))
    table = read_simple_csv(path, targets, dtype, SAMPLE_ROWS) if simple else None
    if table is not None:
        return table
    return read_delimited(path, where, targets, dtype, sep or default_sep, encoding)


def _read_npz(path, where, options):
    import pandas as pd

    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except Exception as err:  # a bad zip, object arrays or a truncated file, all alike
        raise DataError(f"Data file {where} cannot be read as .npz: {err}.") from None
    if "X" not in arrays:
        raise DataError(f"Data file {where} has no array 'X' (it has: "
                        f"{', '.join(arrays) or 'none'}). Save it with "
                        "numpy.savez(path, X=..., y=...).")
    X = arrays["X"]
    if X.ndim == 0 or len(X) == 0:  # before any reshape: (0, -1) has no shape to take
        raise DataError(f"Data file {where} has no rows.")
    shape = X.shape[1:]
    X = X.reshape(len(X), -1) if X.ndim != 2 else X
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])], copy=False)
    if len(shape) > 1:  # images (n, C, H, W), sequences (n, T, F): keep the sample shape
        frame.attrs["sample_shape"] = list(shape)
    if "y" in arrays:
        y = arrays["y"]
        if len(y) != len(X):
            raise DataError(f"Data file {where}: X has {len(X)} rows but y has {len(y)}.")
        y = y.reshape(len(y), -1)
        targets = options["targets"]
        names = targets if targets and len(targets) == y.shape[1] else (
            ["y"] if y.shape[1] == 1 else [f"y{j}" for j in range(y.shape[1])])
        for j, name in enumerate(names):
            frame[name] = y[:, j]
        frame.attrs["targets"] = list(names)  # the target without data.target: y, or y0, y1, ...
    return frame


def read_cells(path, sep=None, encoding="utf-8"):
    """A table file as the cells it holds, to be written back unchanged by `write_cells`:
    delimited text as strings (no cell read as missing), Parquet with its own types."""
    import pandas as pd

    if data_format(path) == "parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep=_text_sep(path, sep), encoding=encoding, dtype=str,
                       keep_default_na=False)


def write_cells(frame, path, like, sep=None, encoding="utf-8"):
    """Rows that `read_cells` read from the file `like`, written to `path` in its format."""
    if data_format(like) == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, sep=_text_sep(like, sep), encoding=encoding, index=False)


def _text_sep(path, sep):
    """`sep`, else a tab for .tsv/.tab files and a comma for the others."""
    if sep is not None:
        return sep
    return "\t" if data_format(path) == "tsv" else ","


READERS = {  # format (config.schema.DATA_FORMATS) -> reader(path, where, options)
    "csv": _read_text,
    "tsv": lambda path, where, options: _read_text(path, where, options, default_sep="\t"),
    "parquet": lambda path, where, options: read_parquet(path, where),
    "npz": _read_npz,
}
