"""From the data files a config names to split, preprocessed float arrays."""

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nettrain.data.csvfast import (Column, index_of, is_number_dtype, read_simple_csv, to_numeric,
                              unique)
from nettrain.errors import ConfigError, DataError
from nettrain.data.preprocess import (Preprocessor, check_target, describe_missing, missing_rows,
                                 numeric_values, text_values)
from nettrain.registry import suggest
from nettrain.data.splits import SPLITS, split_indices

DEFAULT_SPLIT = {"train": 0.7, "val": 0.15, "test": 0.15, "stratify": True}
MAX_AUTO_CLASSES = 20  # task: auto calls an integer target with at most this many values classes
CSV_CHUNK_ROWS = 100_000
SAMPLE_ROWS = 1000  # rows read first to find the numeric columns, which are then read as floats
ID_LEVELS = 100  # a text column with more levels than this and than half the rows is an id


@dataclass
class Dataset:
    """Split, preprocessed arrays and what was learned making them.

    `splits` maps "train"/"val"/"test" (absent when empty) to (X, y): X float
    (n, n_features), C-contiguous; y int64 class indices (n,) or float (n, n_targets).
    `n_outputs` is the number of units the last layer needs for the configured loss;
    `classes` the original labels in class-index order (a list), None for regression.
    `notes` tell the user what was inferred.
    """

    splits: dict
    preprocessor: Preprocessor
    task: str
    n_features: int
    n_outputs: int
    classes: object = None
    notes: list = field(default_factory=list)
    n_rows: dict = field(default_factory=dict)

    @property
    def input_shape(self):
        """The shape of one sample, what the model's first layer gets: `(n_features,)`."""
        return (self.n_features,)

    @property
    def feature_names(self):
        return self.preprocessor.feature_names

    @property
    def target_names(self):
        return self.preprocessor.targets


def prepare_data(config, preprocessor=None, fast_csv=False):
    """Read, check, split and preprocess the data that `config` names.

    Args:
        config: a `nettrain.config.loading.Config`: `config.data` is the resolved config dict and
            `config.resolve_path(p)` resolves a path relative to the config file.
        preprocessor: a fitted Preprocessor (from preprocess.json) to apply instead of
            fitting a new one on the train split.
        fast_csv: read small, simple CSV files without importing pandas (the same
            Dataset; `validate` uses it to start fast).
    """
    full, data = config.data, config.data["data"]
    dtype = np.dtype(full.get("dtype", "float32"))
    files = _data_files(config, data)
    frames = {name: _read_file(name, path, shown, _as_list(data.get("target")), dtype, fast_csv)
              for name, (path, shown) in files.items()}
    first_name = next(iter(frames))
    first = frames[first_name]
    targets, features = _pick_columns(frames, data, files)
    loss = _loss_name(full.get("loss"))
    notes = []
    if preprocessor is None:
        task, note = infer_task(first, targets, data.get("task", "auto"), loss)
        categorical = categorical_columns(first, features, data.get("categorical", "onehot"))
    else:
        task, note = preprocessor.task, None
        categorical = list(preprocessor.levels)
        features, targets = preprocessor.features, preprocessor.targets
    notes += [note] if note else []
    numeric = [f for f in features if f not in categorical]
    rows = {name: _usable_rows(df, f"'{files[name][1]}'", numeric, categorical, targets, task,
                               data.get("missing", "error"), notes)
            for name, df in frames.items()}
    classes = None
    if task == "classification":
        classes = (preprocessor.classes if preprocessor is not None
                   else _classes([(df[targets[0]], rows[name]) for name, df in frames.items()]))
        notes.append(f"classes: {_shorten([str(c) for c in classes.tolist()])}")
    parts = _split_parts(frames, rows, data, full.get("seed", 0), targets, classes, notes)
    pre = preprocessor or Preprocessor(features, targets, task, categorical, classes,
                                       data.get("missing", "error"), data.get("scale", "standard"),
                                       data.get("scale_target", "none"), dtype)
    splits = _transform_parts(pre, parts, frames, notes)
    if categorical:
        levels = ", ".join(f"{c} ({len(pre.levels[c])} levels)" for c in categorical)
        notes.append(f"one-hot encoded: {levels}")
    return Dataset(splits, pre, task, pre.n_features, n_outputs(task, loss, classes, targets),
                   None if classes is None else classes.tolist(), notes,
                   {split: len(X) for split, (X, _) in splits.items()})


