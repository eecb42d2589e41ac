"""YAML config files -> a validated `Config`: every default filled in, every value's source and place."""

import copy
from pathlib import Path

import yaml

from nettrain.config import schema  # the core's registries are imported only when used
from nettrain.config.locations import (
    Places,
    apply_overrides,
    config_error,
    locate_problem,
    overridden,
    parse_yaml,
    split_dotted,
)
from nettrain.config.readonly import read_only
from nettrain.errors import ConfigError

__all__ = ["Config", "load_config", "config_from_dict", "apply_overrides", "check_against_data"]

# Keys holding file paths: relative to the config file, written absolute into a run's config.yaml.
PATH_KEYS = (
    ("data", "path"), ("data", "train"), ("data", "val"), ("data", "test"), ("data", "images"),
    ("model", "init_from"), ("output",),
)


class Config:
    """A validated config with every default filled in.

    Attributes:
        data: the resolved dict, with the key names of docs/config.md, read-only (nested
            dicts and lists too): a change is a new Config (`with_values`, or overrides).
        sources: key path ('model.layers[0].units') -> 'default' | 'file' | '--set'.
        path: the config file, or None for a config built from a dict.
        base_dir: the folder relative paths in the config are resolved against.
    """

    def __init__(self, data, sources, path, base_dir, places):
        self._data = read_only(data)
        self.sources = read_only(sources)
        self.path = path
        self.base_dir = base_dir
        self.places = places

    @property
    def data(self):
        return self._data

    def __getitem__(self, key):
        return self.data[key]

    def __repr__(self):
        return f"Config(name={self.data.get('name')!r}, path={str(self.path) if self.path else None!r})"

    def resolve_path(self, p):
        """`p` made absolute: a relative path is taken relative to the config file's folder."""
        p = Path(p).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    def where(self, path):
        """'file:line:col' (or the --set) where the value at key path `path` was given, or None."""
        return self.places.of(path)[0]

    def error(self, path, message):
        """A ConfigError for the value at `path`, naming its place and key path."""
        return config_error([locate_problem(self.places, path, message)[1]], self.path)

    def absolute_data(self):
        """A deep copy of `data` with its file paths made absolute, to refit from anywhere."""
        data = copy.deepcopy(self.data)
        for path in PATH_KEYS:
            node = data
            for part in path[:-1]:
                node = node[part]
            if node.get(path[-1]) is not None:
                node[path[-1]] = str(self.resolve_path(node[path[-1]]))
        return data

    def with_values(self, values):
        """A new Config with the values at these dotted key paths replaced: {"output":
        "/abs/runs"} where a run went, `nettrain.data.Dataset.settled` ({"data.scale": "none"}
        for images whose data.scale was left to its default). This one is unchanged (the same
        one is returned when there is nothing to replace); each value keeps its source and place.
        """
        if not values:
            return self
        data = copy.deepcopy(self.data)
        for key, value in values.items():
            *parents, last = split_dotted(key)
            node = data
            for part in parents:
                node = node[part]
            node[last] = copy.deepcopy(value)
        return Config(data, dict(self.sources), self.path, self.base_dir, self.places)

    def to_yaml(self):
        """The resolved config as YAML (paths absolute), for a run directory's config.yaml."""
        return yaml.safe_dump(self.absolute_data(), sort_keys=False, default_flow_style=None,
                              allow_unicode=True, width=100)


def _build(raw, places, name, base_dir, path, overrides, early=()):

    failed = []
    raw, applied = overridden(raw, overrides, problems=failed)
    places.overrides = applied
    data, sources, problems = schema.resolve(raw, places, default_name=name)
    problems = list(early) + [((1, -1, i), text) for i, text in enumerate(failed)] + problems
    if problems:
        raise config_error([text for _, text in sorted(problems, key=lambda p: p[0])], path)
    return Config(data, sources, path, Path(base_dir).resolve(), places)


def load_config(path, overrides=()):
    """Read, validate and resolve a YAML config file; one ConfigError lists every problem.

    `overrides` are 'KEY=VALUE' strings (as `--set`), (key, value) pairs or a dict.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found. Check the path, or write a starter "
                          "config with `nettrain init classification -o config.yaml`.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the config file ({err}).") from None
    raw, marks, key_marks, duplicates = parse_yaml(text, str(path))
    if raw is None:
        raise config_error([f"{path}: the config file is empty. A config needs at least `data` (path "
                            "and target) and `model` (layers); `nettrain init` writes a starter one."], path)
    places = Places(str(path), marks, key_marks)
    if not isinstance(raw, dict):
        raise config_error([f"{path}:1:1: a config must be a mapping of keys (data, model, optimizer, "
                            f"...), got {type(raw).__name__}."], path)
    early = [locate_problem(places, p, m, key=True) for p, m in duplicates]
    return _build(raw, places, path.stem, path.parent, path, overrides, early)


def config_from_dict(mapping, base_dir=".", overrides=()):
    """Validate and resolve a config given as a dict (the Python API); paths relative to base_dir."""
    if not isinstance(mapping, dict):
        raise ConfigError("A config must be a mapping of keys (data, model, ...). "
                          f"Got {type(mapping).__name__}.")
    return _build(mapping, Places(), "run", base_dir, None, overrides)


def check_against_data(config, dataset):
    """Check a config against its prepared data, pointing at the config's lines.

    `dataset` is `nettrain.data.dataset.prepare_data(config)` (task, n_outputs, classes). The loss must
    fit the task (cross_entropy needs classes; mse a numeric target), the last dense layer
    needs `dataset.n_outputs` units, and the metrics must fit the task. Raises one ConfigError.
    """
    schema.check_against_data(config, dataset)
