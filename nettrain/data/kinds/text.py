"""The text kind: data.text turns a text column into token ids (see `nettrain.data.text`)."""

from __future__ import annotations

import numpy as np

from nettrain.config.schema import TEXT
from nettrain.data.csvfast import is_number_dtype
from nettrain.data.kinds.base import register_data_kind
from nettrain.data.kinds.table import TableKind
from nettrain.data.text import build_vocabulary, encode
from nettrain.data.values import text_values
from nettrain.errors import DataError

# for a preprocess.json written before a data.text key existed (defaults live in the schema)
TEXT_DEFAULTS = {key: field.default for key, field in TEXT.items()}


@register_data_kind("text")
class TextKind(TableKind):
    """A table whose one feature is a text column, encoded as (n, max_length) token ids with
    the train split's vocabulary (never scaled); the vocabulary is saved in preprocess.json.

    Args: those of TableKind, plus `text`: the data.text mapping (column, vocab_size,
    max_length, lowercase); by default the settings' data.text.
    """

    def __init__(self, *args, text=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.text = {**TEXT_DEFAULTS, **(text if text is not None else self.settings["text"])}
        self.vocabulary = None
        self.numeric, self.levels = [], {}

    # ---- before fitting
    @classmethod
    def read(cls, config, files, fast=False):
        """The files as tables; never by the fast CSV reader, which does not read text."""
        return super().read(config, files, fast=False)

    @classmethod
    def feature_columns(cls, data, columns, targets, features):
        return [data["text"]["column"]]

    @classmethod
    def tabular_columns(cls, data, columns):
        return [c for c in columns if c != data["text"]["column"]]

    # ---- fitted
    @property
    def n_features(self):
        return self.text["max_length"]

    @property
    def input_shape(self):
        return (self.text["max_length"],)

    def _numeric_positions(self):
        return np.zeros(0, dtype=np.int64)  # token ids are never scaled

    def _texts(self, frame, rows):
        column = self.text["column"]
        series = frame[column]
        if is_number_dtype(series.dtype):
            raise DataError(f"data.text.column: column {column!r} holds numbers, not text. Name the "
                            "column that holds the text to tokenize (or leave data.text out for "
                            "numeric features).")
        values, missing = text_values(series, rows)
        values[missing] = ""
        return values

    def fit_transform(self, frame, rows=None):
        rows = np.arange(len(frame)) if rows is None else np.asarray(rows)
        self.vocabulary = build_vocabulary(self._texts(frame, rows), self.text["vocab_size"],
                                           self.text["lowercase"])
        # the embedding's default input_dim: padding, unknown and the vocabulary
        self.data_facts = {"vocab_size": len(self.vocabulary) + 2}
        return super().fit_transform(frame, rows)

    def _encode(self, frame, rows):
        return encode(self._texts(frame, rows), self.vocabulary, self.text["max_length"],
                      self.text["lowercase"], self.dtype)

    def describe(self):
        return []  # the vocabulary size is in the model summary (the embedding's input_dim)

    # ---- preprocess.json
    def _column_entries(self):
        return [{"name": name, "kind": "text"} for name in self.features]

    def _doc(self):
        doc = super()._doc()
        doc["text"] = {**self.text, "vocabulary": self.vocabulary}
        return doc

    @classmethod
    def from_doc(cls, doc, data):
        saved = dict(doc["text"])
        vocabulary = list(saved.pop("vocabulary"))
        kind = cls._from_doc(doc, settings=data, text=saved)
        kind.vocabulary = vocabulary
        return kind

    # ---- exporting
    def export_inputs(self, graph, model_shape, token_ids):
        graph.document("vocab", self.vocabulary_document())
        return super().export_inputs(graph, model_shape, token_ids)

    def vocabulary_document(self):
        """The vocabulary and how to encode text with it, written beside an exported model."""
        return {"format": "nettrain-vocabulary/1", "column": self.text["column"],
                "token_pattern": r"\w+", "lowercase": bool(self.text["lowercase"]),
                "max_length": int(self.text["max_length"]), "padding_id": 0, "unknown_id": 1,
                "first_id": 2, "vocabulary": list(self.vocabulary),
                "encoding": "ids of the last max_length tokens, 0-padded at the front; a token's "
                            "id is its position in vocabulary + 2, an unknown token's 1"}
