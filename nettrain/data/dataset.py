"""From the data files a config names to split, preprocessed float arrays."""

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nettrain.data.columns import (
    categorical_columns,
    check_classes,
    class_labels,
    infer_task,
    label_codes,
)
from nettrain.data.csvfast import read_simple_csv
from nettrain.data.dates import expand_dates, feature_columns, find_date_columns
from nettrain.data.inspect import suspects
from nettrain.data.preprocess import (
    Preprocessor,
    check_target,
    describe_missing,
    missing_rows,
    numeric_values,
    shorten,
    text_values,
)
from nettrain.data.sequences import (
    note_token_ids,
    order_frames,
    preprocessor_class,
    sequence_categorical,
    sequence_features,
    split_parts,
    token_id_input,
)
from nettrain.data.splits import SPLITS, split_indices
from nettrain.data.tables import (
    SAMPLE_ROWS,
    SUPPORTED,
    TEXT_SUFFIXES,
    download_hint,
    read_delimited,
    read_parquet,
)
from nettrain.errors import ConfigError, DataError
from nettrain.registry import suggest


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
        """The shape of one sample, what the model's first layer gets: `(n_features,)`, or
        the sample shape of images and sequences (`data.shape`, an .npz X's own)."""
        return self.preprocessor.input_shape

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
    dtype = np.dtype(full["dtype"])
    files = _data_files(config, data)
    fast_csv = fast_csv and not (data["window"] or data["text"])  # they sort, tokenize
    frames = {name: _read_file(name, path, shown, _as_list(data["target"]), dtype, fast_csv,
                               data)
              for name, (path, shown) in files.items()}
    frames = order_frames(frames, data)  # data.window.order_by
    first_name = next(iter(frames))
    first = frames[first_name]
    shape = sample_shape(config, data, first)
    targets, features = _pick_columns(frames, data, files)
    features = sequence_features(data, first, targets, features)
    loss = full["loss"]["name"]
    notes = list(first.attrs.get("notes", []))  # e.g. unreadable images skipped
    if preprocessor is None:
        dates = find_date_columns(first, features, data["dates"])
        frames = {name: expand_dates(df, dates) for name, df in frames.items()}
        first = frames[first_name]
        task, note = infer_task(first, targets, data["task"], loss)
        tabular = sequence_categorical(data, features)  # not a text column, not the target
        notes += [f"warning: {w}" for w in suspects(
            first, [f for f in tabular if f not in dates and f not in targets], targets,
            task).values()]
        features = feature_columns(features, dates)
        categorical = categorical_columns(first, sequence_categorical(data, features),
                                          data["categorical"], data["onehot_limit"])
    else:
        task, note, dates = preprocessor.task, None, preprocessor.dates
        frames = {name: expand_dates(df, dates) for name, df in frames.items()}
        categorical = list(preprocessor.levels)
        features, targets = preprocessor.features, preprocessor.targets
    notes += [note] if note else []
    notes += [f"dates: {c!r} -> {', '.join(parts)}" for c, parts in dates.items()]
    numeric = [f for f in sequence_categorical(data, features) if f not in categorical]
    drop_target = data["missing_target"] == "drop"
    rows = {name: _usable_rows(df, f"'{files[name][1]}'", numeric, categorical, targets, task,
                               data["missing"], notes, drop_target)
            for name, df in frames.items()}
    classes = None
    if task == "classification":
        classes = (preprocessor.classes if preprocessor is not None
                   else class_labels([(df[targets[0]], rows[name]) for name, df in frames.items()]))
        check_classes(classes, targets[0], sum(len(r) for r in rows.values()))
        notes.append(f"classes: {_shorten([str(c) for c in classes.tolist()])}")
    parts = split_parts(data, frames, rows, notes, lambda: _split_parts(
        frames, rows, data, full["seed"], targets, classes, notes))
    token_ids = token_id_input(config)
    if token_ids:
        data["scale"] = "none"  # token ids are never scaled
    pre = preprocessor or preprocessor_class(data)(features, targets, task, categorical, classes,
                                       data["missing"], data["scale"], data["scale_target"],
                                       dtype, dates=dates, missing_target=data["missing_target"],
                                       sample_shape=shape)
    splits = _transform_parts(pre, parts, frames, notes)
    if token_ids:
        note_token_ids(pre, splits, notes)
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
def _read_file(name, path, shown, targets, dtype, fast, data):
    """read_table for the config's data.path (name "all") or data.train/val/test, whose key
    any reading error names."""
    if data["images"]:
        from nettrain.data.images import read_image_folder

        return read_image_folder(path, shown, data["image_size"], data["color"], data["missing"])
    try:
        return read_table(path, shown, targets=targets, dtype=dtype, fast=fast,
                          sep=data["sep"], encoding=data["encoding"])
    except DataError as err:
        raise DataError(f"data.{'path' if name == 'all' else name}: {err}") from None


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
    name = path.name.lower()
    if name.endswith(".npz"):
        return _read_npz(path, where, targets)
    if name.endswith(".parquet"):
        return read_parquet(path, where)
    if not name.endswith(TEXT_SUFFIXES):
        raise DataError(f"Data file {where} has an unsupported format; use {SUPPORTED}.")
    targets, dtype = set(targets or ()), np.dtype(dtype)
    simple = fast and name.endswith(".csv") and sep in (None, ",") and encoding.lower() in (
        "utf-8", "utf8")
    table = read_simple_csv(path, targets, dtype, SAMPLE_ROWS) if simple else None
    return read_delimited(path, where, targets, dtype, sep, encoding) if table is None else table


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
        names = targets if targets and len(targets) == y.shape[1] else (
            ["y"] if y.shape[1] == 1 else [f"y{j}" for j in range(y.shape[1])])
        for j, name in enumerate(names):
            frame[name] = y[:, j]
        frame.attrs["targets"] = list(names)  # the target without data.target: y, or y0, y1, ...
    return frame


