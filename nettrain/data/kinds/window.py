"""The window kind: data.window turns time-ordered rows into (n, size, features) samples.

Sample i is `size` consecutive rows of the features (the target's own past values included
unless data.features leaves it out); its target is the target column `horizon` rows after the
window's last row. Rows are in file order, or sorted by `order_by`. The splits are
chronological blocks (train, then val, then test), no window crosses a block, and the
scaling is fitted on the train block's rows only; `stratify` does not apply. `predict` on a
series gives one forecast per complete window, with the row where the window ends.
"""

from __future__ import annotations

import numpy as np

from nettrain.config.schema import WINDOW
from nettrain.data import folds
from nettrain.data.kinds.base import register_data_kind
from nettrain.data.kinds.table import TableKind
from nettrain.data.splits import SPLITS
from nettrain.errors import DataError
from nettrain.registry import suggest

# for a preprocess.json written before a data.window key existed (defaults live in the schema)
WINDOW_DEFAULTS = {key: field.default for key, field in WINDOW.items()}


def time_order(frame, order_by, where="the data"):
    """Row positions of `frame` in time order: by `order_by` (stable), or as the file has them."""
    if order_by is None:
        return np.arange(len(frame))
    columns = [str(c) for c in frame.columns]
    if order_by not in columns:
        raise DataError(f"data.window.order_by: column {order_by!r} not found in {where}."
                        f"{suggest(order_by, columns)} Its columns are: {', '.join(columns[:40])}.")
    import pandas as pd

    values = pd.Series(frame[order_by].to_numpy())
    return np.asarray(values.sort_values(kind="stable").index, dtype=np.int64)


