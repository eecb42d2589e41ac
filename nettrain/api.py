"""The Python API, a thin facade: `fit` a config into a run directory and get its `Run`;
`load`, `evaluate` and `predict` with a trained run; `grid_search` a space of configs;
`runs` lists run directories and `report` writes their HTML page."""

import functools

from nettrain.errors import Interrupted, NettrainError
from nettrain.inference.run import Run
from nettrain.training.launch import train_run

__all__ = ["Run", "fit", "grid_search", "load", "evaluate", "predict", "runs", "report"]


@functools.wraps(train_run, assigned=("__doc__",))  # nettrain.fit keeps its name
def fit(config_or_path=None, *, report=False, **kwargs):
    # `report=True` (fit --report) or `training.report: true` also writes RUN/report.html at
    # the end, after Ctrl-C too; a report that cannot be written is a warning, never a failed fit.
    try:
        run = train_run(config_or_path, **kwargs)
    except Interrupted as err:
        if getattr(err, "run", None) is not None:
            _write_report(err.run, report, kwargs)
        raise
    _write_report(run, report, kwargs)
    return run


def _write_report(run, asked, kwargs):
    if not (asked or run.config["training"]["report"]):
        return
    from rich.console import Console

    from nettrain.reporting import REPORT, write_report

    console = kwargs.get("console") or Console()
    try:
        path = write_report([run.path], run.path / REPORT)
    except NettrainError as err:
        console.print(f"Warning: no report: {err}", markup=False, highlight=False, soft_wrap=True)
        return
    if not kwargs.get("quiet"):
        console.print(f"Report: {path}", markup=False, highlight=False, soft_wrap=True)


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
    from nettrain.inference.loading import load as load_run

    return load_run(run_dir)


def evaluate(run, split=None, data=None, threshold=None):
    """The metrics report of a run (directory or Run) on a split or a labelled file/DataFrame;
    `threshold` overrides a binary model's decision threshold."""
    from nettrain.inference.loading import evaluate as evaluate_run

    return evaluate_run(run, split=split, data=data, threshold=threshold)


def predict(run, data, proba=False, keep=(), threshold=None, missing=None):
    """The table `nettrain predict` writes, as a DataFrame, for a DataFrame or a data file
    (`threshold` and `missing` as `nettrain predict --threshold/--missing`)."""
    from nettrain.inference.loading import predict as predict_run

    return predict_run(run, data, proba=proba, keep=keep, threshold=threshold, missing=missing)


def runs(folder="runs", sort=None):
    """The run directories under `folder` as a DataFrame, one row each, as `nettrain runs`."""
    from nettrain.store.table import runs as run_table

    return run_table(folder, sort)


def report(paths, out=None):
    """Write the HTML report of runs or searches (one path or several) as `nettrain report`;
    return the path written."""
    from pathlib import Path

    from nettrain.reporting import write_report

    return write_report([paths] if isinstance(paths, (str, Path)) else paths, out)
