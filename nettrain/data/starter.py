"""Starter configs (`nettrain init`): a template that validates and trains as written, or a
config written for one table with a comment saying why for each choice.

For a table, each choice follows from what it holds (see `nettrain.data.profile`): the task
(from the target), `units: auto`, the columns to leave out (row ids, text with too many
values, columns that give the target away), date columns, what to do with missing values
and missing targets, class weights for a rare class, the split and the metrics.
"""

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from nettrain.config.locations import flow
from nettrain.data.downloads import shipped_dir
from nettrain.data.profile import profile_table
from nettrain.data.values import shorten
from nettrain.errors import ConfigError, NettrainError

TEMPLATES = {"classification": "iris.csv", "regression": "diabetes.csv"}  # template -> dataset
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
IMBALANCED = 0.25  # a class under this share of the largest one's rows: class_weights: balanced
RARE_ROWS = 3  # fewer rows than this cannot be stratified into three splits
WEIGHED_ROWS = 20  # a class with fewer rows is not weighed up (its few rows would dominate)


@dataclass(frozen=True)
class StarterConfig:
    """A starter config's YAML text, the file it is meant for and what to tell about it.

    Attributes:
        text: the commented YAML config.
        path: the file it is written to by `write` (its data path is relative to that
            file's folder), or None: it is printed, relative to the working directory.
        notes: what the user should know: columns left out and why, dates split into
            parts, a template's dataset that is not there.
    """

    text: str
    path: str | os.PathLike | None = None
    notes: list[str] = field(default_factory=list)

    def write(self, force=False):
        """Write the config to `path`, refusing to overwrite a file unless `force`; return
        the path written."""
        path = Path(self.path)
        if path.exists() and not force:
            raise NettrainError(f"{self.path} already exists; nothing was written. Use --force to "
                                "overwrite it, or choose another file with -o.")
        if path.is_dir():
            raise NettrainError(f"{self.path} is a directory; give a file name such as "
                                f"{path / 'config.yaml'}.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.text, encoding="utf-8")
        except OSError as err:
            raise NettrainError(f"Cannot write {self.path}: {err.strerror or err}.") from None
        return path


def starter_config(template=None, data=None, target=None, path=None):
    """A starter config: the `template` (classification, the default, or regression), or one
    written for the table `data` to predict its column `target`.

    Args:
        path: the file the config is meant for; its data path is written relative to that
            file's folder (None: to the working directory, the config named config.yaml).
    """
    out_dir = Path(path).parent if path else Path.cwd()
    name = str(path) if path else "config.yaml"
    if data is None and target is None:
        template = template or "classification"
        dataset = shipped_dir() / TEMPLATES[template]
        notes = [] if dataset.is_file() else [f"{dataset} was not found; point data.path at "
                                              "your data before training."]
        return StarterConfig(template_config(template, out_dir, name), path, notes)
    if template is not None or data is None or target is None:
        raise ConfigError("A starter config comes from a template, or from a table (data) and "
                          "the column to predict in it (target), not both.")
    found = profile_table(Path(data), target)
    notes = [f"left out {c!r}: {why}" for c, why in found["exclude"].items()]
    notes += [f"dates: {c!r} -> {', '.join(parts)}" for c, parts in found["dates"].items()]
    return StarterConfig(table_config(found, out_dir, name), path, notes)


def _relative(file, out_dir):
    """`file`'s path relative to `out_dir`, as a config writes it."""
    try:
        return Path(os.path.relpath(file, Path(out_dir).resolve())).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        return Path(file).as_posix()


def template_config(template, out_dir, name="config.yaml"):
    """The starter config `template` to be saved as `name` in `out_dir` (the data path is
    relative to it)."""
    data_path = _relative(shipped_dir() / TEMPLATES[template], out_dir)
    text = (TEMPLATE_DIR / f"{template}.yaml").read_text(encoding="utf-8")
    return Template(text).substitute(data_path=flow(data_path).ljust(19) + " ", config=name)


# ---------------------------------------------------------------- a config for a table


def _comment(line, why, width=40):
    """`line`, then `# why` in the column `width` (or two spaces after a longer line)."""
    if not why:
        return line
    return f"{line.ljust(width)}# {why}" if len(line) < width else f"{line}  # {why}"


def table_config(found, out_dir, config_name):
    """The commented YAML config for a table's findings (see `profile_table`), its data path
    relative to `out_dir`; `config_name` is how its comments name the file."""
    path = Path(found["path"]).resolve()
    data_path = _relative(path, out_dir)
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
