"""`training.log`: the experiment trackers a run also writes to, and each one's options."""

from nettrain import registry
from nettrain.config.fields import MISSING, Leaf, nullable, show, text

LOGGERS = {  # training.log: each experiment tracker and its options (each an optional extra)
    "tensorboard": {},
    "mlflow": {"tracking_uri": Leaf(None, nullable(text)), "experiment": Leaf(None, nullable(text))},
}


def log_targets(r, path, raw):
    """training.log: a list of trackers, [tensorboard, mlflow], or a mapping of each to its
    options ({mlflow: {tracking_uri: http://host:5000}}; null or {} for the defaults)."""
    r.record(path, raw is not MISSING)
    if raw is MISSING or raw is None:
        return []
    if isinstance(raw, list) and all(isinstance(name, str) for name in raw):
        for i, name in enumerate(raw):
            if name not in LOGGERS:
                r.error(path + (i,), f"Unknown tracker {name!r}.{registry.suggest(name, LOGGERS)} "
                                     f"Choices: {', '.join(LOGGERS)}.")
            elif raw.index(name) != i:
                r.error(path + (i,), f"{name!r} is listed twice.")
        return list(raw)
    if isinstance(raw, dict):
        r.unknown_keys(path, raw, list(LOGGERS), "training.log")
        return {name: r.section(path + (name,), {} if options is True else options, LOGGERS[name])
                for name, options in raw.items() if name in LOGGERS}
    r.error(path, f"expected a list of trackers such as [tensorboard, mlflow], or a mapping of them "
                  f"to their options, got {show(raw)}.")
    return []


def logger_options(log):
    """{tracker: its options with every default} for a resolved `training.log`."""
    defaults = {name: {key: field.default for key, field in fields.items()}
                for name, fields in LOGGERS.items()}
    if isinstance(log, dict):
        return {name: {**defaults[name], **(options or {})} for name, options in log.items()}
    return {name: defaults[name] for name in log}