def n_outputs(task, loss, classes, targets):
    """Units of the last dense layer: classes for cross_entropy, 1 for binary, k targets."""
    if task == "regression":
        return len(targets)
    # binary_cross_entropy with other than 2 classes is reported by config.check_against_data
    return 1 if loss == "binary_cross_entropy" else len(classes)


# ---- reading
def _read_file(name, path, shown, targets, dtype, fast):
    """read_table for the config's data.path (name "all") or data.train/val/test, whose key
    any reading error names."""
    try:
        return read_table(path, shown, targets=targets, dtype=dtype, fast=fast)
    except DataError as err:
        raise DataError(f"data.{'path' if name == 'all' else name}: {err}") from None


def read_table(path, shown=None, targets=None, dtype="float32", fast=False):
    """A .csv, .csv.gz or .npz file as a DataFrame; `shown` is the path as the user wrote it.

    Numeric CSV columns are read straight into `dtype` floats (not float64 first) to keep
    memory low. An .npz holds arrays `X` (n, ...) and optionally `y`; X is flattened to
    columns x0, x1, ... and y becomes the target column(s), named `targets` or y / y0, y1, ...
    With `fast`, a small, simple CSV file comes back as a `csvfast.Table` with the same
    columns and values, read without pandas; anything else is read as usual.
    """
    path, shown = Path(path), shown or str(path)
    where = f"'{shown}'" + (f" (resolved to '{path}')" if str(path) != shown else "")
    if not path.is_file():
        near = suggest(path.name, os.listdir(path.parent)) if path.parent.is_dir() else ""
        what = "is a directory, not a file" if path.is_dir() else "not found"
        # `shown` differs from `path` when it was resolved against a config file's folder
        hint = " Paths in a config are relative to the config file." if str(path) != shown else ""
        raise DataError(f"Data file {where} {what}.{near}{hint}")
    name = path.name.lower()
    if name.endswith(".npz"):
        return _read_npz(path, where, targets)
    if not name.endswith((".csv", ".csv.gz")):
        raise DataError(f"Data file {where} has an unsupported format; use .csv, .csv.gz or "
                        ".npz (arrays X and y).")
    targets, dtype = set(targets or ()), np.dtype(dtype)
    table = read_simple_csv(path, targets, dtype, SAMPLE_ROWS) if fast else None
    return _read_csv(path, where, targets, dtype) if table is None else table


def _read_csv(path, where, targets, dtype):
    import pandas as pd

    try:
        sample = pd.read_csv(path, nrows=SAMPLE_ROWS)
        hint = {c: dtype for c in sample.columns if c not in targets
                and pd.api.types.is_numeric_dtype(sample[c].dtype)
                and not pd.api.types.is_bool_dtype(sample[c].dtype)}
        try:
            frame = _read_chunks(path, hint)
        except ValueError:  # a later row holds text in a column that looked numeric
            frame = _read_chunks(path, None)
    except pd.errors.EmptyDataError:
        raise DataError(f"Data file {where} is empty: expected a header row of column "
                        "names and data rows.") from None
    except pd.errors.ParserError as err:
        raise DataError(f"Data file {where} is not a well-formed CSV: {str(err).strip()}. "
                        "Each row needs as many comma-separated fields as the header; quote "
                        "fields that contain commas.") from None
    except (UnicodeDecodeError, OSError, EOFError) as err:
        raise DataError(f"Data file {where} cannot be read as CSV text: {err}.") from None
    if len(frame) == 0:
        raise DataError(f"Data file {where} has a header but no data rows.")
    return frame


