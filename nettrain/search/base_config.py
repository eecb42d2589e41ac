"""The config a search or a cross-validation starts from: validated, with the user's own
mapping beside it (trials and folds apply their values to that, not to the resolved config, so
defaults that follow a searched value follow it)."""

import copy
from pathlib import Path

from nettrain.config import loading as config_mod


def load_base(config_or_path, overrides=()):
    """(validated Config, raw mapping, base folder) for a config file, a dict or a Config."""
    if isinstance(config_or_path, config_mod.Config):
        cfg = config_or_path
        if overrides:
            cfg = config_mod.config_from_dict(cfg.absolute_data(), cfg.base_dir, overrides)
        return cfg, cfg.absolute_data(), cfg.base_dir
    if isinstance(config_or_path, dict):
        raw = copy.deepcopy(config_or_path)
        cfg = config_mod.config_from_dict(raw, ".", overrides)
        return cfg, config_mod.apply_overrides(raw, overrides), Path(".").resolve()
    path = Path(config_or_path)
    cfg = config_mod.load_config(path, overrides)
    raw = config_mod.parse_yaml(path.read_text(encoding="utf-8"), str(path))[0]
    raw.setdefault("name", cfg.data["name"])
    return cfg, config_mod.apply_overrides(raw, overrides), path.parent.resolve()
