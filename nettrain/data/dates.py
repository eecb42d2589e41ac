"""Date and time columns become numeric parts (year, month, day, day of week, hour).

A feature column is a date column when it is named in `data.dates`, or when it holds text
and every sampled value is an ISO 8601 date or date-time (`2021-03-04`, `2021-03-04 05:06`,
`2021-03-04T05:06:07Z`). One-hot encoding such a column would give one input per distinct
timestamp, none of which a new row could match; its parts carry the seasonality instead.
The parts chosen on the train data are saved in preprocess.json and applied to new data.
"""

import re

import numpy as np

from nettrain.data.csvfast import Table, is_number_dtype
from nettrain.errors import DataError

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
                      r"(?:Z|[+-]\d{2}:?\d{2})?$")
PARTS = ("year", "month", "day", "dayofweek", "hour")
SAMPLE = 200  # values looked at to recognise an ISO date column


def part_name(column, part):
    """The name of a date part's input column, e.g. `time_month`."""
    return f"{column}_{part}"


def looks_like_dates(series):
    """Whether a text column's first non-missing values are all ISO dates."""
    if is_number_dtype(series.dtype):
        return False
    values = series.dropna().iloc[:SAMPLE]
    values = [v for v in values if isinstance(v, str)]
    return bool(values) and all(ISO_DATE.match(v.strip()) for v in values)


def find_date_columns(frame, features, named=None):
    """{column: [parts]} for the date columns among `features` (those in `named` and the
    ISO-looking text columns); the hour is kept only when some value has a time of day."""
    named = list(named or [])
    absent = [c for c in named if c not in features]
    if absent:
        raise DataError(f"data.dates: column(s) {', '.join(map(repr, absent))} are not feature "
                        "columns of the data (check the spelling, data.features and data.exclude).")
    found = {}
    for name in features:
        series = frame[name]
        if name not in named and not looks_like_dates(series):
            continue
        stamps = parse(series, name, strict=name in named)
        parts = list(PARTS)
        times = stamps[~np.isnat(stamps)]
        if not len(times) or not (times - times.astype("datetime64[D]")).astype(np.int64).any():
            parts.remove("hour")
        found[name] = parts
    return found


def parse(series, name, strict=False):
    """The column as datetime64 values (NaT where missing or, unless strict, unreadable)."""
    import pandas as pd

    if is_number_dtype(series.dtype) and not np.all(np.isnan(np.asarray(series.to_numpy(), float))):
        raise DataError(f"data.dates: column {name!r} holds numbers, not ISO 8601 dates such as "
                        "2021-03-04 or 2021-03-04T05:06:07. Leave it out of data.dates.")
    values = pd.Series(np.asarray(series.to_numpy(dtype=object)), dtype=object)
    try:
        stamps = pd.to_datetime(values, format="ISO8601", errors="coerce")
    except (ValueError, TypeError):  # mixed time zones: compare them in UTC
        stamps = pd.to_datetime(values, format="ISO8601", errors="coerce", utc=True)
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_localize(None)
    bad = stamps.isna().to_numpy() & values.notna().to_numpy()
    if strict and bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"data.dates: column {name!r} row {row + 1} holds {values[row]!r}, which is "
                        "not an ISO 8601 date (2021-03-04, 2021-03-04 05:06 or "
                        f"2021-03-04T05:06:07; {int(bad.sum())} such value(s) in all). Fix those "
                        "cells, or empty them to make them missing values.")
    return stamps.to_numpy(dtype="datetime64[ns]")


def date_parts(stamps, parts):
    """{part: float64 array} of datetime64 values; NaN where a value is missing."""
    missing = np.isnat(stamps)
    days = stamps.astype("datetime64[D]")
    months = stamps.astype("datetime64[M]")
    years = stamps.astype("datetime64[Y]")
    every = {
        "year": years.astype(np.int64) + 1970,
        "month": (months - years).astype(np.int64) + 1,
        "day": (days - months).astype(np.int64) + 1,
        "dayofweek": (days.astype(np.int64) + 3) % 7,  # 1970-01-01 was a Thursday; Monday is 0
        "hour": (stamps - days).astype("timedelta64[h]").astype(np.int64),
    }
    return {p: np.where(missing, np.nan, every[p].astype(np.float64)) for p in parts}


def expand_dates(frame, dates):
    """`frame` with each date column's part columns added (`time_year`, ...), unless present."""
    if not dates:
        return frame
    added = {}
    for name, parts in dates.items():
        if all(part_name(name, p) in frame.columns for p in parts):
            continue
        if name not in frame.columns:
            continue  # reported as a missing column by the preprocessor
        stamps = parse(frame[name], name)
        for part, values in date_parts(stamps, parts).items():
            added[part_name(name, part)] = values
    if not added:
        return frame
    if isinstance(frame, Table):
        from nettrain.data.csvfast import Column

        columns = {c: frame[c] for c in frame.columns}
        columns.update({c: Column(v, np.isnan(v)) for c, v in added.items()})
        return Table(columns)
    return frame.assign(**added)


def feature_columns(features, dates):
    """The input columns once each date column is replaced by its parts, in order."""
    out = []
    for name in features:
        out += [part_name(name, p) for p in dates[name]] if name in dates else [name]
    return out
