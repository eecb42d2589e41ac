"""The config schema: every key of docs/config.md with its type, range and default, and the checks
across keys."""

from nettrain import registry
from nettrain.config.fields import (
    MISSING,
    Bad,
    Item,
    Leaf,
    Resolver,
    boolean,
    choice,
    columns,
    integer,
    is_number,
    names,
    nullable,
    number,
    run_name,
    section,
    show,
    text,
)
from nettrain.config.fit_data import AUTO
from nettrain.config.locations import Places, flow, keypath, locate_problem, overridden
from nettrain.config.trackers import log_targets
from nettrain.errors import ConfigError

# The file formats data.path (and data.train/val/test) may name, by suffix: the one list of
# them. nettrain.data reads each format with its reader (data/files.py, READERS).
DATA_FORMATS = {".csv": "csv", ".csv.gz": "csv", ".tsv": "tsv", ".tsv.gz": "tsv", ".tab": "tsv",
                ".parquet": "parquet", ".npz": "npz"}
REGISTRIES = (  # kind, module, table
    ("layer", "layers", "LAYERS"), ("activation", "activations", "ACTIVATIONS"),
    ("initializer", "initializers", "INITIALIZERS"), ("loss", "losses", "LOSSES"),
    ("optimizer", "optimizers", "OPTIMIZERS"), ("schedule", "schedules", "SCHEDULES"),
    ("metric", "metrics", "METRICS"),
)


def data_format(path):
    """The format of a data file ("csv", "tsv", "parquet", "npz") by its suffix, or None."""
    name = str(path).lower()
    return next((fmt for suffix, fmt in DATA_FORMATS.items() if name.endswith(suffix)), None)


def registries():
    """The core's registry tables by kind, imported on first use (they pull in NumPy)."""
    import importlib

    return {kind: getattr(importlib.import_module(f"nettrain.nn.{module}"), table)
            for kind, module, table in REGISTRIES}


def layers(r, path, raw):
    if raw is MISSING or raw is None:
        r.error(path, "is required: a list of layers, e.g. [{type: dense, units: 32, activation: relu}, "
                      "{type: dense, units: 3}].")
        return []
    if not isinstance(raw, list) or not raw:
        r.error(path, f"expected a non-empty list of layers, got {show(raw)}.")
        return raw
    item = Item("layer", name_key="type", nested=(("activation", "activation"), ("init", "initializer")))
    out = []
    for i, spec in enumerate(raw):
        auto = isinstance(spec, dict) and spec.get("units") == AUTO
        if auto and i != len(raw) - 1:
            r.error(path + (i, "units"), "'auto' is for the output layer only (the last one): it takes "
                                         "the number of units the data needs. Give a number here.")
        resolved = item(r, path + (i,), {**spec, "units": 1} if auto else spec)
        if auto and isinstance(resolved, dict):
            resolved["units"] = AUTO  # the data sets it: see resolve_auto_units
        out.append(resolved)
    return out


def label(v):
    """A class label as the data holds it: text, a number or a boolean."""
    if isinstance(v, (str, int, float, bool)) and v != "":
        return v
    raise Bad("a class label (text or a number)")


def metric_list(r, path, raw):
    r.record(path, raw is not MISSING)
    if raw is MISSING:
        return ["accuracy"]
    if not isinstance(raw, list) or not all(isinstance(m, str) for m in raw):
        r.error(path, f"expected a list of metric names such as [accuracy, f1], got {show(raw)}.")
        return [m for m in raw if isinstance(m, str)] if isinstance(raw, list) else []
    for i, name in enumerate(raw):
        try:
            registry.lookup("metric", r.tables["metric"], name, keypath(path + (i,)))
        except ConfigError as err:
            r.errors_from(path + (i,), err)
        if raw.index(name) != i:
            r.error(path + (i,), f"{name!r} is listed twice.")
    return list(raw)


# ---------------------------------------------------------------- sections


FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}
DEFAULT_SPLIT = {**FRACTIONS, "stratify": True}  # `data.split` left out; the one place of these defaults


