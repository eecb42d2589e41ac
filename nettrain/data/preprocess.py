"""What is learned from the train split, saved as preprocess.json and reapplied exactly."""

import json

import numpy as np

from nettrain.data.csvfast import index_of, unique
from nettrain.data.dates import expand_dates
from nettrain.data.values import (  # noqa: F401 (re-exported: they were defined here)
    check_target,
    describe_missing,
    missing_rows,
    numeric_values,
    shorten,
    text_values,
)
from nettrain.errors import DataError
from nettrain.registry import suggest

FORMAT = "nettrain-preprocess/1"
CHUNK_ROWS = 65536  # statistics and in-place steps go in row chunks to bound temporary memory


def _row_chunks(n):
    return ((i, min(i + CHUNK_ROWS, n)) for i in range(0, max(n, 1), CHUNK_ROWS))


@np.errstate(over="ignore", invalid="ignore")  # values near float64's limit: _check_scaling
def _column_stats(X, pos, kind):
    """Per-column (center, spread) over the finite values of X[:, pos], in float64.

    kind "mean" gives (mean of finite values, None); "standard" (mean, std) and "minmax"
    (min, max - min). A constant column gets spread 1 and its exact value as center, so it
    scales to exactly 0 instead of NaN.
    """
    k = len(pos)
    total, count = np.zeros(k), np.zeros(k)
    low, high = np.full(k, np.inf), np.full(k, -np.inf)
    for i, j in _row_chunks(len(X)):
        block = X[i:j][:, pos].astype(np.float64)
        finite = np.isfinite(block)
        total += np.where(finite, block, 0.0).sum(axis=0)
        count += finite.sum(axis=0)
        low = np.minimum(low, np.where(finite, block, np.inf).min(axis=0, initial=np.inf))
        high = np.maximum(high, np.where(finite, block, -np.inf).max(axis=0, initial=-np.inf))
    mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    if kind == "mean":
        return mean, None
    constant = high <= low
    if kind == "minmax":
        return low, np.where(constant, 1.0, high - low)
    squares = np.zeros(k)
    for i, j in _row_chunks(len(X)):
        squares += ((X[i:j][:, pos].astype(np.float64) - mean) ** 2).sum(axis=0)
    std = np.sqrt(squares / np.maximum(count, 1))
    return np.where(constant, low, mean), np.where(constant | (std == 0), 1.0, std)


def _check_scaling(center, spread, names, kind, key="data.scale"):
    """A DataError when a column's scaling statistics overflow float64 (a standard deviation
    squares the values: 1e155 is already too large), instead of scaling it to 0 and failing
    to save the statistics."""
    bad = np.flatnonzero(~(np.isfinite(center) & np.isfinite(spread)))
    if not len(bad):
        return
    what = "standard deviation" if kind == "standard" else "range"
    where = (f"column(s) {', '.join(repr(names[i]) for i in bad[:10])}" if names is not None
             else f"{len(bad)} of the input positions")
    raise DataError(f"The train split's {what} of {where} overflows float64 (its values are "
                    f"too large to scale). Rescale the column(s) in the data (e.g. divide by "
                    f"a power of ten), leave them out with data.exclude, or set {key}: none.")


def _feature_stats(X, steps, features, kind):
    """Per-feature (center, spread) of rows that hold sequences (T x F values in C order),
    repeated for every step: each feature's values pooled over all steps, as `_channel_stats`
    pools a channel's pixels."""
    by_feature = np.ascontiguousarray(X.reshape(len(X), steps, features).transpose(0, 2, 1))
    center, spread = _channel_stats(by_feature.reshape(len(X), -1), features, kind)
    return np.tile(center[::steps], steps), np.tile(spread[::steps], steps)


def _channel_stats(X, channels, kind):
    """Per-channel (center, spread) of rows that hold `channels` equal blocks of columns (an
    image's C x H x W values in C order), repeated for each column of the block; as
    `_column_stats` with every value of a channel pooled."""
    n, width = X.shape
    per = width // channels
    total, low, high = np.zeros(channels), np.full(channels, np.inf), np.full(channels, -np.inf)
    for i, j in _row_chunks(n):
        block = X[i:j].reshape(j - i, channels, per).astype(np.float64)
        total += block.sum(axis=(0, 2))
        low = np.minimum(low, block.min(axis=(0, 2), initial=np.inf))
        high = np.maximum(high, block.max(axis=(0, 2), initial=-np.inf))
    mean, constant = total / max(n * per, 1), high <= low
    if kind == "minmax":
        center, spread = low, np.where(constant, 1.0, high - low)
    else:
        squares = np.zeros(channels)
        for i, j in _row_chunks(n):
            block = X[i:j].reshape(j - i, channels, per).astype(np.float64)
            squares += ((block - mean[:, None]) ** 2).sum(axis=(0, 2))
        std = np.sqrt(squares / max(n * per, 1))
        center, spread = np.where(constant, low, mean), np.where(constant | (std == 0), 1.0, std)
    return np.repeat(center, per), np.repeat(spread, per)


