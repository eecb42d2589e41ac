"""k-fold assignments of a table's rows, as scikit-learn makes them: stratified by class
(StratifiedKFold's allocation), grouped (GroupKFold's greedy balance), chronological
(TimeSeriesSplit's blocks) or plain shuffled (KFold's sizes); then the rows left for training
split train:val.

Every function takes and returns 0-based row positions; the held-out folds of the first three
cover every row once (a chronological split never holds out its first block: it has no past to
train on).
"""

import numpy as np

from nettrain.data.splits import split_indices
from nettrain.errors import DataError


def check_folds(k, n, what="rows"):
    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise DataError(f"--folds must be an integer >= 2 (one fold is held out, the others train). "
                        f"Got {k!r}.")
    if k > n:
        raise DataError(f"--folds {k} is more than the data's {n} {what}: each fold needs at least "
                        f"one. Use --folds {max(2, min(5, n))} or fewer.")


def kfold(n, k, seed):
    """Shuffled folds of sizes n // k (+1 for the first n % k), as KFold(shuffle=True)."""
    check_folds(k, n)
    order = np.random.default_rng(seed).permutation(n)
    sizes = np.full(k, n // k)
    sizes[: n % k] += 1
    return [np.sort(part) for part in np.split(order, np.cumsum(sizes)[:-1])]


def stratified(labels, k, seed):
    """Folds with each class spread as StratifiedKFold spreads it: the labels, classes in
    order of first appearance, dealt round-robin to the folds, so per fold and class the
    counts are sklearn's; which rows of a class go to which fold is drawn with `seed`."""
    labels = np.asarray(labels)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    codes = np.argsort(np.argsort(first))[inverse]  # class codes by first appearance
    classes = first
    counts = np.bincount(codes)
    if counts.max() < k:
        raise DataError(f"--folds {k}: no class has {k} rows, so no fold can hold every class. "
                        f"Use --folds {max(2, int(counts.max()))} or fewer.")
    check_folds(k, len(labels))
    # StratifiedKFold's allocation: deal the sorted labels to the folds in turn.
    in_order = np.sort(codes)
    allocation = np.array([np.bincount(in_order[i::k], minlength=len(classes)) for i in range(k)])
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(labels), np.int64)
    for c in range(len(classes)):
        rows = rng.permutation(np.flatnonzero(codes == c))
        fold_of[rows] = np.repeat(np.arange(k), allocation[:, c])
    return [np.flatnonzero(fold_of == f) for f in range(k)]


def grouped(groups, k):
    """Folds that never split a group, balanced as GroupKFold balances them: the largest
    group first, each to the fold with the fewest rows so far."""
    values, codes = np.unique(np.asarray(groups), return_inverse=True)
    check_folds(k, len(values), "groups (data.group)")
    sizes = np.bincount(codes)
    fold_rows = np.zeros(k, np.int64)
    fold_of_group = np.empty(len(values), np.int64)
    for g in np.argsort(-sizes, kind="stable"):
        fold = int(np.argmin(fold_rows))
        fold_of_group[g] = fold
        fold_rows[fold] += sizes[g]
    fold_of = fold_of_group[codes]
    return [np.flatnonzero(fold_of == f) for f in range(k)]


def chronological(n, k):
    """(held-out block, rows before it) per fold, as TimeSeriesSplit(n_splits=k): the last
    k blocks of n // (k + 1) rows are held out in turn; each trains on every row before it."""
    check_folds(k + 1, n)
    size = n // (k + 1)
    starts = range(n - k * size, n, size)
    return [(np.arange(start, start + size), np.arange(start)) for start in starts]


def train_val(rows, fractions, seed, strata=None, groups=None, in_order=False):
    """The rows left for training split into {"train": ..., "val": ...} in data.split's
    train:val ratio: in order (a series: val is the latest rows), by whole groups, stratified
    by `strata`, or shuffled; {"train": rows} when val has no share."""
    train, val = float(fractions["train"]), float(fractions["val"] or 0)
    rows = np.asarray(rows)
    if val == 0:
        return {"train": rows}
    share = {"train": train / (train + val), "val": val / (train + val)}
    if in_order:
        cut = int(round(share["train"] * len(rows)))
        return {"train": rows[:cut], "val": rows[cut:]}
    if groups is not None:
        values, codes = np.unique(np.asarray(groups)[rows], return_inverse=True)
        picked = split_indices(len(values), share, seed)
        return {split: rows[np.isin(codes, chosen)] for split, chosen in picked.items()}
    picked = split_indices(len(rows), share, seed,
                           None if strata is None else np.asarray(strata)[rows], notes=[])
    return {split: rows[chosen] for split, chosen in picked.items()}
