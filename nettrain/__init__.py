"""nettrain: train neural networks from YAML configs on a vectorized NumPy core.

The public API is imported lazily, so `import nettrain` (and the CLI's start-up) stays fast.
"""

from nettrain.version import __version__

_API = ("fit", "evaluate", "predict", "grid_search", "cv", "load", "Run", "runs", "report",
        "lr_find", "validate", "gradcheck", "starter_config", "export_model", "download_dataset")


def __getattr__(name):
    if name in _API:
        from nettrain import api

        return getattr(api, name)
    raise AttributeError(f"module 'nettrain' has no attribute {name!r}")


__all__ = ["__version__", *_API]