@register_data_kind("window")
class WindowKind(TableKind):
    """A time series: rows are encoded and scaled as a table, then cut into windows of `size`
    rows whose target is `horizon` rows after the window's last row.

    Args: those of TableKind, plus `window`: the data.window mapping (size, horizon, stride,
    order_by); by default the settings' data.window.
    """

    targets_may_be_features = True

    def __init__(self, *args, window=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.window = {**WINDOW_DEFAULTS, **(window if window is not None
                                             else self.settings["window"])}

    # ---- before fitting
    @classmethod
    def read(cls, config, files, fast=False):
        """The files in time order (sorted by data.window.order_by when it is set); never
        read by the fast CSV reader, which cannot sort."""
        frames = super().read(config, files, fast=False)
        order_by = config["data"]["window"]["order_by"]
        if not order_by:
            return frames
        out = {}
        for name, frame in frames.items():
            order = time_order(frame, order_by, f"data.{'path' if name == 'all' else name}")
            out[name] = frame.iloc[order].reset_index(drop=True)
        return out

    @classmethod
    def feature_columns(cls, data, columns, targets, features):
        """Default features for a series: every column but order_by and data.exclude, the
        target's own column included (its past values predict its future)."""
        if data["features"]:
            return features
        order_by = data["window"]["order_by"]
        exclude = set(data["exclude"] or ())
        return [c for c in columns if c != order_by and c not in exclude]

    @classmethod
    def split(cls, data, frames, rows, notes, shuffled):
        """{split: (frame name, rows)}: chronological blocks of data.path, or the split files."""
        window = data["window"]
        need = window["size"] + window["horizon"]
        if "all" in frames:
            kept = rows["all"]
            fractions = [data["split"][s] for s in SPLITS]
            bounds = np.rint(np.cumsum(fractions) * len(kept)).astype(int)
            starts = np.concatenate(([0], bounds[:-1]))
            parts = {s: ("all", kept[a:b]) for s, a, b, f in zip(SPLITS, starts, bounds, fractions)
                     if f > 0}
            where = {s: f"rows {a + 1}-{b} of data.path" for s, a, b in zip(SPLITS, starts, bounds)}
        else:
            parts = {name: (name, rows[name]) for name in frames}
            where = {name: f"data.{name}" for name in frames}
        for split, (_, block) in parts.items():
            if len(block) < need:
                raise DataError(
                    f"data.window: the {split} block ({where[split]}) has {len(block)} rows, fewer "
                    f"than the {need} that one window and its target need (size {window['size']} + "
                    f"horizon {window['horizon']}). Lower data.window.size, or give the {split} "
                    f"split more rows{' (data.split)' if 'all' in frames else ''}.")
        sizes = " / ".join(f"{len(block)} {s}" for s, (_, block) in parts.items())
        notes.append(f"split: chronological blocks of {sizes} rows; windows of {window['size']} "
                     f"rows never cross a block")
        return parts

    @classmethod
    def fold_style(cls, data, task):
        return "chronological"

    def held_out_predictions(self, predicted, rows):
        """A series has one prediction per complete window, for the row `horizon` after its
        end: the block's first rows have no window, its last windows no target inside it."""
        at = predicted.pop("window_end").to_numpy() + self.window["horizon"]
        keep = at < len(rows)
        predicted = predicted.loc[keep].reset_index(drop=True)
        order_by = self.window["order_by"]
        if order_by is not None and order_by in predicted.columns:
            predicted = predicted.drop(columns=order_by)
        return predicted, rows[at[keep]]

    @classmethod
    def fold_rows(cls, data, frame, k, task, seed):
        """Chronological folds, as TimeSeriesSplit: fold i tests on block i + 1 of k + 1 in
        time order and trains on the blocks before it (val: their latest rows)."""
        import pandas as pd

        window, order_by = data["window"], data["window"]["order_by"]
        if order_by is not None and order_by in frame.columns:  # text read: numbers as numbers
            numbers = pd.to_numeric(frame[order_by], errors="coerce")
            if numbers.notna().all():
                frame = pd.DataFrame({order_by: numbers.to_numpy()})
        order = time_order(frame, order_by, "data.path")
        plan = [{**folds.train_val(order[before], data["split"], seed, in_order=True),
                 "test": order[held]}
                for held, before in folds.chronological(len(frame), k)]
        need = window["size"] + window["horizon"]
        for number, rows in enumerate(plan, 1):
            for split, block in rows.items():
                if len(block) < need:
                    raise DataError(
                        f"cv --folds {k}: the {split} block of fold {number} has {len(block)} "
                        f"rows, fewer than the {need} that one window and its target need "
                        f"(data.window.size {window['size']} + horizon {window['horizon']}). A "
                        f"series of n rows is cut into k + 1 blocks and fold 1 trains on the "
                        "first: use fewer folds or a smaller data.window.size.")
        return plan

    # ---- fitted
    @property
    def input_shape(self):
        return (self.window["size"], self.n_features)

    def fit_transform(self, frame, rows=None):
        """Fit on the train block's rows; its windows (every `stride` rows) and their targets."""
        rows = np.arange(len(frame)) if rows is None else np.asarray(rows)
        X, y = super().fit_transform(frame, rows)
        X, y, _ = self.windows(X, y, rows, self.window["stride"])
        return X, y

    def transform(self, frame, require_target=False, rows=None, return_rows=False,
                  use_target=True):
        """Windows of `rows` (a block of fit's data) or of a whole file put into time order.

        With `require_target` only windows whose target row is in the data; otherwise every
        complete window (the last ones forecast beyond the data). A file gets every window
        (stride 1); a block of fit's data data.window.stride. The rows that come back are
        those where each window ends.
        """
        stride = self.window["stride"]
        if rows is None:
            rows, stride = time_order(frame, self.window["order_by"]), 1
        X, y, kept = super().transform(frame, require_target, rows, return_rows=True,
                                       use_target=use_target)
        X, y, ends = self.windows(X, y if require_target else None, kept, stride)
        return (X, y, ends) if return_rows else (X, y)

    def windows(self, X, y, rows, stride):
        """(windows (k, size, features), their targets or None, the row each window ends at)."""
        size, horizon = self.window["size"], self.window["horizon"]
        last = len(X) - size - (horizon if y is not None else 0)
        if last < 0:
            need = size + (horizon if y is not None else 0)
            raise DataError(f"The series has {len(X)} usable rows, fewer than the {need} that one "
                            f"window{' and its target' if y is not None else ''} needs "
                            f"(data.window.size {size}"
                            f"{f' + horizon {horizon}' if y is not None else ''}). Give more rows.")
        starts = np.arange(0, last + 1, stride)
        view = np.lib.stride_tricks.sliding_window_view(X, size, axis=0)[starts]
        out = np.ascontiguousarray(view.transpose(0, 2, 1))
        ends = np.asarray(rows)[starts + size - 1]
        return out, (None if y is None else y[starts + size - 1 + horizon]), ends

    # ---- predicting
    def columns_read_as_is(self):
        """order_by, which predict's table repeats (a year stays 1719, not 1719.0)."""
        return () if self.window["order_by"] is None else (self.window["order_by"],)

    def prediction_rows(self, frame, rows, keep=()):
        """One row per window: the `keep` columns and the order_by value of the window's last
        row, and that row's position in the file (`window_end`, from 0). The forecast is for
        `horizon` rows after it."""
        import pandas as pd

        ends = np.asarray(rows, dtype=np.int64)
        out = pd.DataFrame({name: frame[name].to_numpy()[ends] for name in keep})
        order_by = self.window["order_by"]
        if order_by is not None and order_by not in out.columns:
            out[order_by] = frame[order_by].to_numpy()[ends]
        out["window_end"] = ends
        return out, np.arange(len(ends))

    # ---- preprocess.json and export
    def _doc(self):
        doc = super()._doc()
        doc["window"] = dict(self.window)
        return doc

    @classmethod
    def from_doc(cls, doc, data):
        return cls._from_doc(doc, settings=data, window=doc["window"])

    def _export_form(self, graph, model_shape):
        return graph.table_columns(self, model_shape, steps=int(self.window["size"]))
