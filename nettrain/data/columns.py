"""What a table's columns are: the task a target implies, text features, class labels."""

import numpy as np

from nettrain.config.schema import DATA
from nettrain.data.csvfast import Column, index_of, is_number_dtype, to_numeric, unique
from nettrain.data.values import numeric_values
from nettrain.errors import DataError

MAX_AUTO_CLASSES = 20  # task: auto calls an integer target with at most this many values classes
ONEHOT_LIMIT = DATA["onehot_limit"].default  # most inputs one column may one-hot encode into


def _loss_task(name):
    from nettrain.nn.losses import LOSSES

    return LOSSES[name].task


def infer_task(frame, targets, task="auto", loss="cross_entropy"):
    """("classification" | "regression", a note saying why) for the target column(s)."""
    if len(targets) > 1:
        if task == "classification":
            raise DataError(f"data.task is classification but data.target lists {len(targets)} "
                            "columns; classification takes one target column.")
        for name in targets:
            numeric_values(frame[name], name)
        return "regression", (f"task: regression with {len(targets)} targets" if task == "auto"
                              else None)
    name = targets[0]
    series = frame[name]
    is_text = not is_number_dtype(series.dtype)
    if task == "regression":
        parsed = to_numeric(series).notna().sum()
        if is_text and parsed < series.notna().sum() / 2:
            raise DataError(f"data.task is regression but target {name!r} holds text (e.g. "
                            f"{series.dropna().iloc[0]!r}). Use task: classification or auto.")
        numeric_values(series, name)
        return "regression", None
    if task == "classification":
        return "classification", None
    values = series.dropna()
    n_unique = values.nunique()
    if is_text or _is_bool(series.dtype):
        kind = "text" if is_text else "boolean"
        return "classification", (f"task: classification (target {name!r} has {n_unique} "
                                  f"{kind} values)")
    integral = bool(np.all(np.mod(values.to_numpy(dtype=np.float64), 1) == 0))
    few = integral and n_unique <= min(MAX_AUTO_CLASSES, max(2, len(values) // 2))
    if few and _loss_task(loss) != "regression":
        return "classification", (f"task: classification (target {name!r} has {n_unique} "
                                  "integer values; set data.task: regression to override)")
    why = (f"loss is {loss}" if few else
           f"{n_unique} distinct {'integer' if integral else 'numeric'} values")
    return "regression", f"task: regression (target {name!r}: {why})"


def categorical_columns(frame, features, mode="onehot", limit=ONEHOT_LIMIT):
    """Feature columns that hold text, checked to be usable as one-hot categories."""
    found = []
    for name in features:
        series = frame[name]
        if is_number_dtype(series.dtype):
            continue
        present = series.dropna()
        parsed = to_numeric(present)
        if len(present) and parsed.notna().mean() >= 0.9:
            numeric_values(series, name)  # raises, naming the first non-number
        if mode != "onehot":
            raise DataError(f"Feature column {name!r} holds text (e.g. {present.iloc[0]!r}) "
                            f"and data.categorical is {mode!r}. Set data.categorical: onehot "
                            "or leave the column out of data.features.")
        n_levels = present.nunique()
        if n_levels > limit:
            looks = (" It looks like an identifier or free text." if n_levels > len(frame) / 2
                     else "")
            raise DataError(
                f"Feature column {name!r} holds text with {n_levels:,} distinct values in "
                f"{len(frame):,} rows: one-hot encoding would add {n_levels:,} inputs, more than "
                f"data.onehot_limit ({limit}).{looks} Leave it out with data.exclude: [{name}], "
                f"or raise data.onehot_limit if each value matters.")
        found.append(name)
    return found


def _is_bool(dtype):
    if isinstance(dtype, np.dtype):
        return dtype.kind == "b"
    import pandas as pd

    return pd.api.types.is_bool_dtype(dtype)


def class_labels(labels):
    """Sorted class labels over all files' (target column, rows); integral float labels
    become integers."""
    values = np.concatenate([series.to_numpy(dtype=object)[rows] for series, rows in labels])
    numeric = _numeric_labels(labels, values)
    if numeric is None:
        return unique(values.astype(str))
    classes = unique(numeric)
    if classes.dtype.kind == "f" and np.all(np.mod(classes, 1) == 0):
        classes = classes.astype(np.int64)
    return classes


def _numeric_labels(labels, values):
    """`values` (labels from every file) as numbers, or None when they are text, even text
    that looks numeric."""
    columns = [series for series, _ in labels]
    if all(isinstance(series, Column) for series in columns):
        # a Table's text holds no numbers, so pd.to_numeric below would fail on it
        if not all(is_number_dtype(series.dtype) for series in columns):
            return None
        return np.concatenate([series.to_numpy()[rows] for series, rows in labels])
    import pandas as pd

    try:
        numeric = pd.to_numeric(pd.Series(values), errors="raise").to_numpy()
        if values.dtype == object and any(isinstance(v, str) for v in values[:100]):
            raise ValueError  # text labels that happen to look numeric stay text
    except (ValueError, TypeError):
        return None
    return numeric


def label_codes(series, rows, classes):
    if classes.dtype.kind not in "iufb":
        labels = series.to_numpy(dtype=object)[rows].astype(str)
    elif isinstance(series, Column):
        labels = series.to_numpy()[rows]  # what pd.to_numeric makes of them
    else:
        import pandas as pd

        labels = pd.to_numeric(pd.Series(series.to_numpy(dtype=object)[rows])).to_numpy()
    return index_of(classes.tolist(), labels)


def check_classes(classes, target, n_rows):
    """A classification target needs two classes or more."""
    if len(classes) < 2:
        only = f"the single class {classes.tolist()[0]!r}" if len(classes) else "no class"
        raise DataError(f"Target column {target!r} holds {only} in its {n_rows:,} usable rows: "
                        "there is nothing to tell apart. Check data.target, and the rows that "
                        "data.missing and data.missing_target leave out.")
