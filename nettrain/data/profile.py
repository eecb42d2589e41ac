"""What a table holds, for a config written for it (`nettrain init --data`): the task, the
columns to leave out (row ids, text with too many values, leaks), dates, gaps and classes."""

import numpy as np

from nettrain.data.columns import ONEHOT_LIMIT, infer_task
from nettrain.data.dates import find_date_columns
from nettrain.data.files import read_table
from nettrain.data.inspect import id_range, suspects
from nettrain.data.values import shorten, text_values
from nettrain.errors import DataError
from nettrain.registry import suggest


def profile_table(path, target, sep=None):
    """What a starter config for a table needs to know about it: a dict of findings.

    Keys: path, target, rows, task, missing_target (rows without a target), exclude
    ({column: why it is left out}), dates ({column: its numeric parts}), features (the
    columns kept), gaps ({column: missing values}), inputs (about how many input features
    they make) and, for classification, classes ({label: rows}).
    """
    frame = read_table(path, str(path), targets=[target], fast=False, sep=sep)
    columns = [str(c) for c in frame.columns]
    if target not in columns:
        raise DataError(f"--target: column {target!r} not found in '{path}'.{suggest(target, columns)} "
                        f"Its columns are: {shorten(columns, 40)}.")
    features = [c for c in columns if c != target]
    if not features:
        raise DataError(f"'{path}' has only the column {target!r}: nothing to learn from.")
    found = {"path": path, "target": target, "rows": len(frame), "exclude": {}, "dates": {}}
    target_missing = text_values(frame[target])[1]
    found["missing_target"] = int(target_missing.sum())
    known = frame[~target_missing]
    if len(known) == 0:
        raise DataError(f"Column {target!r} of '{path}' is empty in every row.")
    task, _ = infer_task(known, [target])
    found["task"] = task
    for name, why in suspects(known, features, [target], task).items():
        found["exclude"][name] = ("a row number" if id_range(known[name]) is not None
                                  else "gives the target away (a leak)")
    found["dates"] = find_date_columns(frame, [f for f in features if f not in found["exclude"]])
    for name in features:
        if name in found["exclude"] or name in found["dates"]:
            continue
        levels = _text_levels(frame[name])
        if levels is not None and levels > ONEHOT_LIMIT:
            found["exclude"][name] = f"text with {levels:,} distinct values (an id or free text)"
    kept = [f for f in features if f not in found["exclude"]]
    if not kept:
        raise DataError(f"Every feature column of '{path}' looks like an id or a leak "
                        f"({', '.join(found['exclude'])}); there is nothing to learn from.")
    found["features"] = kept
    found["gaps"] = {c: int(n) for c in kept if (n := _missing(frame[c]).sum())}
    found["inputs"] = sum(len(found["dates"][c]) if c in found["dates"] else
                          (_text_levels(frame[c]) or 1) for c in kept)
    if task == "classification":
        labels, counts = np.unique(text_values(known[target])[0], return_counts=True)
        if len(labels) < 2:
            raise DataError(f"Column {target!r} of '{path}' holds a single class ({labels[0]!r}): "
                            "there is nothing to tell apart.")
        found["classes"] = dict(zip(labels.tolist(), counts.tolist()))
    return found


def _text_levels(series):
    """The number of distinct values of a text column, None for a numeric one."""
    from nettrain.data.csvfast import is_number_dtype

    if is_number_dtype(series.dtype):
        return None
    return int(series.dropna().nunique())


def _missing(series):
    from nettrain.data.csvfast import is_number_dtype

    if is_number_dtype(series.dtype):
        return ~np.isfinite(np.asarray(series.to_numpy(), dtype=np.float64))
    return text_values(series)[1]
