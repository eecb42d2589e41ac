"""Registry lookups: names, mappings, unknown names with suggestions, bad arguments."""

import pytest

from nettrain import registry
from nettrain.errors import ConfigError


class Relu:
    def __init__(self):
        pass


class Leaky:
    def __init__(self, negative_slope=0.01):
        if negative_slope < 0:
            raise ValueError(f"negative_slope must be >= 0. Got {negative_slope}.")
        self.negative_slope = negative_slope


TABLE = {"relu": Relu, "leaky_relu": Leaky}


def test_get_by_name_and_mapping():
    assert isinstance(registry.get("activation", TABLE, "relu"), Relu)
    leaky = registry.get("activation", TABLE, {"name": "leaky_relu", "negative_slope": 0.2})
    assert leaky.negative_slope == 0.2


def test_unknown_name_suggests_closest_and_lists_choices():
    with pytest.raises(ConfigError, match=r"Unknown activation 'rlu' at model.layers\[1\].activation. "
                                          r"Did you mean 'relu'\? Choices: leaky_relu, relu."):
        registry.get("activation", TABLE, "rlu", where="model.layers[1].activation")


def test_unknown_argument_is_named_with_suggestion():
    with pytest.raises(ConfigError, match="Unknown key 'negative_slop'.*Did you mean 'negative_slope'"):
        registry.get("activation", TABLE, {"name": "leaky_relu", "negative_slop": 0.1})


def test_value_error_becomes_config_error_with_place():
    with pytest.raises(ConfigError, match=r"model.layers\[0\]: negative_slope must be >= 0"):
        registry.get("activation", TABLE, {"name": "leaky_relu", "negative_slope": -1},
                     where="model.layers[0]")