def _in_chunks(X, pos, step):
    """Apply `step(block) -> block` to X[:, pos] in place, a chunk of rows at a time."""
    whole = len(pos) == X.shape[1] and np.array_equal(pos, np.arange(X.shape[1]))
    for i, j in _row_chunks(len(X)):
        if whole:
            X[i:j] = step(X[i:j])
        else:
            X[i:j, pos] = step(X[i:j][:, pos])


class Preprocessor:
    """Turns a table into model inputs and targets with statistics learned on the train split.

    Steps, in order: check columns and types; missing values (`error`, `drop` the rows, or
    `mean`: fill numeric columns with train means, a missing category encodes as all zeros);
    one-hot encode categorical columns with the train split's levels (an unseen level
    encodes as all zeros, with a warning); scale numeric columns (standard: (x - mean) / std,
    minmax: (x - min) / (max - min), a constant column divides by 1); encode the target
    (class indices in `classes` order, or regression values, standardized when
    `scale_target` is standard).

    Args:
        features: input column names, in order.
        targets: target column names.
        task: "classification" or "regression".
        categorical: the feature columns that are one-hot encoded.
        classes: the class labels, sorted as numpy.unique sorts them (classification).
        missing, scale, scale_target, dtype, missing_target: as in the config's `data` section.
        dates: {date column: [parts]}: the raw columns whose parts (`time_month`, ...) are
            among `features` (see nettrain.data.dates).
        sample_shape: the shape each transformed row is reshaped to in C order (data.shape,
            or an .npz X's own sample shape), e.g. (1, 28, 28); None keeps rows flat. With
            three axes (C, H, W) the scaling statistics are per channel.
    """

    def __init__(self, features, targets, task, categorical=(), classes=None,
                 missing="error", scale="standard", scale_target="none", dtype="float32",
                 dates=None, missing_target="error", sample_shape=None):
        self.features = list(features)
        self.sample_shape = None if sample_shape is None else tuple(int(n) for n in sample_shape)
        self.dates = dict(dates or {})
        self.missing_target = missing_target
        self.class_counts = None  # train rows per class (classification), set by fit_transform
        self.targets = list(targets)
        self.task = task
        stray = [name for name in categorical if name not in self.features]
        if stray:  # a categorical column must be an input, or X would have holes for it
            raise ValueError(f"categorical column(s) {stray} are not among the features.")
        self.levels = {name: None for name in categorical}  # filled by fit_transform
        self.numeric = [f for f in self.features if f not in self.levels]
        self.classes = None if classes is None else np.array(np.asarray(classes).tolist())
        self.missing, self.scale, self.scale_target = missing, scale, scale_target
        self.dtype = np.dtype(dtype)
        self.fill = None  # train means of numeric columns (data.missing: mean, predict --missing mean)
        self.center = self.spread = None  # per numeric column, unless scale is "none"
        self.target_center = self.target_spread = None  # regression, scale_target standard
        self.warnings = []  # from the latest transform: unseen levels, dropped rows
        self.fitted = False
        self.data_facts = {}  # what the model is told, e.g. {"vocab_size": n} for token ids

    # ---- what the model sees
    @property
    def feature_names(self):
        """Names of the model's input columns: numeric columns and `column=level`."""
        names = []
        for name in self.features:
            levels = self.levels.get(name)
            names += [name] if levels is None else [f"{name}={level}" for level in levels]
        return names

    @property
    def n_features(self):
        return len(self.numeric) + sum(len(v or ()) for v in self.levels.values())

    @property
    def input_shape(self):
        """The shape of one transformed sample: `sample_shape`, or `(n_features,)`."""
        return self.sample_shape or (self.n_features,)

    @property
    def class_names(self):
        """Class labels as strings, for display."""
        return [] if self.classes is None else [str(c) for c in self.classes.tolist()]

    def _numeric_positions(self):
        pos, at = [], 0
        for name in self.features:
            if name in self.levels:
                at += len(self.levels[name])
            else:
                pos.append(at)
                at += 1
        return np.array(pos, dtype=np.int64)

    # ---- fitting and applying
    def fit_transform(self, frame, rows=None):
        """Learn levels and statistics from `frame` (at positions `rows`); return (X, y)."""
        rows = np.arange(len(frame)) if rows is None else np.asarray(rows)
        self._check_columns(frame, require_target=True)
        frame = expand_dates(frame, self.dates)
        for name in self.levels:
            text, miss = text_values(frame[name], rows)
            self.levels[name] = unique(text[~miss]).tolist()
        X, y, _ = self._apply(frame, rows, with_target=True, fit=True)
        if self.task == "classification":
            self.class_counts = np.bincount(y, minlength=len(self.classes)).tolist()
        self.fitted = True
        return X, y

    def transform(self, frame, require_target=False, rows=None, return_rows=False,
                  use_target=True):
        """Apply the learned steps to a DataFrame; return (X, y or None).

        Columns may come in any order and extra columns are ignored. y is None when the
        target columns are absent (an error if `require_target`) or `use_target` is false
        (prediction: the target column, if any, is not read at all). `rows` picks row
        positions; with `return_rows` the positions actually used come back as a third
        value (rows with missing values are left out when `missing` is "drop").
        Warnings (unseen category levels, dropped rows) are left in `self.warnings`.
        """
        if not self.fitted:
            raise DataError("This preprocessor has not been fitted on a train split yet.")
        rows = np.arange(len(frame)) if rows is None else np.asarray(rows)
        self._check_columns(frame, require_target)
        frame = expand_dates(frame, self.dates)
        with_target = (use_target or require_target) and all(t in frame.columns for t in self.targets)
        X, y, kept = self._apply(frame, rows, with_target, fit=False)
        return (X, y, kept) if return_rows else (X, y)

    @property
    def input_columns(self):
        """The columns the data must hold: the features, date columns for their parts."""
        parts = {f"{c}_{p}": c for c, ps in self.dates.items() for p in ps}
        return list(dict.fromkeys(parts.get(f, f) for f in self.features))

    def _check_columns(self, frame, require_target):
        needed = self.input_columns + (self.targets if require_target else [])
        absent = [c for c in needed if c not in frame.columns]
        if absent:
            # suggest only columns the run does not use already: renamed ones, not siblings
            spare = [str(c) for c in frame.columns if c not in needed]
            hints = "".join(suggest(c, spare) for c in absent[:3])
            raise DataError(
                f"Column(s) {', '.join(map(repr, absent))} not found in the data.{hints} "
                f"The data has: {', '.join(map(str, frame.columns[:50]))}."
            )

    def _apply(self, frame, rows, with_target, fit):
        self.warnings = []
        if with_target and self.missing_target == "drop":
            rows = self._known_targets(frame, rows)
        miss, found = missing_rows(frame, self.numeric, self.levels, rows)
        if found and self.missing == "error":
            raise DataError(describe_missing(found, "the data"))
        if found and self.missing == "drop":
            self.warnings.append(f"Left out {int(miss.sum()):,} of {len(rows):,} row(s) with missing "
                                 f"values ({', '.join(found)}), as missing is 'drop'; their "
                                 "predictions are empty.")
            rows = rows[~miss]
        X = self._encode(frame, rows)
        pos = self._numeric_positions()
        if fit and len(pos):  # train means, for data.missing: mean or predict --missing mean
            self.fill = self._fit_fill(X, pos)
        if self.missing == "mean" and len(pos):
            if self.fill is None:
                raise DataError("This run has no train means to fill missing values with (it "
                                "was trained before they were saved). Use --missing drop.")
            fill = self.fill.astype(self.dtype)
            _in_chunks(X, pos, lambda b: np.where(np.isfinite(b), b, fill))
        self._check_shape(X)
        if self.scale != "none" and len(pos):
            if fit and self.sample_shape is not None and len(self.sample_shape) == 3:
                self.center, self.spread = _channel_stats(X, self.sample_shape[0], self.scale)
            elif fit and self.sample_shape is not None and len(self.sample_shape) == 2:
                self.center, self.spread = _feature_stats(X, *self.sample_shape, self.scale)
            elif fit:
                self.center, self.spread = _column_stats(X, pos, self.scale)
            if fit:
                names = self.feature_names
                _check_scaling(self.center, self.spread, [names[p] for p in pos]
                               if len(self.center) == len(pos) else None, self.scale)
            center, spread = self.center.astype(self.dtype), self.spread.astype(self.dtype)
            _in_chunks(X, pos, lambda b: (b - center) / spread)
        y = self._encode_target(frame, rows, fit) if with_target else None
        if self.sample_shape is not None:
            X = X.reshape(len(X), *self.sample_shape)
        return X, y, rows

    def _check_shape(self, X):
        if self.sample_shape is None or np.prod(self.sample_shape) == X.shape[1]:
            return
        shape = list(self.sample_shape)
        raise DataError(f"data.shape {shape} holds {int(np.prod(shape)):,} values per sample, but "
                        f"each row has {X.shape[1]:,} input columns. Give a shape whose product "
                        f"is {X.shape[1]:,} (e.g. [1, {X.shape[1]}]), or leave data.shape out.")

    def _known_targets(self, frame, rows):
        """`rows` without those whose target is missing, with a warning (missing_target: drop)."""
        unknown = np.zeros(len(rows), dtype=bool)
        for name in self.targets:
            if self.task == "classification":
                unknown |= text_values(frame[name], rows)[1]
            else:
                unknown |= ~np.isfinite(numeric_values(frame[name], name, rows).astype(float))
        if unknown.any():
            self.warnings.append(f"Left out {int(unknown.sum()):,} row(s) whose target is missing, "
                                 "as data.missing_target is 'drop'.")
        return rows[~unknown]

    def _fit_fill(self, X, pos):
        mean, _ = _column_stats(X, pos, "mean")
        empty = [self.numeric[i] for i in np.flatnonzero(np.isnan(mean))]
        if empty and self.missing != "mean":
            return None
        if empty:
            raise DataError(f"Column(s) {', '.join(map(repr, empty))} have no values in the "
                            "train split, so data.missing: mean has nothing to fill them "
                            "with. Leave them out of data.features.")
        return mean

    def _encode(self, frame, rows):
        X = np.empty((len(rows), self.n_features), dtype=self.dtype)
        at = 0
        for name in self.features:
            levels = self.levels.get(name)
            if levels is None:
                X[:, at] = numeric_values(frame[name], name, rows)
                at += 1
                continue
            block = X[:, at:at + len(levels)]
            block[:] = 0
            text, miss = text_values(frame[name], rows)
            codes = index_of(levels, text)
            codes[miss] = -1
            hit = codes >= 0
            block[np.flatnonzero(hit), codes[hit]] = 1
            unseen = ~hit & ~miss
            if unseen.any():
                new = np.unique(text[unseen]).tolist()
                self.warnings.append(
                    f"Column {name!r}: {int(unseen.sum()):,} row(s) hold level(s) not seen in "
                    f"the train split ({shorten(map(repr, new))}); they are encoded as "
                    f"all zeros. Known levels: {shorten(map(repr, levels))}.")
            at += len(levels)
        return X

    def _encode_target(self, frame, rows, fit):
        if self.task == "classification":
            return self._encode_labels(frame[self.targets[0]], rows)
        y = np.empty((len(rows), len(self.targets)), dtype=self.dtype)
        for j, name in enumerate(self.targets):
            values = numeric_values(frame[name], name, rows)
            check_target(~np.isfinite(values), name, rows)
            y[:, j] = values
        if self.scale_target == "standard":
            if fit:
                self.target_center, self.target_spread = _column_stats(
                    y, np.arange(y.shape[1]), "standard")
                _check_scaling(self.target_center, self.target_spread, self.targets, "standard",
                               key="data.scale_target")
            y -= self.target_center.astype(self.dtype)
            y /= self.target_spread.astype(self.dtype)
        return y

    def _encode_labels(self, series, rows):
        name = self.targets[0]
        if self.classes.dtype.kind in "iufb":
            values = numeric_values(series, name, rows)
            check_target(~np.isfinite(values.astype(np.float64)), name, rows)
        else:
            values, miss = text_values(series, rows)
            check_target(miss, name, rows)
        codes = index_of(self.classes.tolist(), values)
        if (codes < 0).any():
            new = np.unique(np.asarray(values)[codes < 0]).tolist()
            raise DataError(
                f"Target column {name!r} holds label(s) not seen in training: "
                f"{shorten(map(repr, new))}. Known classes: {shorten(self.class_names)}.")
        return codes.astype(np.int64)

    # ---- back to the user's terms
    def decode(self, indices):
        """Class indices -> original labels (strings stay strings, integers integers)."""
        return self.classes[np.asarray(indices, dtype=np.int64)]

    def inverse_target(self, y):
        """Undo target scaling: model outputs -> target units, float64 of shape (n, k)."""
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if self.target_center is None:
            return y
        return y * self.target_spread + self.target_center

    # ---- preprocess.json
    def to_json(self):
        """Plain JSON with everything learned; floats round-trip exactly."""
        return json.dumps(self._doc(), indent=1, allow_nan=False)

    def _doc(self):
        """The preprocess.json document, as a dict in the order it is written."""
        columns = self._column_entries()
        target = {"names": self.targets}
        if self.classes is not None:
            target["classes"] = self.classes.tolist()
        if self.class_counts is not None:
            target["counts"] = list(self.class_counts)
        if self.target_center is not None:
            target["center"] = self.target_center.tolist()
            target["spread"] = self.target_spread.tolist()
        doc = {"format": FORMAT, "task": self.task, "dtype": self.dtype.name,
               "missing": self.missing, "scale": self.scale, "scale_target": self.scale_target,
               "feature_names": self.feature_names, "columns": columns, "target": target}
        if self.dates:
            doc["dates"] = self.dates
        if self.sample_shape is not None:
            doc["sample_shape"] = list(self.sample_shape)
        if self.missing_target != "error":
            doc["missing_target"] = self.missing_target
        if self.data_facts:
            doc["data_facts"] = self.data_facts
        return doc

    def _column_entries(self):
        """preprocess.json's "columns": each feature with its kind and what was learned."""
        columns = []
        num = {name: i for i, name in enumerate(self.numeric)}
        for name in self.features:
            if name in self.levels:
                columns.append({"name": name, "kind": "categorical", "levels": self.levels[name]})
                continue
            entry, i = {"name": name, "kind": "numeric"}, num[name]
            if self.fill is not None:
                entry["fill"] = float(self.fill[i])
            if self.center is not None:
                entry["center"], entry["spread"] = float(self.center[i]), float(self.spread[i])
            columns.append(entry)
        return columns

    @classmethod
    def from_json(cls, text, source="preprocess.json"):
        """Rebuild a fitted Preprocessor from `to_json` output (`source` names the file)."""
        try:
            doc = json.loads(text)
            if doc.get("format") != FORMAT:
                raise ValueError(f"format is {doc.get('format')!r}, expected {FORMAT!r}")
            return cls._from_doc(doc)
        except KeyError as err:
            problem = f"the entry {err} is missing"
        except (ValueError, TypeError, AttributeError) as err:
            problem = str(err)
        raise DataError(f"'{source}' cannot be read: {problem}. It should be the file a "
                        "nettrain run wrote; refit to regenerate it.")

    @classmethod
    def _from_doc(cls, doc, **extra):
        """The fitted instance `doc` describes; `extra` goes to the constructor."""
        columns, target = doc["columns"], doc["target"]
        cats = [c["name"] for c in columns if c["kind"] == "categorical"]
        pre = cls([c["name"] for c in columns], target["names"], doc["task"], cats,
                  target.get("classes"), doc["missing"], doc["scale"], doc["scale_target"],
                  doc["dtype"], dates=doc.get("dates"),
                  missing_target=doc.get("missing_target", "error"),
                  sample_shape=doc.get("sample_shape"), **extra)
        pre.class_counts = target.get("counts")
        numeric = [c for c in columns if c["kind"] == "numeric"]
        for c in columns:
            if c["kind"] == "categorical":
                pre.levels[c["name"]] = list(c["levels"])
        if numeric and "fill" in numeric[0]:
            pre.fill = np.array([c["fill"] for c in numeric], dtype=np.float64)
        if numeric and "center" in numeric[0]:
            pre.center = np.array([c["center"] for c in numeric], dtype=np.float64)
            pre.spread = np.array([c["spread"] for c in numeric], dtype=np.float64)
        if "center" in target:
            pre.target_center = np.array(target["center"], dtype=np.float64)
            pre.target_spread = np.array(target["spread"], dtype=np.float64)
        pre.data_facts = dict(doc.get("data_facts") or {})
        pre.fitted = True
        return pre

