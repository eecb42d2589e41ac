"""Search spaces: the `search` config section -> the list of parameter sets to try."""

import itertools
import math
from dataclasses import dataclass

from nettrain.errors import ConfigError
from nettrain.registry import suggest

METHODS = ("grid", "random")
SEARCH_KEYS = ("method", "trials", "repeats", "metric", "mode", "space")
DEFAULTS = {"method": "grid", "trials": 20, "repeats": 1, "metric": "val_loss", "mode": None}


@dataclass(frozen=True)
class Choice:
    """A list of values: every one in a grid, one drawn uniformly at random otherwise."""

    values: tuple

    def sample(self, rng):
        return self.values[int(rng.integers(len(self.values)))]


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly from [lo, hi)."""

    lo: float
    hi: float

    def sample(self, rng):
        return _round(rng.uniform(self.lo, self.hi))


@dataclass(frozen=True)
class LogUniform(Uniform):
    """A float whose logarithm is uniform in [log lo, log hi): for learning rates and decays."""

    def sample(self, rng):
        return _round(math.exp(rng.uniform(math.log(self.lo), math.log(self.hi))))


@dataclass(frozen=True)
class Int(Uniform):
    """An integer drawn uniformly from lo..hi, both included."""

    def sample(self, rng):
        return int(rng.integers(self.lo, self.hi, endpoint=True))


DISTRIBUTIONS = {"uniform": Uniform, "log_uniform": LogUniform, "int": Int}


@dataclass(frozen=True)
class SearchSpec:
    """A parsed `search` section. `space` maps dotted config paths to Choice or a distribution."""

    method: str
    trials: int
    repeats: int
    metric: str
    mode: str | None
    space: dict


def _round(x):
    # Six significant digits keep configs and tables readable; the draw stays continuous enough.
    return float(f"{float(x):.6g}")


def parse_search(section, where="search"):
    """Validate a `search` mapping and return a SearchSpec; every problem in one ConfigError."""
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise ConfigError(f"`{where}` must be a mapping with a `space`. Got {section!r}.")
    problems = []
    for key in section:
        if key not in SEARCH_KEYS:
            problems.append(
                f"Unknown key {key!r} at {where}.{suggest(key, SEARCH_KEYS)} "
                f"Accepted: {', '.join(SEARCH_KEYS)}."
            )
    values = {**DEFAULTS, **{k: v for k, v in section.items() if v is not None}}
    if values["method"] not in METHODS:
        problems.append(
            f"`{where}.method` must be grid or random.{suggest(values['method'], METHODS)} "
            f"Got {values['method']!r}."
        )
    for key in ("trials", "repeats"):
        if not _is_positive_int(values[key]):
            problems.append(f"`{where}.{key}` must be a positive integer. Got {values[key]!r}.")
    if not isinstance(values["metric"], str) or not values["metric"]:
        problems.append(f"`{where}.metric` must be a metric name such as val_loss. Got {values['metric']!r}.")
    if values["mode"] not in (None, "min", "max"):
        problems.append(f"`{where}.mode` must be min or max. Got {values['mode']!r}.")
    space = {}
    try:
        space = _parse_space(section.get("space"), f"{where}.space")
    except ConfigError as err:
        problems += err.problems
    if values["method"] == "grid":
        problems += [
            f"`{where}.space.{path}` is a distribution, which only `method: random` can draw "
            "from. Give a list of values for `method: grid`, or set `search.method: random`."
            for path, dim in space.items() if not isinstance(dim, Choice)
        ]
    if problems:
        raise ConfigError(problems)
    return SearchSpec(
        method=values["method"], trials=values["trials"], repeats=values["repeats"],
        metric=values["metric"], mode=values["mode"], space=space,
    )


def _is_positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _parse_space(space, where):
    if not space:
        raise ConfigError(
            f"`{where}` is empty: there is nothing to search. Give at least one dotted config "
            "path and its values, e.g. `optimizer.lr: [0.1, 0.01]`."
        )
    if not isinstance(space, dict):
        raise ConfigError(f"`{where}` must map dotted config paths to values. Got {space!r}.")
    problems, parsed = [], {}
    for path, spec in space.items():
        try:
            parsed[str(path)] = parse_dimension(spec, f"{where}.{path}")
        except ConfigError as err:
            problems += err.problems
    if problems:
        raise ConfigError(problems)
    return parsed


def parse_dimension(spec, where):
    """A list -> Choice; `{uniform|log_uniform|int: [lo, hi]}` -> that distribution."""
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"`{where}` is an empty list: give at least one value to try.")
        return Choice(tuple(spec))
    if not (isinstance(spec, dict) and len(spec) == 1):
        raise ConfigError(
            f"`{where}` must be a list of values or one of {{uniform: [lo, hi]}}, "
            f"{{log_uniform: [lo, hi]}}, {{int: [lo, hi]}}. Got {spec!r}."
        )
    (name, bounds), = spec.items()
    if name not in DISTRIBUTIONS:
        raise ConfigError(
            f"Unknown distribution {name!r} at {where}.{suggest(name, DISTRIBUTIONS)} "
            f"Choices: {', '.join(DISTRIBUTIONS)}, or a list of values."
        )
    return _make_distribution(name, bounds, where)


def _make_distribution(name, bounds, where):
    number = int if name == "int" else (int, float)
    if not (isinstance(bounds, list) and len(bounds) == 2
            and all(isinstance(b, number) and not isinstance(b, bool) for b in bounds)):
        kind = "integers" if name == "int" else "numbers"
        raise ConfigError(f"`{where}.{name}` must be two {kind} [lo, hi]. Got {bounds!r}.")
    lo, hi = bounds
    if lo >= hi:
        raise ConfigError(f"`{where}.{name}` needs lo < hi. Got [{lo}, {hi}]; swap or widen them.")
    if name == "log_uniform" and lo <= 0:
        raise ConfigError(
            f"`{where}.log_uniform` needs 0 < lo: a log scale has no zero or negative values. "
            f"Got lo={lo}; use e.g. [1e-5, {hi}]."
        )
    return DISTRIBUTIONS[name](lo, hi)


def expand(spec, seed):
    """The parameter sets to try, each a dict {path: value}, in a stable order, duplicates dropped.

    `grid` takes the Cartesian product of the lists (the last path varies fastest); `random`
    draws `trials` sets from a generator seeded with `seed`, so the same config draws the same
    trials every time.
    """
    paths = list(spec.space)
    if spec.method == "grid":
        axes = [spec.space[p].values for p in paths]
        combos = [dict(zip(paths, values)) for values in itertools.product(*axes)]
    else:
        import numpy as np

        rng = np.random.default_rng(seed)
        combos = [{p: spec.space[p].sample(rng) for p in paths} for _ in range(spec.trials)]
    return _unique(combos)


def _unique(combos):
    seen, unique = set(), []
    for combo in combos:
        key = repr(sorted(combo.items(), key=lambda kv: kv[0]))
        if key not in seen:
            seen.add(key)
            unique.append(combo)
    return unique
