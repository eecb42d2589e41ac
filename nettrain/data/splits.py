"""Seeded row splits by fractions, stratified by class when asked; vectorized over rows."""

import numpy as np

from nettrain.errors import DataError

SPLITS = ("train", "val", "test")


def split_indices(n, fractions, seed, strata=None, strata_names=None, notes=None):
    """Sorted row positions for each split with a fraction > 0, drawn with `seed`.

    With `strata` (an integer group per row, e.g. class indices) each group is split in
    the same proportions and every group reaches every non-empty split. Counts follow the
    largest-remainder rule, so they add up to n. A group with fewer rows than there are
    splits cannot reach each one: given a `notes` list, its rows all go to the train split
    (a warning in `notes` names it) and the other groups are stratified; without, it is an
    error.
    """
    if strata is not None and notes is not None:
        rare = _rare_groups(strata, fractions)
        if rare.any():
            return _train_takes_rare(n, fractions, seed, strata, strata_names, rare, notes)
    if n == 0:
        raise DataError("The data has no usable rows to split.")
    fracs = np.array([float(fractions.get(k) or 0) for k in SPLITS])
    fracs = fracs / fracs.sum()
    codes = np.zeros(n, np.int64) if strata is None else np.asarray(strata, np.int64)
    groups, codes = np.unique(codes, return_inverse=True)
    sizes = np.bincount(codes, minlength=len(groups))
    wanted = int((fracs > 0).sum())
    if strata is not None and sizes.min() < wanted:
        g = int(np.argmin(sizes))
        label = strata_names[groups[g]] if strata_names is not None else groups[g]
        raise DataError(
            f"Class {str(label)!r} has only {sizes[g]} row(s), too few to stratify into "
            f"{wanted} splits ({_fractions(fracs)}). Set data.split.stratify: false, set a "
            "split fraction to 0, or add rows of that class.")
    counts = _allocate(sizes, fracs, at_least_one=strata is not None)
    for s, split in enumerate(SPLITS):
        if fracs[s] > 0 and counts[:, s].sum() == 0:
            raise DataError(
                f"data.split.{split} is {fractions.get(split)} but the data has only {n} "
                f"usable rows, which leaves the {split} split empty. Raise the fraction, set "
                f"data.split.{split}: 0, or use more data.")
    order = np.lexsort((np.random.default_rng(seed).random(n), codes))  # random within group
    grouped = codes[order]
    rank = np.arange(n) - np.searchsorted(grouped, grouped)
    cut = np.cumsum(counts, axis=1)[grouped]
    which = (rank >= cut[:, 0]).astype(np.int64) + (rank >= cut[:, 1])
    return {split: np.sort(order[which == s]) for s, split in enumerate(SPLITS) if fracs[s] > 0}


def _rare_groups(strata, fractions):
    """Per row, whether its group has fewer rows than there are non-empty splits."""
    wanted = sum(1 for k in SPLITS if float(fractions.get(k) or 0) > 0)
    _, codes, sizes = np.unique(np.asarray(strata), return_inverse=True, return_counts=True)
    return sizes[codes] < wanted


def _train_takes_rare(n, fractions, seed, strata, strata_names, rare, notes):
    """Stratify the rows of the common groups; every row of a rare group goes to train."""
    strata = np.asarray(strata)
    common = np.flatnonzero(~rare)
    labels, counts = np.unique(strata[rare], return_counts=True)
    named = [f"{strata_names[g] if strata_names is not None else g!s} ({c})"
             for g, c in zip(labels.tolist(), counts.tolist())]
    from nettrain.data.values import shorten

    if len(common) == 0:
        notes.append(f"warning: every class has too few rows to reach every split "
                     f"({shorten(named)}), so the split is not stratified.")
        return split_indices(n, fractions, seed)
    notes.append(f"warning: {len(named)} class(es) have too few rows to reach every split, so "
                 f"their rows all go to the train split: {shorten(named)}. The other classes "
                 "are stratified. Add rows of those classes, or merge them into a broader one.")
    picked = split_indices(len(common), fractions, seed, strata[common], strata_names)
    picked = {split: common[idx] for split, idx in picked.items()}
    picked["train"] = np.sort(np.concatenate([picked["train"], np.flatnonzero(rare)]))
    return picked


def _allocate(sizes, fracs, at_least_one):
    """Rows per (group, split), adding up to each group's size and to the overall counts.

    The overall counts follow the largest-remainder rule; each group gets its floors, then
    the leftover rows go to the (group, split) cells with the largest remainders while the
    split still has room. The loops run over cells (groups x 3), never over rows.
    """
    exact = sizes[:, None] * fracs[None, :]
    counts = np.floor(exact + 1e-9).astype(np.int64)
    total = _largest_remainder(int(sizes.sum()), fracs)
    short, room = sizes - counts.sum(axis=1), total - counts.sum(axis=0)
    remainder = exact - counts
    cells = [divmod(int(c), 3) for c in np.argsort(-remainder, axis=None, kind="stable")]
    for g, s in cells + [(g, s) for g in range(len(sizes)) for s in range(3)]:
        if short[g] > 0 and room[s] > 0 and fracs[s] > 0:
            counts[g, s] += 1
            short[g] -= 1
            room[s] -= 1
    if at_least_one:
        for s in np.flatnonzero(fracs > 0):
            need = counts[:, s] == 0
            donor = np.argmax(counts, axis=1)
            counts[need, donor[need]] -= 1
            counts[need, s] += 1
    return counts


def _largest_remainder(n, fracs):
    exact = n * fracs
    counts = np.floor(exact + 1e-9).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


def _fractions(fracs):
    return "/".join(f"{f:g}" for f in fracs)
