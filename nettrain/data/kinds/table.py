"""The table kind: rows of a .csv, .tsv or .parquet file (or one file per split), one sample each."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nettrain.config.schema import data_format
from nettrain.data import folds
from nettrain.data.files import data_files, read_cells, read_table, write_cells
from nettrain.data.kinds.base import (
    UNNAMED_IN_JSON,
    DataKind,
    Frame,
    Frames,
    Parts,
    register_data_kind,
)
from nettrain.data.preprocess import Preprocessor
from nettrain.data.splits import SPLITS
from nettrain.errors import ConfigError, DataError, NettrainError
from nettrain.registry import suggest


def as_list(value) -> list:
    """A column name or a list of them (data.target, data.features) as a list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


@register_data_kind("table")
class TableKind(Preprocessor, DataKind):
    """A table: numeric columns imputed and scaled, categorical ones one-hot encoded, date
    columns split into numeric parts; each row one sample of `n_features` values, reshaped to
    data.shape when that is set. The fitted steps are those of `Preprocessor`.

    Args: those of Preprocessor, plus `settings`: the config's data section (read, never
    written), and `token_ids`: the model's first layer reads the values as token ids (never
    scaled; the vocabulary size is the largest id + 1).
    """

    def __init__(self, *args, settings: Mapping[str, Any] | None = None, token_ids: bool = False,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.settings = dict(settings or {})
        self.reads_token_ids = token_ids

    # ---- before fitting
    @classmethod
    def files(cls, config) -> dict[str, tuple[Path, str]]:
        return data_files(config)

    @classmethod
    def read(cls, config, files, fast=False) -> Frames:
        data = config.data["data"]
        dtype = np.dtype(config["dtype"])
        targets = as_list(data["target"])
        frames = {}
        for name, (path, shown) in files.items():
            try:
                frames[name] = read_table(path, shown, targets=targets, dtype=dtype, fast=fast,
                                          sep=data["sep"], encoding=data["encoding"])
            except DataError as err:  # name the key the file came from
                raise DataError(f"data.{'path' if name == 'all' else name}: {err}") from None
        return frames

    @classmethod
    def read_for_folds(cls, config):
        """data.path read as text (Parquet: its own types), to write back unchanged."""
        data = config["data"]
        if data["path"] is None:
            raise ConfigError(f"{cls.cannot_fold}: give data.path (a .csv, .tsv or .parquet "
                              "file), not data.train/val/test files.")
        path = config.resolve_path(data["path"])
        try:
            return read_cells(path, data["sep"], data["encoding"])
        except (OSError, ValueError, UnicodeDecodeError) as err:
            raise DataError(f"data.path: cannot read {path} ({err}).") from None

    @classmethod
    def write_fold_file(cls, frame, path, data, like):
        write_cells(frame, path, like, data["sep"], data["encoding"])

    @classmethod
    def fold_style(cls, data, task):
        if data["group"] is not None:
            return f"grouped by {data['group']}"
        return "stratified" if task == "classification" else "shuffled"

    @classmethod
    def fold_rows(cls, data, frame, k, task, seed):
        """Folds as scikit-learn deals them: grouped by data.group (GroupKFold), else
        stratified by class (StratifiedKFold), else shuffled (KFold); the other rows of each
        fold split train:val in data.split's ratio (stratified when data.split.stratify)."""
        group, target = data["group"], as_list(data["target"])
        if group is not None and group not in frame.columns:
            raise DataError(f"data.group: column {group!r} not found in data.path."
                            f"{suggest(group, list(frame.columns))}")
        groups = frame[group].astype(str).to_numpy() if group is not None else None
        labels = None
        if task == "classification" and groups is None:
            labels = frame[target[0]].astype(str).to_numpy()
            held_out = folds.stratified(labels, k, seed)
        elif groups is not None:
            held_out = folds.grouped(groups, k)
        else:
            held_out = folds.kfold(len(frame), k, seed)
        strata = None
        if labels is not None and data["split"]["stratify"]:
            strata = np.unique(labels, return_inverse=True)[1]
        everything = np.arange(len(frame))
        return [{**folds.train_val(np.setdiff1d(everything, held), data["split"], seed + i,
                                   strata=strata, groups=groups), "test": held}
                for i, held in enumerate(held_out)]

    @classmethod
    def create(cls, config, **learned) -> TableKind:
        data = config.data["data"]
        return cls(learned["features"], learned["targets"], learned["task"],
                   learned["categorical"], learned["classes"], data["missing"],
                   learned["scale"], data["scale_target"], config["dtype"],
                   dates=learned["dates"], missing_target=data["missing_target"],
                   sample_shape=learned["sample_shape"], settings=data,
                   token_ids=learned["token_ids"])

    # ---- fitted
    def fit_splits(self, frames: Frames, parts: Parts, notes: list[str]) -> dict:
        splits = {}
        for split in SPLITS:
            if split not in parts:
                continue
            name, rows = parts[split]
            if split == "train" and not self.fitted:
                splits[split] = self.fit_transform(frames[name], rows)
            else:
                splits[split] = self.transform(frames[name], require_target=True, rows=rows)
            notes += [f"{split}: {w}" for w in self.warnings]
        if self.reads_token_ids and not self.data_facts.get("vocab_size"):
            # ids from a file: the vocabulary is every id up to the largest, in any split
            largest = max((int(X.max()) for X, _ in splits.values() if X.size), default=0)
            self.data_facts = {"vocab_size": largest + 1}
        return splits

    def describe(self) -> list[str]:
        lines = []
        if self.token_ids:
            lines.append(f"token ids: vocabulary size {self.data_facts['vocab_size']} (largest id "
                         "+ 1), not scaled")
        if self.levels:
            levels = ", ".join(f"{c} ({len(v)} levels)" for c, v in self.levels.items())
            lines.append(f"one-hot encoded: {levels}")
        return lines

    # ---- predicting
    def read_to_score(self, source, keep=()) -> Frame:
        if Path(source).is_dir():
            raise DataError(f"'{source}' is a folder, and this run was not trained on an image "
                            "folder (data.images). Give a data file like the one it was trained "
                            "on.")
        npz = data_format(source) == "npz"
        names = list(self.targets) + ([] if npz else list(keep))
        try:
            table = read_table(source, str(source), targets=names, dtype=self.dtype)
        except NettrainError:
            raise
        except (OSError, ValueError) as err:
            raise DataError(f"Data file '{source}' cannot be read: {err}.") from None
        if npz:
            self._check_npz_width(source, table)
        return table


    def _check_npz_width(self, path, table):
        """An .npz X has unnamed columns: with every column as features (data.features null)
        it must be exactly as wide as the train X, or its values would be read out of place."""
        if self.settings["features"] is not None:
            return
        width = sum(1 for c in table.columns if c not in self.targets)
        if width != len(self.features):
            raise DataError(f"Data file '{path}': X has {width} values per row, but the run was "
                            f"trained on {len(self.features)}. Give X the layout of the "
                            "training data.")

    def prediction_rows(self, frame, rows, keep=()):
        import pandas as pd

        out = frame[list(keep)].copy() if keep else pd.DataFrame(index=frame.index)
        return out, rows

    # ---- preprocess.json
    def _doc(self):
        doc = super()._doc()
        if self.name in UNNAMED_IN_JSON:
            return doc
        return {"format": doc["format"], "kind": self.name, **doc}

    @classmethod
    def from_doc(cls, doc, data) -> TableKind:
        return cls._from_doc(doc, settings=data)

    # ---- exporting
    def export_inputs(self, graph, model_shape, token_ids):
        if self.dates:
            graph.refuse(f"data: the run splits date column(s) {', '.join(map(repr, self.dates))} "
                         "into parts; parsing dates has no ONNX form, so the run cannot be "
                         "exported. Give the parts you need as numeric columns of the data (and "
                         "leave the date columns out of data.features), then refit.")
        if token_ids or self.token_ids:
            return graph.token_ids(model_shape)
        return self._export_form(graph, model_shape)

    def _export_form(self, graph, model_shape):
        """The inputs and preprocessing of values that are not token ids: one per column."""
        return graph.table_columns(self, model_shape)
