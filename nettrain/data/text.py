"""Text as token ids: data.text turns a text column into (n, max_length) ids for an embedding.

Tokens are `\\w+` runs (after lowercasing, by default). The vocabulary is the train split's
`vocab_size - 2` most frequent tokens, ties broken by first appearance; id 0 is padding, 1 an
unknown token, then the vocabulary in order. A longer text keeps its last `max_length`
tokens; a shorter one is padded with 0 at the front. The vocabulary is saved in
preprocess.json, so `predict` encodes new text exactly as fit did.
"""

import json
import re
from collections import Counter

import numpy as np

from nettrain.data.csvfast import is_number_dtype
from nettrain.data.preprocess import Preprocessor, text_values
from nettrain.errors import DataError

PAD, UNKNOWN = 0, 1
TOKEN = re.compile(r"\w+")
TEXT_DEFAULTS = {"column": None, "vocab_size": 20000, "max_length": 200, "lowercase": True}


def tokenize(text, lowercase=True):
    """The `\\w+` runs of `text`, lowercased first when asked."""
    return TOKEN.findall(text.lower() if lowercase else text)


def build_vocabulary(texts, vocab_size, lowercase=True):
    """The `vocab_size - 2` most frequent tokens of `texts`, ties by first appearance."""
    counts = Counter()
    for text in texts:
        counts.update(tokenize(text, lowercase))
    # Counter keeps first-appearance order and sorted() is stable, so ties keep that order.
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    return [token for token, _ in ranked[:max(vocab_size - 2, 0)]]


def encode(texts, vocabulary, max_length, lowercase=True, dtype="float32"):
    """Token ids (len(texts), max_length): the last max_length tokens, 0-padded at the front."""
    index = {token: i + 2 for i, token in enumerate(vocabulary)}
    out = np.zeros((len(texts), max_length), dtype=dtype)
    for row, text in enumerate(texts):
        ids = [index.get(token, UNKNOWN) for token in tokenize(text, lowercase)][-max_length:]
        if ids:
            out[row, max_length - len(ids):] = ids
    return out


class TextPreprocessor(Preprocessor, json_key="text"):
    """A Preprocessor whose one feature is a text column, encoded as token ids (never scaled).

    Args: those of Preprocessor, plus `text`: the data.text mapping (column, vocab_size,
    max_length, lowercase).
    """

    def __init__(self, *args, text=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.text = {**TEXT_DEFAULTS, **(text or {})}
        self.vocabulary = None
        self.numeric, self.levels = [], {}

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

    def to_json(self):
        features, self.features = self.features, []  # the base writes numeric/categorical columns
        try:
            doc = json.loads(super().to_json())
        finally:
            self.features = features
        doc["columns"] = [{"name": name, "kind": "text"} for name in features]
        doc["feature_names"] = list(features)
        doc["text"] = {**self.text, "vocabulary": self.vocabulary}
        return json.dumps(doc, indent=1, allow_nan=False)

    @classmethod
    def _from_doc(cls, doc):
        pre = super()._from_doc(doc)
        saved = dict(doc["text"])
        pre.vocabulary = list(saved.pop("vocabulary"))
        pre.text = {**TEXT_DEFAULTS, **saved}
        return pre
