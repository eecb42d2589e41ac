"""Search spaces: the `search` section (checked once, by the config's schema), grid and
random expansion, bad input."""

from pathlib import Path

import pytest

from nettrain.config.loading import config_from_dict
from nettrain.config.space import Choice, IntRange, LogUniformRange, UniformRange, expand, search_spec
from nettrain.errors import ConfigError

IRIS = str(Path(__file__).resolve().parent.parent / "datasets" / "iris.csv")


def parse_search(section):
    """The SearchSpec of a config whose `search` section is `section`, as grid-search gets it."""
    config = config_from_dict({"data": {"path": IRIS, "target": "species"},
                               "model": {"layers": [{"type": "dense", "units": 3}]},
                               "search": section})
    return search_spec(config["search"])


def test_grid_is_the_cartesian_product_last_path_fastest():
    spec = parse_search({"space": {"optimizer.lr": [0.1, 0.01], "model.layers.0.units": [8, 16, 32]}})
    combos = expand(spec, seed=0)
    assert len(combos) == 6
    assert combos[0] == {"optimizer.lr": 0.1, "model.layers.0.units": 8}
    assert combos[1] == {"optimizer.lr": 0.1, "model.layers.0.units": 16}
    assert combos[-1] == {"optimizer.lr": 0.01, "model.layers.0.units": 32}


def test_defaults_fill_the_section():
    spec = parse_search({"space": {"optimizer.lr": [0.1]}})
    assert (spec.method, spec.trials, spec.repeats, spec.metric, spec.mode) == ("grid", 20, 1, "val_loss", "min")
    assert spec.space == {"optimizer.lr": Choice((0.1,))}


def test_random_draws_from_each_distribution_within_bounds_and_is_seeded():
    section = {
        "method": "random", "trials": 50,
        "space": {
            "optimizer.lr": {"log_uniform": [1e-4, 1e-1]},
            "regularization.l2": {"uniform": [0.0, 0.5]},
            "model.layers.0.units": {"int": [4, 6]},
            "optimizer.name": ["adam", "sgd"],
        },
    }
    spec = parse_search(section)
    assert isinstance(spec.space["optimizer.lr"], LogUniformRange)
    assert isinstance(spec.space["regularization.l2"], UniformRange)
    assert isinstance(spec.space["model.layers.0.units"], IntRange)
    combos = expand(spec, seed=3)
    assert len(combos) == 50
    lrs = [c["optimizer.lr"] for c in combos]
    assert all(1e-4 <= lr <= 1e-1 for lr in lrs)
    # log-uniform: about a third of the draws per decade, so some below 1e-3
    assert sum(lr < 1e-3 for lr in lrs) >= 5
    assert all(0.0 <= c["regularization.l2"] < 0.5 for c in combos)
    assert {c["model.layers.0.units"] for c in combos} == {4, 5, 6}
    assert all(isinstance(c["model.layers.0.units"], int) for c in combos)
    assert {c["optimizer.name"] for c in combos} == {"adam", "sgd"}
    assert expand(spec, seed=3) == combos
    assert expand(spec, seed=4) != combos


def test_random_duplicates_are_dropped():
    spec = parse_search({"method": "random", "trials": 30, "space": {"optimizer.lr": [0.1, 0.01]}})
    assert sorted(c["optimizer.lr"] for c in expand(spec, seed=0)) == [0.01, 0.1]


@pytest.mark.parametrize(
    "section, match",
    [
        ({"space": {}}, "is empty: there is nothing to search"),
        ({}, "is empty"),
        ({"space": {"optimizer.lr": []}}, r"search\.space\.optimizer\.lr` is an empty list"),
        ({"method": "random", "space": {"optimizer.lr": {"uniform": [0.1, 0.01]}}}, "needs lo < hi"),
        ({"method": "random", "space": {"model.layers.0.units": {"int": [3, 3]}}}, "needs lo < hi"),
        ({"method": "random", "space": {"optimizer.lr": {"log_uniform": [0, 0.1]}}}, "needs 0 < lo"),
        ({"method": "random", "space": {"optimizer.lr": {"log_uniform": [-1, 0.1]}}}, "needs 0 < lo"),
        ({"method": "random", "space": {"model.layers.0.units": {"int": [0.5, 3]}}}, "must be two integers"),
        ({"method": "random", "space": {"optimizer.lr": {"normal": [0, 1]}}}, "Unknown distribution 'normal'"),
        ({"space": {"optimizer.lr": {"uniform": [0.0, 1.0]}}}, "only search.method: random or tpe draws from"),
        ({"method": "grdi", "space": {"optimizer.lr": [1]}}, "Did you mean 'grid'"),
        ({"method": "random", "trials": 0, "space": {"optimizer.lr": [1]}}, r"search\.trials: expected an integer >= 1"),
        ({"repeats": 1.5, "space": {"optimizer.lr": [1]}}, r"search\.repeats: expected an integer >= 1"),
        ({"mode": "up", "space": {"optimizer.lr": [1]}}, "search.mode: expected one of min, max"),
        ({"spaces": {"optimizer.lr": [1]}}, "Did you mean 'space'"),
        ({"space": {"optimizer.lr": 3}}, "must be a list of values or one of"),
        ({"space": {"x": [1]}}, "search.space.x: with x=1: Unknown key 'x'"),
    ],
)
def test_bad_search_sections_are_config_errors(section, match):
    with pytest.raises(ConfigError, match=match):
        parse_search(section)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        parse_search({"method": "random", "space": {
            "optimizer.lr": {"uniform": [2, 1]}, "regularization.l2": {"log_uniform": [0, 1]}}})
    assert len(info.value.problems) == 2
