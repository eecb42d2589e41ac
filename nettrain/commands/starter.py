"""`nettrain init --data FILE --target COL`: a config written for one table, with reasons.

The table is read as `fit` reads it; then each choice follows from what it holds: the task
(from the target), `units: auto`, the columns to leave out (row ids, text with too many
values, columns that give the target away), date columns, what to do with missing values
and missing targets, class weights for a rare class, the split and the metrics. Each
choice is written with a comment that says why.
"""

import math
import os
from pathlib import Path

import numpy as np

from nettrain.data.columns import ONEHOT_LIMIT, infer_task
from nettrain.data.dates import find_date_columns
from nettrain.data.files import read_table
from nettrain.data.inspect import id_range, suspects
from nettrain.data.values import shorten, text_values
from nettrain.errors import DataError
from nettrain.registry import suggest

IMBALANCED = 0.25  # a class under this share of the largest one's rows: class_weights: balanced
RARE_ROWS = 3  # fewer rows than this cannot be stratified into three splits
WEIGHED_ROWS = 20  # a class with fewer rows is not weighed up (its few rows would dominate)


def profile(path, target, sep=None):
    """What `nettrain init --data` needs to know about a table: a dict of findings."""
    frame = read_table(path, str(path), targets=[target], fast=False, sep=sep)
    columns = [str(c) for c in frame.columns]
    if target not in columns:
        raise DataError(f"--target: column {target!r} not found in '{path}'.{suggest(target, columns)} "
                        f"Its columns are: {shorten(columns, 40)}.")
    features = [c for c in columns if c != target]
    if not features:
        raise DataError(f"'{path}' has only the column {target!r}: nothing to learn from.")
    found = {"path": path, "target": target, "rows": len(frame), "exclude": {}, "dates": {}}
    target_missing = text_values(frame[target])[1]
    found["missing_target"] = int(target_missing.sum())
    known = frame[~target_missing]
    if len(known) == 0:
        raise DataError(f"Column {target!r} of '{path}' is empty in every row.")
    task, _ = infer_task(known, [target])
    found["task"] = task
    for name, why in suspects(known, features, [target], task).items():
        found["exclude"][name] = ("a row number" if id_range(known[name]) is not None
                                  else "gives the target away (a leak)")
    found["dates"] = find_date_columns(frame, [f for f in features if f not in found["exclude"]])
    for name in features:
        if name in found["exclude"] or name in found["dates"]:
            continue
        levels = _text_levels(frame[name])
        if levels is not None and levels > ONEHOT_LIMIT:
            found["exclude"][name] = f"text with {levels:,} distinct values (an id or free text)"
    kept = [f for f in features if f not in found["exclude"]]
    if not kept:
        raise DataError(f"Every feature column of '{path}' looks like an id or a leak "
                        f"({', '.join(found['exclude'])}); there is nothing to learn from.")
    found["features"] = kept
    found["gaps"] = {c: int(n) for c in kept if (n := _missing(frame[c]).sum())}
    found["inputs"] = sum(len(found["dates"][c]) if c in found["dates"] else
                          (_text_levels(frame[c]) or 1) for c in kept)
    if task == "classification":
        labels, counts = np.unique(text_values(known[target])[0], return_counts=True)
        if len(labels) < 2:
            raise DataError(f"Column {target!r} of '{path}' holds a single class ({labels[0]!r}): "
                            "there is nothing to tell apart.")
        found["classes"] = dict(zip(labels.tolist(), counts.tolist()))
    return found


def _text_levels(series):
    """The number of distinct values of a text column, None for a numeric one."""
    from nettrain.data.csvfast import is_number_dtype

    if is_number_dtype(series.dtype):
        return None
    return int(series.dropna().nunique())


def _missing(series):
    from nettrain.data.csvfast import is_number_dtype

    if is_number_dtype(series.dtype):
        return ~np.isfinite(np.asarray(series.to_numpy(), dtype=np.float64))
    return text_values(series)[1]


# ---------------------------------------------------------------- writing the config


def _comment(line, why, width=40):
    """`line`, then `# why` in the column `width` (or two spaces after a longer line)."""
    if not why:
        return line
    return f"{line.ljust(width)}# {why}" if len(line) < width else f"{line}  # {why}"


