"""The checks of a resolved config against its prepared data: loss, output units, metrics,
class weights and the positive label must fit the target."""

from nettrain.config.locations import config_error, locate_problem

AUTO = "auto"


def resolve_auto_units(layers_, n_outputs):
    """The layer specs with the output layer's `units: auto` replaced by `n_outputs`."""
    return [{**spec, "units": n_outputs} if isinstance(spec, dict) and spec.get("units") == AUTO
            else spec for spec in layers_]


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
    loss_task = tables["loss"][name].task
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
    if task == "classification" and isinstance(weights, dict):
        known = {str(c) for c in classes}
        unknown = [k for k in weights if str(k) not in known]
        if unknown:
            return [(("loss", "class_weights"), f"names label(s) {_listing(unknown)} that {target} does not "
                                                f"hold. Its classes are {_listing(classes)}.")]
    pos_label = cfg["data"].get("pos_label")
    if pos_label is not None and task == "classification":
        if str(pos_label) not in {str(c) for c in classes}:
            return [(("data", "pos_label"), f"{pos_label!r} is not a class of {target}; its classes are "
                                            f"{_listing(classes)}.")]
        if len(classes) != 2:
            return [(("data", "pos_label"), f"applies to binary targets only, but {target} has "
                                            f"{len(classes)} classes. Remove data.pos_label.")]
    return []


def _output_problems(cfg, dataset, tables):
    layers_ = cfg["model"]["layers"]
    # the layers whose `units` is their output width (dense): the last one is the output layer
    dense = [i for i, spec in enumerate(layers_) if tables["layer"][spec["type"]].sets_output_width]
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
    if units != n and units != AUTO:
        return [(("model", "layers", dense[-1], "units"), f"the output layer needs {n} units ({why}), "
                                                          f"got {units}. Set units: {n}, or units: auto.")]
    return []


def _metric_problems(cfg, dataset, tables):
    problems = []
    for i, name in enumerate(cfg["metrics"]):
        metric_task = tables["metric"][name].task
        if metric_task != dataset.task:
            fitting = [m for m, cls in tables["metric"].items() if cls.task == dataset.task]
            problems.append((("metrics", i), f"{name!r} is a {metric_task} metric, but the task is "
                                             f"{dataset.task}. Use one of: {', '.join(fitting)}."))
    return problems


def check_against_data(config, dataset, tables=None):
    """Raise one ConfigError if the config does not fit the prepared data (see config.check_against_data)."""
    cfg = config.data
    problems = _loss_problems(cfg, dataset, tables)
    if not problems:  # with the wrong loss the needed units mean nothing
        problems += _output_problems(cfg, dataset, tables)
    problems += _metric_problems(cfg, dataset, tables)
    if problems:
        located = sorted((locate_problem(config.places, path, msg) for path, msg in problems),
                         key=lambda p: p[0])
        raise config_error([text for _, text in located], config.path)