def split(r, path, raw):
    """Split fractions: left out entirely -> 0.7/0.15/0.15; once any is given, the others are 0."""
    raw = r.mapping(path, raw, [*FRACTIONS, "stratify"])
    given = any(k in raw for k in FRACTIONS)
    fields = {k: Leaf(v if not given else 0.0, number(0, 1)) for k, v in FRACTIONS.items()}
    fields["stratify"] = Leaf(True, boolean)
    out = {key: field(r, path + (key,), raw.get(key, MISSING)) for key, field in fields.items()}
    fractions = [out[k] for k in FRACTIONS]
    if all(is_number(f) for f in fractions):
        total = sum(fractions)
        if abs(total - 1) > 1e-6:
            parts = " + ".join(f"{k} {out[k]:g}" for k in FRACTIONS)
            r.error(path, f"the fractions must sum to 1, got {total:g} ({parts}); a split left out "
                          "counts as 0.")
        elif out["train"] == 0:
            r.error(path + ("train",), "the train split cannot be empty: give it a fraction > 0.")
    return out


def sizes(lengths, what):
    """A list of `lengths` positive integers, e.g. data.shape [1, 28, 28]."""
    def check(v):
        ok = isinstance(v, list) and len(v) in lengths and all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in v)
        if not ok:
            raise Bad(what)
        return v
    return check


WINDOW = {"size": Leaf(None, nullable(integer(1))), "horizon": Leaf(1, integer(1)),
          "stride": Leaf(1, integer(1)), "order_by": Leaf(None, nullable(text))}
TEXT = {"column": Leaf(None, nullable(text)), "vocab_size": Leaf(20000, integer(3)),
        "max_length": Leaf(200, integer(1)), "lowercase": Leaf(True, boolean)}


def _optional(fields, required, example):
    """null (off) or a mapping of `fields` in which `required` must be given."""
    def check(r, path, raw):
        if raw is MISSING or raw is None:
            r.record(path, raw is not MISSING)
            return None
        out = r.section(path, raw, fields)
        if isinstance(raw, dict) and out[required] is None:
            r.error(path + (required,), f"is required: {example}")
        return out
    return check


window = _optional(WINDOW, "size", "the number of consecutive rows in a window, e.g. "
                                   "data.window: {size: 20}.")
text_column = _optional(TEXT, "column", "the column that holds the text, e.g. "
                                        "data.text: {column: review}.")


def _sequence_problems(r, path, out):
    """data.window and data.text: what they cannot be combined with."""
    if out.get("window") and out.get("text"):
        r.error(path + ("text",), "data.window (a time series) and data.text (a text column) "
                                  "cannot both be set. Keep one.")
    if out.get("window") and out.get("missing") == "drop":
        r.error(path + ("missing",), "'drop' would join rows across the gap inside a window of a "
                                     "time series. Use 'mean' or 'error' with data.window.")
    text_cfg, features = out.get("text"), out.get("features")
    if isinstance(text_cfg, dict) and isinstance(features, list) and features != [text_cfg["column"]]:
        r.error(path + ("features",), f"with data.text the only feature is the text column "
                                      f"{text_cfg['column']!r}. Leave data.features out.")


DATA = {
    "path": Leaf(None, nullable(text)),
    "images": Leaf(None, nullable(text)),
    "image_size": Leaf(None, nullable(sizes((2,), "[height, width], two integers >= 1"))),
    "color": Leaf("rgb", choice("rgb", "grayscale")),
    "shape": Leaf(None, nullable(sizes((1, 2, 3), "a sample shape such as [1, 28, 28] ([C, H, W]) "
                                                   "or [T, F], integers >= 1"))),
    "train": Leaf(None, nullable(text)),
    "val": Leaf(None, nullable(text)),
    "test": Leaf(None, nullable(text)),
    "target": Leaf(None, nullable(columns)),
    "features": Leaf(None, nullable(names)),
    "exclude": Leaf(None, nullable(names)),
    "dates": Leaf(None, nullable(names)),
    "task": Leaf("auto", choice("auto", "classification", "regression")),
    "split": split,
    "scale": Leaf("standard", choice("standard", "minmax", "none")),
    "scale_target": Leaf("none", choice("standard", "none")),
    "categorical": Leaf("onehot", choice("onehot", "error")),
    "missing": Leaf("error", choice("error", "drop", "mean")),
    "window": window,
    "text": text_column,
    "missing_target": Leaf("error", choice("error", "drop")),
    "onehot_limit": Leaf(100, integer(1)),
    "pos_label": Leaf(None, nullable(label)),
    "sep": Leaf(None, nullable(text)),
    "encoding": Leaf("utf-8", text),
    "group": Leaf(None, nullable(text)),  # cv: the column whose rows stay in one fold
}


