"""Search spaces: the dimensions of the `search.space` section (a list of values, or a
uniform, log-uniform or integer range), checked where the config's schema checks the section,
and their expansion into the parameter sets to try."""

import itertools
import math
from dataclasses import dataclass

from nettrain.errors import ConfigError
from nettrain.registry import suggest


@dataclass(frozen=True)
class Choice:
    """A list of values: every one in a grid, one drawn uniformly at random otherwise."""

    values: tuple

    def sample(self, rng):
        return self.values[int(rng.integers(len(self.values)))]


@dataclass(frozen=True)
class UniformRange:
    """A float drawn uniformly from [lo, hi)."""

    lo: float
    hi: float

    def sample(self, rng):
        return _round(rng.uniform(self.lo, self.hi))


@dataclass(frozen=True)
class LogUniformRange(UniformRange):
    """A float whose logarithm is uniform in [log lo, log hi): for learning rates and decays."""

    def sample(self, rng):
        return _round(math.exp(rng.uniform(math.log(self.lo), math.log(self.hi))))


@dataclass(frozen=True)
class IntRange(UniformRange):
    """An integer drawn uniformly from lo..hi, both included."""

    def sample(self, rng):
        return int(rng.integers(self.lo, self.hi, endpoint=True))


DISTRIBUTIONS = {"uniform": UniformRange, "log_uniform": LogUniformRange, "int": IntRange}


@dataclass(frozen=True)
class SearchSpec:
    """A parsed `search` section. `space` maps dotted config paths to Choice or a distribution."""

    method: str
    trials: int
    repeats: int
    metric: str
    mode: str | None
    space: dict
    folds: int | None = None  # k: each trial scored by k-fold cross-validation


def _round(x):
    # Six significant digits keep configs and tables readable; the draw stays continuous enough.
    return float(f"{float(x):.6g}")


def search_spec(section, where="search"):
    """The SearchSpec of a resolved `search` section (the config's schema has checked every
    key, value and dimension); a ConfigError when the space is empty: nothing to search."""
    space = section.get("space") or {}
    if not space:
        raise ConfigError(
            f"`{where}.space` is empty: there is nothing to search. Give at least one dotted "
            "config path and its values, e.g. `optimizer.lr: [0.1, 0.01]`."
        )
    return SearchSpec(
        method=section["method"], trials=section["trials"], repeats=section["repeats"],
        metric=section["metric"], mode=section["mode"], folds=section["folds"],
        space={str(path): parse_dimension(spec, f"{where}.space.{path}") for path, spec in space.items()},
    )


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