def sample_shape(config, data, first):
    """data.shape, or the first file's own sample shape (.npz X, image folder), or None.

    Images (three axes) default to scale: none; the resolved config records it.
    """
    shape = data["shape"] or first.attrs.get("sample_shape")
    if shape is not None and len(shape) == 3 and getattr(config, "sources", {}).get(
            "data.scale", "default") == "default":
        data["scale"] = "none"
    return None if shape is None else tuple(shape)


def _data_files(config, data):
    """{"all": (resolved, shown)} for path + split, or {"train": ..., "val": ..., "test": ...}."""
    if data["images"]:
        return {"all": (config.resolve_path(data["images"]), str(data["images"]))}
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


# ---- columns and task
def _as_list(value):
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _pick_columns(frames, data, files):
    """Target and feature column names, checked against every file's columns."""
    first_name, first = next(iter(frames.items()))
    columns = [str(c) for c in first.columns]
    targets = _as_list(data["target"])
    if not targets:
        if first.attrs.get("targets"):  # an .npz's y, without a configured target name
            targets = list(first.attrs["targets"])
        elif "y" in columns:
            targets = [c for c in columns if c == "y" or (c[1:].isdigit() and c[0] == "y")]
        else:
            raise DataError(f"data.target is not set. Name the column to predict; the columns "
                            f"of '{files[first_name][1]}' are: {', '.join(columns)}.")
    exclude = _as_list(data["exclude"])
    absent = [c for c in exclude if c not in columns]
    if absent:
        raise DataError(f"data.exclude: column(s) {', '.join(map(repr, absent))} not found in "
                        f"'{files[first_name][1]}'.{suggest(absent[0], columns)} Its columns are: "
                        f"{_shorten(columns, 40)}.")
    features = _as_list(data["features"]) or [c for c in columns
                                                  if c not in targets and c not in exclude]
    both = [c for c in features if c in targets]
    if both and not data["window"]:  # a series' past target values are features
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


def _usable_rows(frame, where, numeric, categorical, targets, task, missing, notes,
                 drop_target=False):
    """Row positions left after the target and missing-value checks on the whole file.

    With `drop_target` (data.missing_target: drop) rows whose target is missing are left
    out instead of being an error.
    """
    rows = np.arange(len(frame))
    unknown = np.zeros(len(frame), dtype=bool)
    for target in targets:
        if task == "classification":
            bad = text_values(frame[target])[1]
        else:
            bad = ~np.isfinite(numeric_values(frame[target], target).astype(float))
        if not drop_target:
            check_target(bad, target, rows)
        unknown |= bad
    if unknown.any():
        if unknown.all():
            raise DataError(f"Every row of {where} has a missing target, so "
                            "data.missing_target: drop leaves nothing to learn from.")
        notes.append(f"missing_target: dropped {int(unknown.sum()):,} of {len(rows):,} rows of "
                     f"{where} whose target is missing")
        rows = rows[~unknown]
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
    split = data["split"]
    frame, kept = frames["all"], rows["all"]
    strata = names = None
    stratified = split["stratify"] and classes is not None
    if stratified:
        strata = label_codes(frame[targets[0]], kept, classes)
        names = [str(c) for c in classes.tolist()]
    picked = split_indices(len(kept), split, seed, strata, names, notes)
    parts = {name: ("all", kept[idx]) for name, idx in picked.items()}
    sizes = " / ".join(f"{len(idx)} {name}" for name, idx in picked.items())
    how = f", stratified by {targets[0]!r}" if stratified else ""
    notes.append(f"split: {sizes} rows (seed {seed}{how})")
    return parts


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
    return shorten(items, limit)