def data_section(r, path, raw):
    if raw is MISSING or raw is None:
        r.error(path, "is required: give data.path (a .csv or .npz file) and data.target (the column "
                      "to predict).")
    out = r.section(path, raw, DATA)
    given = raw if isinstance(raw, dict) else {}
    if out["images"] is None:
        _check_files(r, path, out, given)
    elif out["path"] is not None or out["train"] is not None:
        r.error(path + ("images",), "give either data.images (a folder with one subfolder per class) "
                                    "or data files (data.path or data.train), not both.")
    if out["train"] is not None:
        _files_are_the_splits(r, path, out, given)
    target = [out["target"]] if isinstance(out["target"], str) else out["target"]
    if isinstance(target, list) and isinstance(out["features"], list):
        both = [c for c in target if c in out["features"]]
        if both:
            r.error(path + ("features",), f"the target {', '.join(map(repr, both))} cannot be a feature "
                                          "too. Remove it from data.features.")
    if isinstance(target, list) and isinstance(out["exclude"], list):
        both = [c for c in target if c in out["exclude"]]
        if both:
            r.error(path + ("exclude",), f"the target {', '.join(map(repr, both))} cannot be excluded: "
                                         "data.exclude lists feature columns to leave out.")
    if isinstance(out["features"], list) and isinstance(out["exclude"], list):
        both = [c for c in out["exclude"] if c in out["features"]]
        if both:
            r.error(path + ("exclude",), f"{', '.join(map(repr, both))} is both in data.features and "
                                         "data.exclude; give one of the two.")
    _sequence_problems(r, path, out)
    return out


def _check_files(r, path, out, given):
    """One file (path) or train/val/test files; CSVs need a target, .npz files hold y."""
    if out["path"] is not None and out["train"] is not None:
        r.error(path + ("train",), "give either data.path (one file, split by data.split) or data.train "
                                   "(with optional val/test files), not both.")
    elif out["path"] is None and out["train"] is None and given:
        r.error(path, "needs data.path (one file, split by data.split) or data.train (with optional "
                      "val/test files).")
    for key in ("val", "test"):
        if out[key] is not None and out["train"] is None:
            r.error(path + (key,), f"data.{key} is a file of its own and needs data.train as well; with "
                                   f"data.path, use data.split.{key} instead.")
    files = [out[k] for k in ("path", "train", "val", "test") if isinstance(out[k], str)]
    for key in ("path", "train", "val", "test"):
        if isinstance(out[key], str) and data_format(out[key]) is None:
            r.error(path + (key,), f"expected a .csv, .tsv, .parquet or .npz file (.csv.gz and .tsv.gz "
                                   f"too), got {out[key]!r}.")
    npz = bool(files) and all(data_format(f) == "npz" for f in files)
    if files and not npz and out["target"] is None:
        r.error(path, "needs data.target: the column (or list of columns) to predict.")


def _files_are_the_splits(r, path, out, given):
    if given.get("split") is not None:
        r.error(path + ("split",), "applies to data.path only: with data.train/val/test the files "
                                   "are the splits. Remove data.split.")
    for key in ("split", *(f"split.{k}" for k in (*FRACTIONS, "stratify"))):
        r.sources.pop(f"{keypath(path)}.{key}", None)
    out["split"] = None
    r.record(path + ("split",), False)


def early_stopping(r, path, raw):
    """null (off), true (the defaults) or a mapping; `mode` is inferred later from the monitor."""
    if raw is MISSING or raw is None or raw is False:
        r.record(path, raw is not MISSING)
        return None
    fields = {
        "monitor": Leaf("val_loss", text),
        "mode": Leaf(None, nullable(choice("min", "max"))),
        "patience": Leaf(10, integer(0)),
        "min_delta": Leaf(0.0, number(0)),
        "restore_best": Leaf(True, boolean),
    }
    if raw is True:
        raw = {}
    return r.section(path, raw, fields)


DIAGNOSTICS_BOUNDS = {  # the bounds of nettrain.training.diagnostics; `true` means these defaults
    "every": Leaf(10, integer(1)),
    "saturation_bound": Leaf(3.0, number(0, lo_open=True)),
    "dead_fraction": Leaf(0.5, number(0, 1)),
    "saturated_fraction": Leaf(0.5, number(0, 1)),
    "vanishing_ratio": Leaf(1e-3, number(0, 1, lo_open=True, hi_open=True)),
    "exploding_norm": Leaf(1000.0, number(0, lo_open=True)),
    "growth": Leaf(10.0, number(1, lo_open=True)),
    "min_update_ratio": Leaf(1e-5, number(0)),
    "max_update_ratio": Leaf(0.1, number(0, lo_open=True)),
}


