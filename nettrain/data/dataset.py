"""From the data files a config names to split, preprocessed float arrays."""

from dataclasses import dataclass, field

import numpy as np

from nettrain.data.columns import (
    categorical_columns,
    check_classes,
    class_labels,
    infer_task,
    label_codes,
)
from nettrain.data.dates import expand_dates, feature_columns, find_date_columns
from nettrain.data.inspect import suspects
from nettrain.data.kinds import DataKind, data_kind_class
from nettrain.data.kinds.table import as_list
from nettrain.data.preprocess import check_target, describe_missing, missing_rows, shorten
from nettrain.data.splits import SPLITS, split_indices  # noqa: F401 (split_indices: re-exported)
from nettrain.data.values import numeric_values, text_values
from nettrain.errors import DataError
from nettrain.registry import suggest


@dataclass
class Dataset:
    """Split, preprocessed arrays and what was learned making them.

    `splits` maps "train"/"val"/"test" (absent when empty) to (X, y): X float
    (n, n_features), C-contiguous; y int64 class indices (n,) or float (n, n_targets).
    `n_outputs` is the number of units the last layer needs for the configured loss;
    `classes` the original labels in class-index order (a list), None for regression.
    `notes` tell the user what was inferred. `preprocessor` is the fitted data kind
    (`nettrain.data.kinds.DataKind`). `settled` holds the config values the data settled, by
    key path: {"data.scale": "none"} for token ids, and for images when data.scale was left
    to its default; the run's config.yaml records them (`Config.with_values`).
    """

    splits: dict
    preprocessor: DataKind
    task: str
    n_features: int
    n_outputs: int
    classes: object = None
    notes: list = field(default_factory=list)
    n_rows: dict = field(default_factory=dict)
    settled: dict = field(default_factory=dict)

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
            `config.resolve_path(p)` resolves a path relative to the config file. It is read,
            never written: what the data settles is in `Dataset.settled`.
        preprocessor: a fitted data kind (from preprocess.json) to apply instead of fitting a
            new one on the train split.
        fast_csv: read small, simple CSV files without importing pandas (the same
            Dataset; `validate` uses it to start fast).
    """
    full, data = config.data, config.data["data"]
    kind = data_kind_class(data)
    files = kind.files(config)
    frames = kind.read(config, files, fast_csv)
    first_name = next(iter(frames))
    first = frames[first_name]
    shape = _sample_shape(data, first)
    targets, features = _pick_columns(frames, data, files, kind.targets_may_be_features)
    features = kind.feature_columns(data, [str(c) for c in first.columns], targets, features)
    loss = full["loss"]["name"]
    notes = list(first.attrs.get("notes", []))  # e.g. unreadable images skipped
    if preprocessor is None:
        dates = find_date_columns(first, features, data["dates"])
        frames = {name: expand_dates(df, dates) for name, df in frames.items()}
        first = frames[first_name]
        task, note = infer_task(first, targets, data["task"], loss)
        tabular = kind.tabular_columns(data, features)  # not a text column, not the target
        notes += [f"warning: {w}" for w in suspects(
            first, [f for f in tabular if f not in dates and f not in targets], targets,
            task).values()]
        features = feature_columns(features, dates)
        categorical = categorical_columns(first, kind.tabular_columns(data, features),
                                          data["categorical"], data["onehot_limit"])
    else:
        task, note, dates = preprocessor.task, None, preprocessor.dates
        frames = {name: expand_dates(df, dates) for name, df in frames.items()}
        categorical = list(preprocessor.levels)
        features, targets = preprocessor.features, preprocessor.targets
    notes += [note] if note else []
    notes += [f"dates: {c!r} -> {', '.join(parts)}" for c, parts in dates.items()]
    numeric = [f for f in kind.tabular_columns(data, features) if f not in categorical]
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
    parts = kind.split(data, frames, rows, notes, lambda: _split_parts(
        frames, rows, data, full["seed"], targets, classes, notes))
    token_ids = _token_id_input(config)
    scale = _effective_scale(config, shape, token_ids)
    pre = preprocessor or kind.create(config, features=features, targets=targets, task=task,
                                      categorical=categorical, classes=classes, dates=dates,
                                      sample_shape=shape, scale=scale, token_ids=token_ids)
    splits = pre.fit_splits(frames, parts, notes)
    notes += pre.describe()
    settled = {"data.scale": scale} if scale != data["scale"] else {}
    return Dataset(splits, pre, task, pre.n_features, n_outputs(task, loss, classes, targets),
                   None if classes is None else classes.tolist(), notes,
                   {split: len(X) for split, (X, _) in splits.items()}, settled)


def n_outputs(task, loss, classes, targets):
    """Units of the last dense layer: classes for cross_entropy, 1 for binary, k targets."""
    if task == "regression":
        return len(targets)
    # binary_cross_entropy with other than 2 classes is reported by config.check_against_data
    return 1 if loss == "binary_cross_entropy" else len(classes)


def _sample_shape(data, first):
    """data.shape, or the first file's own sample shape (.npz X, image folder), or None."""
    shape = data["shape"] or first.attrs.get("sample_shape")
    return None if shape is None else tuple(shape)


def _token_id_input(config):
    """True when the first layer takes token ids (it says so: `input_kind`), as an embedding."""
    from nettrain.nn.layers import LAYERS

    first = config["model"]["layers"][0]
    return LAYERS[first["type"]].input_kind == "token_ids"


def _effective_scale(config, shape, token_ids):
    """The scaling the data gets: data.scale, but none for token ids, and none for images (a
    (C, H, W) sample) when data.scale was left to its default."""
    if token_ids:
        return "none"
    if shape is not None and len(shape) == 3 and config.sources["data.scale"] == "default":
        return "none"
    return config["data"]["scale"]


# ---- columns and task
def _pick_columns(frames, data, files, targets_may_be_features=False):
    """Target and feature column names, checked against every file's columns."""
    first_name, first = next(iter(frames.items()))
    columns = [str(c) for c in first.columns]
    targets = as_list(data["target"])
    if not targets:
        if first.attrs.get("targets"):  # an .npz's y, without a configured target name
            targets = list(first.attrs["targets"])
        elif "y" in columns:
            targets = [c for c in columns if c == "y" or (c[1:].isdigit() and c[0] == "y")]
        else:
            raise DataError(f"data.target is not set. Name the column to predict; the columns "
                            f"of '{files[first_name][1]}' are: {', '.join(columns)}.")
    exclude = as_list(data["exclude"])
    absent = [c for c in exclude if c not in columns]
    if absent:
        raise DataError(f"data.exclude: column(s) {', '.join(map(repr, absent))} not found in "
                        f"'{files[first_name][1]}'.{suggest(absent[0], columns)} Its columns are: "
                        f"{_shorten(columns, 40)}.")
    features = as_list(data["features"]) or [c for c in columns
                                                  if c not in targets and c not in exclude]
    both = [c for c in features if c in targets]
    if both and not targets_may_be_features:  # a series' past target values are features
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


def _shorten(items, limit=12):
    return shorten(items, limit)
