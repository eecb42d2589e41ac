"""nettrain: train neural networks from YAML configs on a vectorized NumPy core.

The public API is imported lazily, so `import nettrain` (and the CLI's start-up) stays fast.
"""

__version__ = "0.1.0"

_API = {"fit", "evaluate", "predict", "grid_search", "load", "Run"}
# Sub-packages that are callable API functions too: nettrain.runs(DIR), nettrain.report(RUNS, OUT)
_CALLABLE_PACKAGES = {"runs", "report"}


def __getattr__(name):
    if name in _API:
        from nettrain import api

        return getattr(api, name)
    if name in _CALLABLE_PACKAGES:
        import importlib

        return importlib.import_module(f"nettrain.{name}")
    raise AttributeError(f"module 'nettrain' has no attribute {name!r}")


__all__ = sorted(_API | _CALLABLE_PACKAGES)