def diagnostics(r, path, raw):
    """false/null (off), true (on, default bounds) or a mapping of bounds (on)."""
    if raw is MISSING or raw is None or raw is False:
        r.record(path, raw is not MISSING)
        return False
    if raw is not True and not isinstance(raw, dict):
        keys = ", ".join(DIAGNOSTICS_BOUNDS)
        r.error(path, f"expected true, false or a mapping of bounds with keys {keys}, got {show(raw)}.")
        return raw
    out = r.section(path, {} if raw is True else raw, DIAGNOSTICS_BOUNDS)
    low, high = out["min_update_ratio"], out["max_update_ratio"]
    if is_number(low) and is_number(high) and low >= high:
        r.error(path + ("min_update_ratio",), f"must be below max_update_ratio ({high:g}), got {low:g}.")
    return out


TRAINING = {
    "epochs": Leaf(100, integer(1)),
    "batch_size": Leaf(32, integer(1)),
    "shuffle": Leaf(True, boolean),
    "clip_norm": Leaf(None, nullable(number(0, lo_open=True))),
    "clip_value": Leaf(None, nullable(number(0, lo_open=True))),
    "diagnostics": diagnostics,
    "early_stopping": early_stopping,
    "report": Leaf(False, boolean),  # write report.html into the run directory at the end
    "save": Leaf("auto", choice("auto", "best", "last")),
    "log": log_targets,
}


