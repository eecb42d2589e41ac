"""The Python API, a thin facade: `fit` a config into a run directory and get its `Run`;
`load`, `evaluate` and `predict` with a trained run; `grid_search` a space of configs."""

from nettrain.runs.run import Run
from nettrain.training.fit import fit

__all__ = ["Run", "fit", "grid_search", "load", "evaluate", "predict"]


def grid_search(config_or_path, *, overrides=(), workers=None, scheduler=None, refit=False,
                out=None, quiet=False, console=None):
    """Train every trial of the config's `search` space in parallel and rank them.

    Returns a `nettrain.search.grid.SearchResult` (`path`, `results` DataFrame, `best`,
    `best_config`, `refit`); see `nettrain.search.grid.grid_search` for the arguments.
    """
    from nettrain.search.grid import grid_search as run_search

    return run_search(config_or_path, overrides=overrides, workers=workers, scheduler=scheduler,
                      refit=refit, out=out, quiet=quiet, console=console)


def load(run_dir):
    """A trained run directory, ready to `.predict(df)`, `.predict_proba(df)`, `.evaluate(df)`."""
    from nettrain.runs.inference import load as load_run

    return load_run(run_dir)


def evaluate(run, split=None, data=None):
    """The metrics report of a run (directory or Run) on a split or a labelled file/DataFrame."""
    from nettrain.runs.inference import evaluate as evaluate_run

    return evaluate_run(run, split=split, data=data)


def predict(run, data, proba=False, keep=()):
    """The table `nettrain predict` writes, as a DataFrame, for a DataFrame or a data file."""
    from nettrain.runs.inference import predict as predict_run

    return predict_run(run, data, proba=proba, keep=keep)