def _read_chunks(path, hint):
    import pandas as pd

    # Chunks bound the parser's working memory: read whole, a 1e6 x 100 file peaks near
    # 4x the size of its float32 result; in chunks, near 2x.
    with pd.read_csv(path, dtype=hint, chunksize=CSV_CHUNK_ROWS) as reader:
        chunks = list(reader)
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)


def _read_npz(path, where, targets):
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
    X = X.reshape(len(X), -1) if X.ndim != 2 else X
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])], copy=False)
    if "y" in arrays:
        y = arrays["y"]
        if len(y) != len(X):
            raise DataError(f"Data file {where}: X has {len(X)} rows but y has {len(y)}.")
        y = y.reshape(len(y), -1)
        names = targets if targets and len(targets) == y.shape[1] else (
            ["y"] if y.shape[1] == 1 else [f"y{j}" for j in range(y.shape[1])])
        for j, name in enumerate(names):
            frame[name] = y[:, j]
    if len(frame) == 0:
        raise DataError(f"Data file {where} has no rows.")
    return frame


def _data_files(config, data):
    """{"all": (resolved, shown)} for path + split, or {"train": ..., "val": ..., "test": ...}."""
    named = {k: data[k] for k in SPLITS if data.get(k)}
    if data.get("path") and named:
        raise ConfigError(f"data.path and data.{next(iter(named))} are both set: give either "
                          "one file with data.split, or train/val/test files.")
    if data.get("path"):
        return {"all": (config.resolve_path(data["path"]), str(data["path"]))}
    if "train" not in named:
        raise ConfigError("data.path is not set: give the data file (data.path), or "
                          "separate files as data.train, data.val and data.test.")
    return {k: (config.resolve_path(v), str(v)) for k, v in named.items()}


# ---- columns and task
def _as_list(value):
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _loss_name(loss):
    if isinstance(loss, dict):
        return loss.get("name")
    return loss if isinstance(loss, str) else "cross_entropy"


def _loss_task(name):
    from nettrain.nn.losses import LOSSES

    return getattr(LOSSES.get(name), "task", None)


def _pick_columns(frames, data, files):
    """Target and feature column names, checked against every file's columns."""
    first_name, first = next(iter(frames.items()))
    columns = [str(c) for c in first.columns]
    targets = _as_list(data.get("target"))
    if not targets:
        if "y" in columns:  # an .npz without a configured target name
            targets = [c for c in columns if c == "y" or (c[1:].isdigit() and c[0] == "y")]
        else:
            raise DataError(f"data.target is not set. Name the column to predict; the columns "
                            f"of '{files[first_name][1]}' are: {', '.join(columns)}.")
    features = _as_list(data.get("features")) or [c for c in columns if c not in targets]
    both = [c for c in features if c in targets]
    if both:
        raise DataError(f"Column(s) {', '.join(map(repr, both))} are both in data.target and "
                        "data.features; a target cannot be an input.")
    if not features:
        raise DataError(f"No feature columns: '{files[first_name][1]}' has only the target "
                        f"column(s) {', '.join(targets)}.")
    for name, df in frames.items():
        have = [str(c) for c in df.columns]
        for key, wanted in (("data.target", targets), ("data.features", features)):
            absent = [c for c in wanted if c not in have]
            if absent:
                raise DataError(
                    f"{key}: column(s) {', '.join(map(repr, absent))} not found in "
                    f"'{files[name][1]}'.{suggest(absent[0], have)} Its columns are: "
                    f"{_shorten(have, 40)}.")
    return targets, features


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


