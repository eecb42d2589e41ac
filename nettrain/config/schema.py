"""The config schema: every key of docs/config.md with its type, range and default, and the checks across keys."""

from nettrain import registry
from nettrain.config.locations import Places, config_error, flow, keypath, locate_problem, overridden
from nettrain.errors import ConfigError
from nettrain.config.fields import (
    MISSING, Item, Leaf, Resolver, is_number, boolean, choice, columns, integer, names, nullable,
    number, run_name, section, show, text,
)

DATA_SUFFIXES = (".csv", ".csv.gz", ".npz")
REGISTRIES = (  # kind, module, table
    ("layer", "layers", "LAYERS"), ("activation", "activations", "ACTIVATIONS"),
    ("initializer", "initializers", "INITIALIZERS"), ("loss", "losses", "LOSSES"),
    ("optimizer", "optimizers", "OPTIMIZERS"), ("schedule", "schedules", "SCHEDULES"),
    ("metric", "metrics", "METRICS"),
)


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
    return [item(r, path + (i,), spec) for i, spec in enumerate(raw)]


def metric_list(r, path, raw):
    r.record(path, raw is not MISSING)
    if raw is MISSING:
        return ["accuracy"]
    if not isinstance(raw, list) or not all(isinstance(m, str) for m in raw):
        r.error(path, f"expected a list of metric names such as [accuracy, f1], got {show(raw)}.")
        return raw
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


DATA = {
    "path": Leaf(None, nullable(text)),
    "train": Leaf(None, nullable(text)),
    "val": Leaf(None, nullable(text)),
    "test": Leaf(None, nullable(text)),
    "target": Leaf(None, nullable(columns)),
    "features": Leaf(None, nullable(names)),
    "task": Leaf("auto", choice("auto", "classification", "regression")),
    "split": split,
    "scale": Leaf("standard", choice("standard", "minmax", "none")),
    "scale_target": Leaf("none", choice("standard", "none")),
    "categorical": Leaf("onehot", choice("onehot", "error")),
    "missing": Leaf("error", choice("error", "drop", "mean")),
}


def data_section(r, path, raw):
    if raw is MISSING or raw is None:
        r.error(path, "is required: give data.path (a .csv or .npz file) and data.target (the column "
                      "to predict).")
    out = r.section(path, raw, DATA)
    given = raw if isinstance(raw, dict) else {}
    _check_files(r, path, out, given)
    if out["train"] is not None:
        _files_are_the_splits(r, path, out, given)
    target = [out["target"]] if isinstance(out["target"], str) else out["target"]
    if isinstance(target, list) and isinstance(out["features"], list):
        both = [c for c in target if c in out["features"]]
        if both:
            r.error(path + ("features",), f"the target {', '.join(map(repr, both))} cannot be a feature "
                                          "too. Remove it from data.features.")
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
        if isinstance(out[key], str) and not out[key].lower().endswith(DATA_SUFFIXES):
            r.error(path + (key,), f"expected a .csv, .csv.gz or .npz file, got {out[key]!r}.")
    npz = bool(files) and all(f.lower().endswith(".npz") for f in files)
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


