"""Configs: YAML read with the place of every value and `--set` overrides (`locations`), the
schema of every key with its type, range and default and the checks across keys (`schema`,
with the value checks in `fields`), the search-space grammar (`space`), and the checks of a
config against its prepared data (`fit_data`). `loading.load_config` and `config_from_dict`
return a resolved `Config` or raise one `ConfigError` listing every problem.
"""

from nettrain.config.loading import Config, check_against_data, config_from_dict, load_config
from nettrain.config.locations import apply_overrides

__all__ = ["Config", "apply_overrides", "check_against_data", "config_from_dict", "load_config"]