def render(found, out_dir, config_name):
    """The commented YAML config for `found` (see `profile`), its path relative to `out_dir`."""
    from nettrain.config.locations import flow

    path = Path(found["path"]).resolve()
    try:
        data_path = Path(os.path.relpath(path, Path(out_dir).resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        data_path = path.as_posix()
    n, target = found["rows"], found["target"]
    lines = [f"# A nettrain config written for {path.name} ({n:,} rows), to predict {target!r}.",
             f"#   nettrain validate {config_name}   # check it; prints every value",
             f"#   nettrain fit {config_name}        # train it into runs/NAME/<time>/",
             "# Each choice below says why; change any of them. Paths are relative to this file.",
             f"name: {flow(path.stem.replace(' ', '-'))}", "seed: 0", "", "data:",
             f"  path: {flow(data_path)}", f"  target: {flow(target)}"]
    lines += _data_lines(found, flow)
    lines += _model_lines(found)
    lines += _training_lines(found, flow)
    lines.append("output: runs                            # where run directories go")
    return "\n".join(lines) + "\n"


def _data_lines(found, flow):
    lines = [_comment(f"  task: {found['task']}", _task_why(found))]
    if found["exclude"]:
        lines.append("  exclude:                              # columns left out, and why:")
        lines += [f"    - {flow(c)}".ljust(40) + f"# {why}" for c, why in found["exclude"].items()]
    if found["dates"]:
        parts = "; ".join(f"{c}: {', '.join(p)}" for c, p in found["dates"].items())
        lines.append(_comment(f"  dates: {flow(list(found['dates']))}",
                              f"ISO dates -> numeric parts ({parts})"))
    if found["missing_target"]:
        lines.append(_comment("  missing_target: drop", f"{found['missing_target']:,} rows have "
                                                        "no target: left out"))
    if found["gaps"]:
        listed = shorten([f"{c} {k:,}" for c, k in found["gaps"].items()], 4)
        lines.append(_comment("  missing: mean", f"gaps ({listed}): train means; a missing "
                                                 "category is all zeros"))
    else:
        lines.append(_comment("  missing: error", "no gaps in the features"))
    stratify = found["task"] == "classification"
    small = found["rows"] < 1000
    fractions = (0.6, 0.2, 0.2) if small else (0.7, 0.15, 0.15)
    split = ("{train: %g, val: %g, test: %g, stratify: %s}"
             % (*fractions, "true" if stratify else "false"))
    why = "a fifth each for val and test: few rows" if small else "random rows"
    if stratify:
        why += "; each class in proportion"
        rare = [c for c, k in found.get("classes", {}).items() if k < RARE_ROWS]
        if rare:
            why += f" ({len(rare)} class(es) under {RARE_ROWS} rows go to train)"
    lines.append(_comment(f"  split: {split}", why))
    lines.append(_comment("  scale: standard", "features: (x - mean) / std of the train split"))
    if found["task"] == "regression":
        lines.append(_comment("  scale_target: standard", "the target too; predictions are "
                                                          "mapped back"))
    return lines


def _task_why(found):
    if found["task"] == "regression":
        return f"{found['target']!r} holds numbers"
    classes = found["classes"]
    return f"{len(classes)} classes: {shorten(list(classes), 4)}"


def _hidden_units(inputs):
    return int(min(128, max(16, 2 ** round(math.log2(max(inputs, 1) * 2)))))


def _model_lines(found):
    units = _hidden_units(found["inputs"])
    lines = ["", "model:", "  layers:",
             _comment(f"    - {{type: dense, units: {units}, activation: relu}}",
                      f"about {found['inputs']} inputs", 56),
             f"    - {{type: dense, units: {max(8, units // 2)}, activation: relu}}",
             _comment("    - {type: dense, units: auto}",
                      "the output layer: as many units as the data needs", 56)]
    return lines


def _training_lines(found, flow):
    n = found["rows"]
    lines = [""]
    if found["task"] == "classification":
        classes = found["classes"]
        total = sum(classes.values())
        weighed = {c: k for c, k in classes.items() if k >= WEIGHED_ROWS}
        rarest, count = min(classes.items(), key=lambda kv: kv[1])
        if count < IMBALANCED * max(classes.values()) and len(weighed) == len(classes):
            why = (f"{rarest!r} is {count / total:.1%} of the rows: every class weighs the "
                   "same")
            lines.append(_comment("loss: {name: cross_entropy, class_weights: balanced}", why, 52))
        else:
            why = "softmax is in the loss"
            if len(weighed) < len(classes):
                why += (f"; {len(classes) - len(weighed)} class(es) with under {WEIGHED_ROWS} rows "
                        "are too few to weigh up")
            lines.append(_comment("loss: cross_entropy", why))
        binary = len(classes) == 2
        metrics = (["accuracy", "balanced_accuracy", "f1", "roc_auc", "pr_auc"] if binary
                   else ["accuracy", "balanced_accuracy", "f1"])
        why = ("f1, roc_auc, pr_auc: of the positive class " + repr(sorted(classes)[1])
               if binary else "f1: macro average over the classes")
    else:
        lines.append(_comment("loss: mse", "mean squared error"))
        metrics, why = ["r2", "mae", "rmse"], "in the target's units"
    epochs = 200 if n <= 2000 else 100 if n <= 20000 else 50
    batch = 32 if n <= 5000 else 128
    lines += [_comment("optimizer: {name: adam, lr: 0.001}", "a safe start"),
              "training:",
              _comment(f"  epochs: {epochs}", "an upper bound: early stopping ends sooner"),
              _comment(f"  batch_size: {batch}", f"{n:,} rows"),
              _comment("  early_stopping: {monitor: val_loss, patience: 10}",
                       "stop when val_loss stalls", 52),
              _comment("  save: best", "keep the epoch with the best val_loss"),
              _comment(f"metrics: {flow(metrics)}", why, 52)]
    return lines
