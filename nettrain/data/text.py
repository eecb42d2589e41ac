"""Text as token ids: data.text turns a text column into (n, max_length) ids for an embedding.

Tokens are `\\w+` runs (after lowercasing, by default). The vocabulary is the train split's
`vocab_size - 2` most frequent tokens, ties broken by first appearance; id 0 is padding, 1 an
unknown token, then the vocabulary in order. A longer text keeps its last `max_length`
tokens; a shorter one is padded with 0 at the front. The vocabulary is saved in
preprocess.json, so `predict` encodes new text exactly as fit did (the text kind,
`nettrain.data.kinds.text`).
"""

import re
from collections import Counter

import numpy as np

PAD, UNKNOWN = 0, 1
TOKEN = re.compile(r"\w+")


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

