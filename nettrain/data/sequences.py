"""Where sequence data (data.window, data.text, .npz token ids) departs from a plain table.

`prepare_data` asks these few functions at the steps where a series or a text differs: which
columns are features, how the rows are split, which Preprocessor learns the encoding, and what
the model must be told (the vocabulary size an embedding defaults to).
"""

import functools

from nettrain.data.preprocess import Preprocessor
from nettrain.data.text import TextPreprocessor
from nettrain.data.windows import WindowPreprocessor, order_frames, window_features, window_parts

__all__ = ["order_frames", "sequence_features", "sequence_categorical", "split_parts",
           "preprocessor_class", "token_id_input", "note_token_ids"]


def sequence_features(data, frame, targets, features):
    """The feature columns: a series keeps its target's past values; a text is its column."""
    if data["window"]:
        return window_features(data, [str(c) for c in frame.columns], targets, features)
    if data["text"]:
        return [data["text"]["column"]]
    return features


def sequence_categorical(data, columns):
    """`columns` without a data.text column: it is tokenized, not one-hot encoded or inspected."""
    text = data["text"]
    return [c for c in columns if not text or c != text["column"]]


def split_parts(data, frames, rows, notes, default):
    """Chronological blocks for a series; otherwise `default()` (the shuffled split)."""
    return window_parts(frames, rows, data, notes) if data["window"] else default()


def preprocessor_class(data):
    """The Preprocessor (class or factory taking its arguments) for this data section."""
    if data["window"]:
        return functools.partial(WindowPreprocessor, window=data["window"])
    if data["text"]:
        return functools.partial(TextPreprocessor, text=data["text"])
    return Preprocessor


def token_id_input(config):
    """True when the first layer takes token ids (it says so: `input_kind`), as an embedding."""
    from nettrain.nn.layers import LAYERS

    first = config["model"]["layers"][0]
    return LAYERS[first["type"]].input_kind == "token_ids"


def note_token_ids(pre, splits, notes):
    """Token ids from a file (not data.text): the vocabulary size is the largest id + 1."""
    if isinstance(pre, TextPreprocessor):
        return
    if not pre.data_facts.get("vocab_size"):
        largest = max((int(X.max()) for X, _ in splits.values() if X.size), default=0)
        pre.data_facts = {"vocab_size": largest + 1}
    notes.append(f"token ids: vocabulary size {pre.data_facts['vocab_size']} (largest id + 1), "
                 "not scaled")
