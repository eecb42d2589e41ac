"""What is learned from the train split, saved as preprocess.json and reapplied exactly."""

import json

import numpy as np

from nettrain.data.csvfast import Column, index_of, is_number_dtype, isna, unique
from nettrain.errors import DataError
from nettrain.registry import suggest

FORMAT = "nettrain-preprocess/1"
CHUNK_ROWS = 65536  # statistics and in-place steps go in row chunks to bound temporary memory


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


def _row_chunks(n):
    return ((i, min(i + CHUNK_ROWS, n)) for i in range(0, max(n, 1), CHUNK_ROWS))


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
        missing, scale, scale_target, dtype: as in the config's `data` section.
    """

    def __init__(self, features, targets, task, categorical=(), classes=None,
                 missing="error", scale="standard", scale_target="none", dtype="float32"):
        self.features = list(features)
        self.targets = list(targets)
        self.task = task
        self.levels = {name: None for name in categorical}  # filled by fit_transform
        self.numeric = [f for f in self.features if f not in self.levels]
        self.classes = None if classes is None else np.array(np.asarray(classes).tolist())
        self.missing, self.scale, self.scale_target = missing, scale, scale_target
        self.dtype = np.dtype(dtype)
        self.fill = None  # train means of numeric columns, when missing is "mean"
        self.center = self.spread = None  # per numeric column, unless scale is "none"
        self.target_center = self.target_spread = None  # regression, scale_target standard
        self.warnings = []  # from the latest transform: unseen levels, dropped rows
        self.fitted = False

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
        """The shape of one transformed sample: `(n_features,)`."""
        return (self.n_features,)

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
        for name in self.levels:
            text, miss = text_values(frame[name], rows)
            self.levels[name] = unique(text[~miss]).tolist()
        X, y, _ = self._apply(frame, rows, with_target=True, fit=True)
        self.fitted = True
        return X, y

    def transform(self, frame, require_target=False, rows=None, return_rows=False):
        """Apply the learned steps to a DataFrame; return (X, y or None).

        Columns may come in any order and extra columns are ignored. y is None when the
        target columns are absent (an error if `require_target`). `rows` picks row
        positions; with `return_rows` the positions actually used come back as a third
        value (rows with missing values are left out when `missing` is "drop").
        Warnings (unseen category levels, dropped rows) are left in `self.warnings`.
        """
        if not self.fitted:
            raise DataError("This preprocessor has not been fitted on a train split yet.")
        rows = np.arange(len(frame)) if rows is None else np.asarray(rows)
        self._check_columns(frame, require_target)
        with_target = all(t in frame.columns for t in self.targets)
        X, y, kept = self._apply(frame, rows, with_target, fit=False)
        return (X, y, kept) if return_rows else (X, y)

    def _check_columns(self, frame, require_target):
        needed = self.features + (self.targets if require_target else [])
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
        miss, found = missing_rows(frame, self.numeric, self.levels, rows)
        if found and self.missing == "error":
            raise DataError(describe_missing(found, "the data"))
        if found and self.missing == "drop":
            self.warnings.append(f"Left out {int(miss.sum())} row(s) with missing values "
                                 f"({', '.join(found)}), as data.missing is 'drop'.")
            rows = rows[~miss]
        X = self._encode(frame, rows)
        pos = self._numeric_positions()
        if self.missing == "mean" and len(pos):
            if fit:
                self.fill = self._fit_fill(X, pos)
            fill = self.fill.astype(self.dtype)
            _in_chunks(X, pos, lambda b: np.where(np.isfinite(b), b, fill))
        if self.scale != "none" and len(pos):
            if fit:
                self.center, self.spread = _column_stats(X, pos, self.scale)
            center, spread = self.center.astype(self.dtype), self.spread.astype(self.dtype)
            _in_chunks(X, pos, lambda b: (b - center) / spread)
        y = self._encode_target(frame, rows, fit) if with_target else None
        return X, y, rows

    def _fit_fill(self, X, pos):
        mean, _ = _column_stats(X, pos, "mean")
        empty = [self.numeric[i] for i in np.flatnonzero(np.isnan(mean))]
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
                    f"Column {name!r}: {int(unseen.sum())} row(s) hold level(s) not seen in "
                    f"the train split ({', '.join(map(repr, new[:10]))}); they are encoded as "
                    f"all zeros. Known levels: {', '.join(map(repr, levels))}.")
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
                f"{', '.join(map(repr, new[:10]))}. Known classes: "
                f"{', '.join(self.class_names)}.")
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
        target = {"names": self.targets}
        if self.classes is not None:
            target["classes"] = self.classes.tolist()
        if self.target_center is not None:
            target["center"] = self.target_center.tolist()
            target["spread"] = self.target_spread.tolist()
        doc = {"format": FORMAT, "task": self.task, "dtype": self.dtype.name,
               "missing": self.missing, "scale": self.scale, "scale_target": self.scale_target,
               "feature_names": self.feature_names, "columns": columns, "target": target}
        return json.dumps(doc, indent=1, allow_nan=False)

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
    def _from_doc(cls, doc):
        columns, target = doc["columns"], doc["target"]
        cats = [c["name"] for c in columns if c["kind"] == "categorical"]
        pre = cls([c["name"] for c in columns], target["names"], doc["task"], cats,
                  target.get("classes"), doc["missing"], doc["scale"], doc["scale_target"],
                  doc["dtype"])
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
        pre.fitted = True
        return pre


def check_target(bad, name, rows):
    """NaN or inf in a target column (`bad` marks them) is always an error."""
    if bad.any():
        first = int(rows[np.argmax(bad)]) + 1
        raise DataError(
            f"Target column {name!r} has {int(bad.sum())} missing or non-finite value(s) "
            f"(first at row {first}). A target must be known for every row: remove those "
            "rows from the data (data.missing applies to features only)."
        )
