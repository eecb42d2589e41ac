"""The data-kind interface: one class per kind of data, registered by name, chosen from the config.

A kind is everything that differs between a plain table, an .npz of arrays, an image folder,
a window series and a text column: which files it reads and how, which columns are features,
how rows are split, how they become model inputs (fitted on the train split, saved in
preprocess.json, reapplied by predict), what it tells the model and the user, and its ONNX
form. Code outside `nettrain.data` asks the kind object; it never asks which kind it is.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Union

from nettrain.config.schema import data_format
from nettrain.data.preprocess import FORMAT
from nettrain.errors import ConfigError, DataError
from nettrain.registry import suggest

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Frame = Any  # a pandas DataFrame, or a csvfast.Table read without pandas (validate)
Frames = dict[str, Frame]  # by file: "all" (data.path) or "train" / "val" / "test"
Parts = dict[str, tuple[str, "np.ndarray"]]  # split -> (the frame it comes from, row positions)
# What the model takes: one array today; a kind with several named inputs gives a dict of them.
Inputs = Union["np.ndarray", dict[str, "np.ndarray"]]
Shape = Union[tuple[int, ...], dict[str, tuple[int, ...]]]

DATA_KINDS: dict[str, type[DataKind]] = {}  # name -> class, filled by @register_data_kind
# The first kinds' preprocess.json files predate its "kind" entry and leave it out (their
# bytes stay as they were; the config names their kind); a newer kind's file names it.
UNNAMED_IN_JSON = ("table", "npz", "images", "window", "text")


def register_data_kind(name: str) -> Callable[[type[DataKind]], type[DataKind]]:
    """Class decorator: make the class the data kind `name`.

    The config chooses a kind by a data key of that name (data.images, data.window,
    data.text, ...); see `data_kind_class`.
    """

    def register(cls: type[DataKind]) -> type[DataKind]:
        if name in DATA_KINDS and DATA_KINDS[name] is not cls:
            raise ValueError(f"data kind {name!r} is registered twice: "
                             f"{DATA_KINDS[name].__qualname__} and {cls.__qualname__}.")
        cls.name = name
        DATA_KINDS[name] = cls
        return cls

    return register


def data_kind_class(data: Mapping[str, Any]) -> type[DataKind]:
    """The kind a resolved `data` section asks for: the one place that decides it.

    The first registered kind `chosen_by` it (by default: the section sets the key of the
    kind's name, as data.images, data.window and data.text do); otherwise the files decide:
    "npz" when every data file is an .npz, else "table".
    """
    for cls in DATA_KINDS.values():
        if cls.chosen_by(data):
            return cls
    files = [data.get(k) for k in ("path", "train", "val", "test")]
    files = [f for f in files if f]
    npz = bool(files) and all(data_format(f) == "npz" for f in files)
    return DATA_KINDS["npz" if npz else "table"]


def load_data_kind(text: str, data: Mapping[str, Any],
                   source: str | Path = "preprocess.json") -> DataKind:
    """The fitted kind that wrote `text` (preprocess.json), for a run whose config has `data`.

    The file names its kind (`"kind": name`) unless it is one of the first five, whose
    files predate that entry: then the config's data section names it. Anything unreadable,
    or a kind this nettrain does not know, is a DataError naming `source`.
    """
    try:
        doc = json.loads(text)
        if doc.get("format") != FORMAT:
            raise ValueError(f"format is {doc.get('format')!r}, expected {FORMAT!r}")
    except (ValueError, TypeError, AttributeError) as err:
        raise _unreadable(source, str(err)) from None
    name = doc.get("kind")
    if name is not None and name not in DATA_KINDS:
        known = ", ".join(DATA_KINDS)
        raise DataError(f"'{source}' is preprocessing of the data kind {name!r}, which this "
                        f"nettrain does not know.{suggest(str(name), list(DATA_KINDS))} The kinds "
                        f"it knows are: {known}. Load the run with the nettrain that trained it, "
                        "or refit.")
    cls = DATA_KINDS[name] if name is not None else data_kind_class(data)
    try:
        return cls.from_doc(doc, data)
    except KeyError as err:
        problem = f"the entry {err} is missing"
    except (ValueError, TypeError, AttributeError) as err:
        problem = str(err)
    raise _unreadable(source, problem)


def _unreadable(source, problem):
    return DataError(f"'{source}' cannot be read: {problem}. It should be the file a nettrain "
                     "run wrote; refit to regenerate it.")


class DataKind(ABC):
    """One kind of data, from the files a config names to model inputs and back.

    Before fitting (class methods: they need only the config): `chosen_by` (whether the
    config asks for this kind), `files` and `read` the data,
    `feature_columns` and `tabular_columns` pick the columns, `split` cuts the rows into
    train/val/test parts (`fold_rows` into cross-validation folds), and `create` makes the
    kind to fit. Fitted (from `create` and
    `fit_splits`, or from preprocess.json through `from_doc`), a kind:

    - transforms: `fit_splits` (fit on the train part, transform every part), `transform`
      (a frame as fit reads it, or as `read_to_score` reads a file to predict);
    - describes itself: `describe()` (the notes validate and fit print);
    - saves itself: `to_json()`, read back by `load_data_kind`;
    - tells the model what it needs: `input_shape`, `data_facts` (e.g. the vocabulary size an
      embedding defaults to), `token_ids`, `task`, `targets`, `classes`, `class_counts`;
    - maps predictions back: `decode`, `inverse_target`, `class_names`, and
      `prediction_rows` (which input row each prediction belongs to);
    - exports itself: `export_inputs(graph, ...)` adds its preprocessing to an ONNX graph
      through the object it is handed, which the export part provides.

    Attributes every kind has: `task` ("classification" or "regression"), `targets` (the
    target column names), `classes` (the labels in class-index order, or None),
    `class_counts` (train rows per class, or None), `data_facts` (a dict for the layers),
    `missing` (how rows with missing values are handled; predict --missing sets it),
    `warnings` (from the latest transform), `dtype`.
    """

    name: ClassVar[str] = ""  # set by @register_data_kind
    # A series predicts its target from its own past values: the target may be a feature too.
    targets_may_be_features: ClassVar[bool] = False

    task: str
    targets: list[str]
    classes: np.ndarray | None
    class_counts: list[int] | None
    data_facts: dict[str, Any]
    missing: str
    warnings: list[str]

    # ---- before fitting: from the config
    @classmethod
    def chosen_by(cls, data: Mapping[str, Any]) -> bool:
        """Whether the config's data section asks for this kind: it sets the key `name`."""
        return cls.name in data and bool(data[cls.name])

    @classmethod
    @abstractmethod
    def files(cls, config) -> dict[str, tuple[Path, str]]:
        """{file name: (resolved path, the path as the config gives it)} of the data."""

    @classmethod
    @abstractmethod
    def read(cls, config, files: dict[str, tuple[Path, str]], fast: bool = False) -> Frames:
        """Each of `files` as a table, as fit reads it (`fast`: without pandas if it can)."""

    @classmethod
    def feature_columns(cls, data: Mapping[str, Any], columns: list[str], targets: list[str],
                        features: list[str]) -> list[str]:
        """The input columns, given the file's `columns` and the configured `features`."""
        return features

    @classmethod
    def tabular_columns(cls, data: Mapping[str, Any], columns: list[str]) -> list[str]:
        """Those of `columns` that are table columns (numeric or categorical, inspected for
        leaks); a text column is not."""
        return list(columns)

    @classmethod
    def split(cls, data: Mapping[str, Any], frames: Frames, rows: dict[str, np.ndarray],
              notes: list[str], shuffled: Callable[[], Parts]) -> Parts:
        """{split: (frame name, rows)}: `shuffled()` (seeded fractions or the split files),
        unless the kind splits otherwise."""
        return shuffled()

    # ---- cross-validation (`nettrain cv`): a kind whose samples are rows of one table
    # deals them into folds; the others refuse with `cannot_fold`.
    cannot_fold: ClassVar[str] = "cross-validation deals the rows of one table into folds"

    @classmethod
    def read_for_folds(cls, config) -> pd.DataFrame:
        """data.path as the file's own text, to deal into folds and write back unchanged."""
        raise ConfigError(f"{cls.cannot_fold}; data of the kind {cls.name!r} cannot be "
                          "cross-validated.")

    @classmethod
    def fold_rows(cls, data: Mapping[str, Any], frame: pd.DataFrame, k: int, task: str,
                  seed: int) -> list[dict[str, np.ndarray]]:
        """Each fold's row positions of `frame` (`read_for_folds`) as {"train", "val"?,
        "test"}, the fold's held-out rows being its test split."""
        raise NotImplementedError(f"the data kind {cls.name!r} has no folds")

    @classmethod
    def fold_style(cls, data: Mapping[str, Any], task: str) -> str:
        """How `fold_rows` deals the rows, in a few words for the user."""
        return "shuffled"

    @classmethod
    def write_fold_file(cls, frame: pd.DataFrame, path: Path, data: Mapping[str, Any],
                        like: Path) -> None:
        """Rows of `read_for_folds`' table as a file of the same format as `like`."""
        raise NotImplementedError(f"the data kind {cls.name!r} has no folds")

    def held_out_predictions(self, predicted: pd.DataFrame,
                             rows: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        """(predictions, the data.path row each is for) from predict's table on a fold's
        held-out rows `rows`: one prediction per row for most kinds."""
        return predicted, rows

    @classmethod
    @abstractmethod
    def create(cls, config, **learned: Any) -> DataKind:
        """A kind to fit, from the config and what was `learned` from the files before fitting:
        features, targets, task, categorical, classes, dates, sample_shape, scale, token_ids."""

    @classmethod
    @abstractmethod
    def from_doc(cls, doc: dict[str, Any], data: Mapping[str, Any]) -> DataKind:
        """The fitted kind from its preprocess.json document, for a config with `data`."""

    # ---- fitted
    @abstractmethod
    def fit_splits(self, frames: Frames, parts: Parts,
                   notes: list[str]) -> dict[str, tuple[Inputs, np.ndarray]]:
        """{split: (inputs, targets)}: fitted on the train part (unless fitted already), each
        part transformed; each part's warnings appended to `notes`."""

    @abstractmethod
    def transform(self, frame: Frame, require_target: bool = False, rows: np.ndarray | None = None,
                  return_rows: bool = False, use_target: bool = True) -> tuple:
        """(inputs, targets or None[, the rows used]) for a frame; warnings in `self.warnings`."""

    @abstractmethod
    def describe(self) -> list[str]:
        """Lines about the fitted encoding for validate and fit to print."""

    @abstractmethod
    def to_json(self) -> str:
        """preprocess.json: everything learned, so that `load_data_kind` reapplies it exactly."""

    @property
    @abstractmethod
    def input_shape(self) -> Shape:
        """One sample's shape as the model takes it (a dict by input name for several inputs)."""

    @property
    def token_ids(self) -> bool:
        """Whether the inputs are token ids (never scaled; an embedding reads them)."""
        return bool(self.data_facts.get("vocab_size"))

    @abstractmethod
    def decode(self, indices: np.ndarray) -> np.ndarray:
        """Class indices -> the original labels."""

    @abstractmethod
    def inverse_target(self, y: np.ndarray) -> np.ndarray:
        """Model outputs -> target units (regression), float64 (n, k)."""

    @property
    @abstractmethod
    def class_names(self) -> list[str]:
        """Class labels as strings, for display."""

    # ---- predicting
    @abstractmethod
    def read_to_score(self, source: str | Path, keep: tuple[str, ...] = ()) -> Frame:
        """A file or folder to predict for or evaluate on, read as fit read its data; the
        `keep` columns are read as they are (ids survive intact)."""

    def columns_read_as_is(self) -> tuple[str, ...]:
        """Columns predict's table shows beyond --keep (a series' order_by), which
        `read_to_score` is to read as the file has them; none for most kinds."""
        return ()

    @abstractmethod
    def prediction_rows(self, frame: pd.DataFrame, rows: np.ndarray,
                        keep: tuple[str, ...] = ()) -> tuple[pd.DataFrame, np.ndarray]:
        """(the first columns of predict's table, the row of it each prediction goes to) for
        predictions made from `rows` of `frame` (as `transform` returns them): one table row
        per input row with the `keep` columns, or one per sample where a sample is not a row
        (a window)."""

    # ---- exporting
    @abstractmethod
    def export_inputs(self, graph: Any, model_shape: tuple[int, ...], token_ids: bool) -> tuple:
        """Add the graph's inputs and this preprocessing through `graph` (the export part's
        preprocessing builder); return (model input, missing-row mask or None).
        `token_ids` is whether the model's first layer reads token ids."""
