"""Configs: reading YAML with the location of every value (`loading`), `--set` overrides,
the schema of every key with its type, range and default (`schema`, with the value checks
in `fields`), and the checks of a config against the prepared data. `load_config` and
`config_from_dict` return a resolved `Config` or raise one `ConfigError` listing every problem.
"""