def space(r, path, raw):
    """Dotted config paths -> values; each is checked against the config in `check_space`."""
    if raw is MISSING or raw is None:
        r.record(path, False)
        return {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        r.error(path, f"expected a mapping of dotted config paths to values, such as "
                      f"{{optimizer.lr: [0.1, 0.01]}}, got {show(raw)}.")
        return raw
    for key in raw:
        r.record(path + (key,), True)
    return dict(raw)


SEARCH = {
    "method": Leaf("grid", choice("grid", "random", "tpe")),  # tpe: Optuna's TPESampler
    "trials": Leaf(20, integer(1)),
    "metric": Leaf("val_loss", text),
    "mode": Leaf(None, nullable(choice("min", "max"))),
    "repeats": Leaf(1, integer(1)),
    "pruner": Leaf("none", choice("none", "median", "asha", "hyperband")),  # Optuna's pruners
    "folds": Leaf(None, nullable(integer(2))),  # k: trials scored by k-fold cross-validation
    "storage": Leaf(None, nullable(text)),  # an Optuna storage URL; default: search.db beside the runs
    "space": space,
}

ROOT = {
    "name": None,  # its default, the config file's stem, is set in `_resolve_root`
    "seed": Leaf(0, integer(0)),
    "dtype": Leaf("float32", choice("float32", "float64")),
    "data": data_section,
    "model": section({"layers": layers, "init_from": Leaf(None, nullable(text))}),
    "loss": Item("loss", default={"name": "cross_entropy"}),
    "optimizer": Item("optimizer", default={"name": "adam", "lr": 0.001}),
    "schedule": lambda r, path, raw: raw,  # resolved in `_resolve_root`, with the optimizer's lr
    "regularization": section({"l1": Leaf(0.0, number(0)), "l2": Leaf(0.0, number(0))}),
    "training": section(TRAINING),
    "metrics": metric_list,
    "threshold": Leaf(0.5, number(0, 1, lo_open=True, hi_open=True)),
    "output": Leaf("runs", text),
    "search": section(SEARCH),
}


# ---------------------------------------------------------------- checks across keys


def has_val_split(data):
    """Whether the config has a validation split: a val file or a val fraction > 0."""
    split_ = data.get("split") or {}
    return data.get("val") is not None or (is_number(split_.get("val")) and split_["val"] > 0)


def monitored(r, path, name, metrics, has_val, needs_val=True, mode=None):
    """Check a monitored log name (loss or train_loss, val_loss, a metric, val_<metric>); return its mode.

    `mode` is the user's; without one it is inferred from the metric ('loss' is min).
    """
    if not isinstance(name, str):
        return mode
    base = "loss" if name == "train_loss" else name[4:] if name.startswith("val_") else name
    listed = [m for m in metrics if m in r.tables["metric"]] if isinstance(metrics, list) else []
    if base != "loss" and base not in listed:
        choices = ["loss", "train_loss", "val_loss"] + [p + m for m in listed for p in ("", "val_")]
        hint = (f" Add {base!r} to metrics to monitor it." if base in r.tables["metric"]
                else registry.suggest(name, choices))
        r.error(path, f"{name!r} is not logged.{hint} Choices: {', '.join(choices)}.")
        return mode
    if needs_val and name.startswith("val_") and not has_val:
        r.error(path, f"{name!r} needs a validation split, but there is none (data.split.val is 0 and "
                      f"there is no data.val file). Give data.split.val > 0 or monitor {base!r}.")
    if mode is None:
        mode = "min" if base == "loss" else r.tables["metric"][base].mode
    return mode


def cross_checks(r, out):
    data, metrics = out["data"], out["metrics"]
    has_val = has_val_split(data)
    stopping = out["training"]["early_stopping"]
    if isinstance(stopping, dict):
        path = ("training", "early_stopping", "monitor")
        stopping["mode"] = monitored(r, path, stopping["monitor"], metrics, has_val, mode=stopping["mode"])
    search = out["search"]
    search["mode"] = monitored(r, ("search", "metric"), search["metric"], metrics, has_val,
                               needs_val=bool(search["space"]), mode=search["mode"])
    schedule = out["schedule"]
    if isinstance(schedule, dict) and isinstance(schedule.get("monitor"), str):
        monitored(r, ("schedule", "monitor"), schedule["monitor"], metrics, has_val,
                  mode=schedule.get("mode") or "min")
    cycled_momentum(r, schedule, out["optimizer"])


def cycled_momentum(r, schedule, optimizer):
    """A schedule that cycles momentum (one_cycle) needs an optimizer that has one, as torch's."""
    if not (isinstance(schedule, dict) and schedule.get("cycle_momentum") is True
            and isinstance(optimizer, dict) and optimizer.get("name") in r.tables["optimizer"]):
        return
    accepted = {p.name for p in registry.keyword_parameters(r.tables["optimizer"][optimizer["name"]])}
    if not accepted & {"momentum", "betas"}:
        r.error(("schedule", "cycle_momentum"),
                f"schedule {schedule['name']} cycles the momentum, which optimizer "
                f"{optimizer['name']} does not have. Use sgd, rmsprop, adam or adamw, or set "
                f"schedule.cycle_momentum: false.")


def check_space(r, raw, out, default_name):
    """Every search.space path must exist: each value is tried on the config, one at a time."""
    if not out["search"]["space"]:
        return
    from nettrain.config.space import Choice, parse_dimension

    for key, spec in out["search"]["space"].items():
        path = ("search", "space", key)
        try:
            dim = parse_dimension(spec, keypath(path))
        except ConfigError as err:
            r.errors_from(path, err)
            continue
        if out["search"]["method"] == "grid" and not isinstance(dim, Choice):
            r.error(path, "is a distribution, which only search.method: random or tpe draws from; give "
                          "a list of values for a grid.")
            continue
        for value in dim.values if isinstance(dim, Choice) else (dim.lo, dim.hi):
            problems = _try_value(r.tables, raw, key, value, default_name)
            if problems:
                r.problems += [locate_problem(r.places, path, f"with {key}={flow(value)}: {p}")
                               for p in problems]
                break


def _try_value(tables, raw, key, value, default_name):
    try:
        trial = overridden(raw, [(key, value)], label="search.space")[0]
    except ConfigError as err:
        return err.problems
    sub = Resolver(Places(), tables)
    _resolve_root(sub, trial, default_name)
    return [text for _, text in sub.problems]


def _resolve_root(r, raw, default_name):
    fields = dict(ROOT, name=Leaf(default_name, run_name))
    out = r.section((), raw, fields)
    lr = out["optimizer"].get("lr") if isinstance(out["optimizer"], dict) else None
    # A schedule scales the optimizer's lr, which its constructor takes (not a config key).
    base_lr = lr if is_number(lr) and lr > 0 else 1.0
    schedule = Item("schedule", optional=True, extra={"base_lr": base_lr})
    out["schedule"] = schedule(r, ("schedule",), raw.get("schedule", MISSING))
    cross_checks(r, out)
    return out


def check_against_data(config, dataset, tables=None):
    """Raise one ConfigError if the config does not fit the prepared data (see fit_data)."""
    from nettrain.config.fit_data import check_against_data as check

    check(config, dataset, tables if tables is not None else registries())


def resolve(raw, places, default_name="run", tables=None):
    """(resolved dict, sources, problems) for a raw config; problems are (sort key, text)."""
    r = Resolver(places, tables if tables is not None else registries())
    out = _resolve_root(r, raw, default_name)
    if not r.problems:
        check_space(r, raw, out, default_name)
    return out, r.sources, r.problems