def categorical_columns(frame, features, mode="onehot"):
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
        if n_levels > ID_LEVELS and n_levels > len(frame) / 2:
            raise DataError(
                f"Feature column {name!r} holds text with {n_levels} distinct values in "
                f"{len(frame)} rows: it looks like an identifier or free text, and one-hot "
                f"encoding would add {n_levels} inputs. Leave it out of data.features.")
        found.append(name)
    return found


def _is_bool(dtype):
    if isinstance(dtype, np.dtype):
        return dtype.kind == "b"
    import pandas as pd

    return pd.api.types.is_bool_dtype(dtype)


def _classes(labels):
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


def _usable_rows(frame, where, numeric, categorical, targets, task, missing, notes):
    """Row positions left after the target and missing-value checks on the whole file."""
    rows = np.arange(len(frame))
    for target in targets:
        if task == "classification":
            check_target(text_values(frame[target])[1], target, rows)
        else:
            check_target(~np.isfinite(numeric_values(frame[target], target).astype(float)),
                         target, rows)
    miss, found = missing_rows(frame, numeric, categorical, rows)
    if not found:
        return rows
    if missing == "error":
        raise DataError(describe_missing(found, where))
    if missing == "drop":
        if miss.all():
            raise DataError(f"Every row of {where} has a missing value ({', '.join(found)}), so "
                            "data.missing: drop leaves nothing. Fix the data or use 'mean'.")
        notes.append(f"missing: dropped {int(miss.sum())} of {len(rows)} rows "
                     f"({', '.join(f'{c}: {n}' for c, (n, _) in found.items())})")
        return rows[~miss]
    filled = [f"{c}: {n}" for c, (n, _) in found.items() if c not in categorical]
    zeros = [f"{c}: {n}" for c, (n, _) in found.items() if c in categorical]
    notes.append("missing: " + "; ".join(
        ([f"filled with train means ({', '.join(filled)})"] if filled else [])
        + ([f"categories encoded as all zeros ({', '.join(zeros)})"] if zeros else [])))
    return rows


def _split_parts(frames, rows, data, seed, targets, classes, notes):
    """{split: (frame name, row positions)} from fractions or from separate files."""
    if "all" not in frames:
        return {name: (name, rows[name]) for name in frames}
    split = data.get("split") or DEFAULT_SPLIT  # fractions left out count as 0
    frame, kept = frames["all"], rows["all"]
    strata = names = None
    stratified = bool(split.get("stratify", True)) and classes is not None
    if stratified:
        strata = _label_codes(frame[targets[0]], kept, classes)
        names = [str(c) for c in classes.tolist()]
    picked = split_indices(len(kept), split, seed, strata, names)
    parts = {name: ("all", kept[idx]) for name, idx in picked.items()}
    sizes = " / ".join(f"{len(idx)} {name}" for name, idx in picked.items())
    how = f", stratified by {targets[0]!r}" if stratified else ""
    notes.append(f"split: {sizes} rows (seed {seed}{how})")
    return parts


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


def _label_codes(series, rows, classes):
    if classes.dtype.kind not in "iufb":
        labels = series.to_numpy(dtype=object)[rows].astype(str)
    elif isinstance(series, Column):
        labels = series.to_numpy()[rows]  # what pd.to_numeric makes of them
    else:
        import pandas as pd

        labels = pd.to_numeric(pd.Series(series.to_numpy(dtype=object)[rows])).to_numpy()
    return index_of(classes.tolist(), labels)


def _transform_parts(pre, parts, frames, notes):
    """Fit on the train part (unless already fitted), then transform every part."""
    splits = {}
    for split in SPLITS:
        if split not in parts:
            continue
        name, rows = parts[split]
        if split == "train" and not pre.fitted:
            splits[split] = pre.fit_transform(frames[name], rows)
        else:
            splits[split] = pre.transform(frames[name], require_target=True, rows=rows)
        notes += [f"{split}: {w}" for w in pre.warnings]
    return splits


def _shorten(items, limit=12):
    items = list(items)
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
