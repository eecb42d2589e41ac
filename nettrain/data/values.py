"""A column's values as numbers or text, missing values found and described."""

import numpy as np

from nettrain.data.csvfast import Column, is_number_dtype, isna
from nettrain.errors import DataError

SHOWN = 10  # values a message lists before "... (N more)"


def shorten(items, limit=SHOWN):
    """Items joined with commas, cut after `limit`: 'a, b, ... (8,480 more)'."""
    items = [str(i) for i in items]
    more = f", ... ({len(items) - limit:,} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def numeric_values(series, name, rows=None):
    """Column `name` (at positions `rows`) as a numeric array; NaN stands for an empty cell.

    A text column is parsed; the first value that is not a number is a DataError.
    """
    dtype = series.dtype
    if is_number_dtype(dtype):
        if isinstance(dtype, np.dtype):
            values = series.to_numpy()
        else:  # pandas extension types (Int64, Float64, boolean) with <NA>
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return values if rows is None else values[rows]
    values = series.to_numpy(dtype=object)
    if rows is not None:
        values = values[rows]
    parsed = _parse_numbers(series, values)
    bad = np.isnan(parsed) & ~isna(series, values)
    if bad.any():
        i = int(np.argmax(bad))
        row = (i if rows is None else int(rows[i])) + 1
        raise DataError(
            f"Column {name!r} must be numeric, but row {row} holds {values[i]!r} "
            f"({int(bad.sum())} non-numeric value(s) in all). Fix or empty those cells "
            "(an empty cell is a missing value, see data.missing)."
        )
    return parsed


def _parse_numbers(series, values):
    if isinstance(series, Column):
        return np.full(len(values), np.nan)  # a Column's text holds no numbers
    import pandas as pd

    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)


def text_values(series, rows=None):
    """Column values as strings (for category levels and labels), plus the missing mask."""
    values = series.to_numpy(dtype=object)
    if rows is not None:
        values = values[rows]
    return values.astype(str), isna(series, values)


def missing_rows(frame, numeric, categorical, rows):
    """Rows (among `rows`) with a NaN/inf feature, and {column: (count, first row number)}."""
    any_missing = np.zeros(len(rows), dtype=bool)
    found = {}
    for name in list(numeric) + list(categorical):
        if name in categorical:
            miss = text_values(frame[name], rows)[1]
        else:
            values = numeric_values(frame[name], name, rows)
            if values.dtype.kind not in "fc":
                continue  # integers and booleans cannot be missing
            miss = ~np.isfinite(values)
        if miss.any():
            found[name] = (int(miss.sum()), int(rows[np.argmax(miss)]) + 1)
            any_missing |= miss
    return any_missing, found


def describe_missing(found, where):
    """One paragraph listing the columns with missing values and what to do about them."""
    listed = ", ".join(f"{c}: {n} row(s), first row {r}" for c, (n, r) in found.items())
    return (
        f"Missing or non-finite values (NaN, empty cell or inf) in {where}: {listed}. "
        "Fix the data, or set data.missing to 'drop' (leave those rows out) or 'mean' "
        "(fill numeric columns with the train split's means; a missing category encodes "
        "as all zeros)."
    )


def check_target(bad, name, rows):
    """NaN or inf in a target column (`bad` marks them) is always an error."""
    if bad.any():
        first = int(rows[np.argmax(bad)]) + 1
        raise DataError(
            f"Target column {name!r} has {int(bad.sum())} missing or non-finite value(s) "
            f"(first at row {first}). A target must be known for every row used to train or "
            "score: set data.missing_target: drop to leave those rows out (data.missing "
            "applies to features only)."
        )
