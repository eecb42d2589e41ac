"""Columns that hurt a model without failing: row ids and targets in disguise (leaks).

`column_warnings` is run on the data a config names (its messages become warnings in the
notes `fit` and `validate` print); `nettrain init --data` uses the same checks to leave such
columns out of the config it writes.
"""

import numpy as np

from nettrain.data.csvfast import is_number_dtype, unique
from nettrain.data.values import text_values

LEAK_CORRELATION = 0.999  # a numeric feature this correlated with a numeric target is a copy
MAX_COLUMNS = 200  # wider data (pixels, one column per word) is not checked column by column


def id_range(series):
    """(first, last) when a column holds the whole numbers first..last once each, first 0
    or 1 (a row number, shuffled or not); else None."""
    if not is_number_dtype(series.dtype) or len(series) < 3:
        return None
    values = np.asarray(series.to_numpy(), dtype=np.float64)
    if not np.isfinite(values).all() or np.any(np.mod(values, 1)):
        return None
    first = values.min()
    if first not in (0, 1) or values.max() - first != len(values) - 1:
        return None
    return (int(first), int(values.max())) if len(unique(values)) == len(values) else None


def _codes(series):
    """(integer codes, missing mask) of a column's values (numbers as numbers, else text)."""
    if is_number_dtype(series.dtype):
        values = np.asarray(series.to_numpy(), dtype=np.float64)
        missing = np.isnan(values)
        values = np.where(missing, 0, values)
    else:
        values, missing = text_values(series)
    _, codes = np.unique(values, return_inverse=True)
    return codes.ravel(), missing


def one_to_one(feature, target):
    """The number of values when `feature` and a class target determine each other (every
    feature value goes with one class and every class with one value), else None."""
    f_codes, f_miss = _codes(feature)
    t_codes, t_miss = _codes(target)
    both = ~f_miss & ~t_miss
    f_codes, t_codes = f_codes[both], t_codes[both]
    if len(f_codes) < 2:
        return None
    k = len(unique(t_codes))
    pairs = len(unique(f_codes.astype(np.int64) * (t_codes.max() + 1) + t_codes))
    return k if k >= 2 and pairs == k == len(unique(f_codes)) else None


def correlation(feature, target):
    """|Pearson r| between two numeric columns over rows where both are finite, or None."""
    if not (is_number_dtype(feature.dtype) and is_number_dtype(target.dtype)):
        return None
    x = np.asarray(feature.to_numpy(), dtype=np.float64)
    y = np.asarray(target.to_numpy(), dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
    with np.errstate(over="ignore", invalid="ignore"):  # huge values: no correlation to report
        scale = np.sqrt((x * x).sum() * (y * y).sum())
        r = abs((x * y).sum()) / scale if len(x) > 2 and 0 < scale < np.inf else np.nan
    return float(r) if np.isfinite(r) else None


def id_warning(name, span):
    return (f"Column {name!r} runs {span[0]}..{span[1]} like a row number: an id tells the "
            "model nothing about new rows and lets it memorise the training ones. Leave it "
            f"out with data.exclude: [{name}].")


def leak_warning(name, target, why):
    return (f"Column {name!r} {why}: it is likely the target {target!r} in another form, which "
            f"new rows will not have (a leak). Leave it out with data.exclude: [{name}] unless "
            "it will be known when you predict.")


def suspects(frame, features, targets, task):
    """{column: warning} for the id-like and leaking feature columns."""
    found = {}
    if len(features) > MAX_COLUMNS:
        return found
    for name in features:
        series = frame[name]
        span = id_range(series)
        if span is not None:
            found[name] = id_warning(name, span)
            continue
        if len(targets) != 1:
            continue
        target = frame[targets[0]]
        if task == "classification":
            k = one_to_one(series, target)
            if k is not None:
                found[name] = leak_warning(name, targets[0], f"determines the target one to one "
                                                             f"(each of its {k} values goes with one class)")
        else:
            r = correlation(series, target)
            if r is not None and r >= LEAK_CORRELATION:
                found[name] = leak_warning(name, targets[0], f"is almost a linear function of the "
                                                             f"target (|correlation| {r:.4f})")
    return found
