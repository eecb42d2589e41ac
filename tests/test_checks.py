"""One vocabulary of value checks: a constructor's argument check and the config schema's
value check say what a value must be in the same words, for the same interval."""

import pytest

from nettrain import checks
from nettrain.config import fields
from nettrain.config.loading import config_from_dict
from nettrain.errors import ConfigError
from nettrain.nn.layers import LAYERS

INTERVALS = [  # (low, high, low_open, high_open), bad value
    ((0, None, False, False), -1), ((0, None, True, False), 0), ((0, 1, False, False), 2),
    ((0, 1, True, True), 1), ((1, None, True, False), 1),
]


@pytest.mark.parametrize("bounds, bad", INTERVALS)
def test_a_number_is_named_alike_by_constructors_and_the_schema(bounds, bad):
    with pytest.raises(ValueError) as constructor:
        checks.check_float("x", bad, *bounds)
    with pytest.raises(fields.Bad) as schema:
        fields.number(*bounds)(bad)
    assert str(constructor.value) == f"x must be {schema.value.expected}. Got {bad!r}."


@pytest.mark.parametrize("low", [0, 1, 3])
def test_an_integer_is_named_alike(low):
    with pytest.raises(ValueError) as constructor:
        checks.check_int("n", low - 1, low)
    with pytest.raises(fields.Bad) as schema:
        fields.integer(low)(low - 1)
    assert str(constructor.value) == f"n must be {schema.value.expected}. Got {low - 1}."


def test_choices_and_booleans_are_named_alike():
    with pytest.raises(fields.Bad) as schema:
        fields.choice("a", "b")("c")
    with pytest.raises(ValueError, match=f"^k must be {schema.value.expected}. Got 'c'.$"):
        checks.check_choice("k", "c", ("a", "b"))
    with pytest.raises(fields.Bad) as schema:
        fields.boolean(1)
    with pytest.raises(ValueError, match=f"^flag must be {schema.value.expected}. Got 1.$"):
        checks.check_bool("flag", 1)


def test_a_config_key_and_a_layer_argument_read_the_same():
    cfg = {"data": {"path": "d.csv", "target": "y"}, "training": {"epochs": 0},
           "model": {"layers": [{"type": "dense", "units": 0}]}}
    with pytest.raises(ConfigError) as err:
        config_from_dict(cfg)
    problems = err.value.problems
    assert any("training.epochs: expected an integer >= 1, got 0." in p for p in problems)
    assert any("units must be an integer >= 1. Got 0." in p for p in problems)
    with pytest.raises(ValueError, match="^units must be an integer >= 1. Got 0.$"):
        LAYERS["dense"](units=0)