DIAGNOSTICS = {  # the bounds of nettrain.training.diagnostics; `true` means these defaults
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
        r.error(path, f"expected true, false or a mapping of bounds with keys {', '.join(DIAGNOSTICS)}, "
                      f"got {show(raw)}.")
        return raw
    out = r.section(path, {} if raw is True else raw, DIAGNOSTICS)
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
    "method": Leaf("grid", choice("grid", "random")),
    "trials": Leaf(20, integer(1)),
    "metric": Leaf("val_loss", text),
    "mode": Leaf(None, nullable(choice("min", "max"))),
    "repeats": Leaf(1, integer(1)),
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
        mode = "min" if base == "loss" else getattr(r.tables["metric"].get(base), "mode", None)
        if mode is None:
            r.error(path, f"cannot infer whether {name!r} is better low or high: set mode: min or max.")
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
            r.error(path, "is a distribution, which only search.method: random draws from; give a list "
                          "of values for a grid.")
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


def resolve(raw, places, default_name="run", tables=None):
    """(resolved dict, sources, problems) for a raw config; problems are (sort key, text)."""
    r = Resolver(places, tables if tables is not None else registries())
    out = _resolve_root(r, raw, default_name)
    if not r.problems:
        check_space(r, raw, out, default_name)
    return out, r.sources, r.problems


# ---------------------------------------------------------------- checks against the data


def _listing(values, limit=8):
    shown = ", ".join(repr(v) for v in list(values)[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _target_text(data):
    target = data["target"]
    if target is None:
        return "the target y"
    return f"the target {target!r}" if isinstance(target, str) else f"the targets {_listing(target)}"


def _loss_problems(cfg, dataset, tables):
    """Problems with the loss for this task: (key path, message)."""
    loss = cfg["loss"]
    name, task = loss["name"], dataset.task
    loss_task = getattr(tables["loss"].get(name), "task", task)
    target = _target_text(cfg["data"])
    classes = list(dataset.classes or [])
    if loss_task == "classification" and task != "classification":
        return [(("loss", "name"), f"{name} needs a classification target, but {target} is a regression "
                                   "target. Use loss: mse (or mae, huber), or set data.task: "
                                   "classification if its values are class labels.")]
    if loss_task == "regression" and task == "classification":
        return [(("loss", "name"), f"{name} is a regression loss, but {target} is a classification target "
                                   f"with {len(classes)} classes. Use loss: cross_entropy, or set "
                                   "data.task: regression if its values are numbers to predict.")]
    if name == "binary_cross_entropy" and len(classes) != 2:
        return [(("loss", "name"), f"binary_cross_entropy needs exactly 2 classes, but {target} has "
                                   f"{len(classes)} ({_listing(classes)}). Use loss: cross_entropy.")]
    weights = loss.get("class_weights")
    if task == "classification" and isinstance(weights, list) and len(weights) != len(classes):
        return [(("loss", "class_weights"), f"has {len(weights)} weights but {target} has {len(classes)} "
                                            f"classes ({_listing(classes)}): give one weight per class.")]
    return []


def _output_problems(cfg, dataset):
    layers_ = cfg["model"]["layers"]
    dense = [i for i, spec in enumerate(layers_) if spec.get("type") == "dense"]
    n, classes = dataset.n_outputs, list(dataset.classes or [])
    if dataset.task == "classification" and cfg["loss"]["name"] == "binary_cross_entropy":
        why = f"one logit for the positive class {classes[-1]!r}" if classes else "one logit"
    elif dataset.task == "classification":
        why = f"one per class: {_listing(classes)}"
    else:
        target = cfg["data"]["target"]
        why = "one per target" + (f": {_listing(target)}" if isinstance(target, list) else "")
    if not dense:
        return [(("model", "layers"), f"the output layer must be a dense layer with {n} units ({why}). "
                                      f"Add {{type: dense, units: {n}}} at the end.")]
    units = layers_[dense[-1]].get("units")
    if units != n:
        return [(("model", "layers", dense[-1], "units"), f"the output layer needs {n} units ({why}), "
                                                          f"got {units}. Set units: {n}.")]
    return []


def _metric_problems(cfg, dataset, tables):
    problems = []
    for i, name in enumerate(cfg["metrics"]):
        metric_task = getattr(tables["metric"].get(name), "task", dataset.task)
        if metric_task != dataset.task:
            fitting = [m for m, cls in tables["metric"].items() if getattr(cls, "task", None) == dataset.task]
            problems.append((("metrics", i), f"{name!r} is a {metric_task} metric, but the task is "
                                             f"{dataset.task}. Use one of: {', '.join(fitting)}."))
    return problems


def check_against_data(config, dataset, tables=None):
    """Raise one ConfigError if the config does not fit the prepared data (see config.check_against_data)."""
    tables = tables if tables is not None else registries()
    cfg = config.data
    problems = _loss_problems(cfg, dataset, tables)
    if not problems:  # with the wrong loss the needed units mean nothing
        problems += _output_problems(cfg, dataset)
    problems += _metric_problems(cfg, dataset, tables)
    if problems:
        located = sorted((locate_problem(config.places, path, msg) for path, msg in problems),
                         key=lambda p: p[0])
        raise config_error([text for _, text in located], config.path)
