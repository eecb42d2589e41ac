"""The Python API, the one front door (every command of the CLI is a thin layer over it):
`fit` a config into a run directory and get its `Run`; `load`, `evaluate` and `predict` with
a trained run; `grid_search` a space of configs, `cv` cross-validates one; `validate` and
`gradcheck` a config; `lr_find` runs its learning-rate range test; `starter_config` writes
one; `export_model` as ONNX; `runs` lists run directories and `report` writes their HTML
page; the datasets to `download_dataset`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nettrain.errors import Interrupted, NettrainError
from nettrain.inference.run import Run
from nettrain.training.launch import train_run

if TYPE_CHECKING:
    from typing import TypeAlias

    import pandas as pd
    from rich.console import Console

    from nettrain.build.summary import Validation
    from nettrain.config.loading import Config
    from nettrain.data.starter import StarterConfig
    from nettrain.inference.evaluation import EvaluationReport
    from nettrain.inference.loading import DataSource, LoadedRun
    from nettrain.search.cv import CVResult
    from nettrain.search.grid import SearchResult
    from nettrain.training.config_gradients import GradientCheck
    from nettrain.training.lr_find import RangeTest

    # a YAML file, a config mapping (paths relative to the working directory) or a Config
    ConfigSource: TypeAlias = str | os.PathLike | Mapping[str, Any] | Config
    # "KEY=VALUE" strings as --set takes them, or (key, value) pairs
    Overrides: TypeAlias = Sequence[str | tuple[str, Any]]
    # a run directory or a Run
    RunSource: TypeAlias = str | os.PathLike | Run

__all__ = ["Run", "fit", "grid_search", "cv", "load", "evaluate", "predict", "runs", "report",
           "lr_find", "validate", "gradcheck", "starter_config", "export_model", "shipped_datasets",
           "downloadable_datasets", "download_dataset", "write_csv", "captured_warnings"]


def fit(config_or_path: ConfigSource | None = None, *, report: bool = False, **kwargs: Any) -> Run:
    """Train a model from a config into a new run directory (or continue one); return its Run.

    Args:
        config_or_path: a YAML file, a config dict or a Config; None with `resume=RUN`
            continues the run with the config it holds.
        report: also write RUN/report.html at the end (after Ctrl-C too), as
            `nettrain fit --report` or `training.report: true`; a report that cannot be
            written is a warning, never a failed fit.
        **kwargs: `overrides`, `out`, `init_from`, `resume`, `quiet`, `diagnose`, `console`,
            `callbacks`, `dataset`, `run_dir`, and config values as keywords
            (`fit(cfg, seed=1, optimizer__lr=0.01)`): see `nettrain.training.launch.train_run`.

    Raises:
        ConfigError, DataError: bad config or data (exit code 2), before any training.
        DivergenceError: a non-finite loss or gradient (1); the last good checkpoint is kept.
        Interrupted: SIGINT or SIGTERM (130), after the checkpoint and files are written;
            its `run` attribute is the Run.
    """
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
    from nettrain.training.mlflow_log import log_report

    log_report(run.path, run.config, path, console)  # with training.log: [mlflow]


def grid_search(config_or_path: ConfigSource, *, overrides: Overrides = (),
                workers: int | None = None, scheduler: str | None = None, refit: bool = False,
                out: str | os.PathLike | None = None, quiet: bool = False,
                console: Console | None = None) -> SearchResult:
    """Train every trial of the config's `search` space in parallel and rank them.

    Returns a `nettrain.search.grid.SearchResult` (`path`, `results` DataFrame, `best`,
    `best_config`, `refit`); see `nettrain.search.grid.grid_search` for the arguments.
    """
    from nettrain.search.grid import grid_search as run_search

    return run_search(config_or_path, overrides=overrides, workers=workers, scheduler=scheduler,
                      refit=refit, out=out, quiet=quiet, console=console)


def cv(config_or_path: ConfigSource, *, folds: int | None = None, overrides: Overrides = (),
       out: str | os.PathLike | None = None, quiet: bool = False,
       console: Console | None = None) -> CVResult:
    """k-fold cross-validation of a config, as `nettrain cv`: a run per fold, cv.csv, oof.csv.

    `folds` defaults to the config's search.folds, else 5. Returns a
    `nettrain.search.cv.CVResult` (`path`, `scores` (cv.csv), `oof` (oof.csv), `runs`,
    `mean("test_accuracy")`); see `nettrain.search.cv.cross_validate`.
    """
    from nettrain.search.cv import cross_validate

    return cross_validate(config_or_path, folds=folds, overrides=overrides, out=out, quiet=quiet,
                          console=console)


def load(run: RunSource) -> LoadedRun:
    """A trained run (a run directory or a `Run`), ready to `.predict(data)`,
    `.predict_array(data)`, `.predict_proba(data)` and `.evaluate(data)`."""
    from nettrain.inference.loading import load as load_run

    return load_run(getattr(run, "path", run))


def evaluate(run: RunSource, data: DataSource | None = None, *, split: str | None = None,
             threshold: float | None = None) -> EvaluationReport:
    """The metrics report of a run (directory or Run) on labelled data (a DataFrame or a
    file) or on one of its splits, as `nettrain evaluate` prints it (a dict; `json_ready()`
    is what `--json` prints); `threshold` overrides a binary model's decision threshold."""
    return load(run).evaluate(data, split=split, threshold=threshold)


def predict(run: RunSource, data: DataSource, *, proba: bool = False, keep: Sequence[str] = (),
            threshold: float | None = None, missing: str | None = None) -> pd.DataFrame:
    """The table `nettrain predict` writes, as a DataFrame, for a DataFrame or a data file
    (`proba`, `keep`, `threshold` and `missing` as `nettrain predict --proba/--keep/
    --threshold/--missing`)."""
    return load(run).predict(data, proba=proba, keep=keep, threshold=threshold, missing=missing)


def runs(folder: str | os.PathLike = "runs", sort: str | None = None) -> pd.DataFrame:
    """The run directories under `folder` as a DataFrame, one row each, as `nettrain runs`."""
    from nettrain.store.table import runs as run_table

    return run_table(folder, sort)


def report(paths: str | os.PathLike | Iterable[str | os.PathLike],
           out: str | os.PathLike | None = None) -> Path:
    """Write the HTML report of runs or searches (one path or several) as `nettrain report`;
    return the path written."""
    from nettrain.reporting import write_report

    return write_report([paths] if isinstance(paths, (str, os.PathLike)) else paths, out)


def lr_find(config_or_path: ConfigSource, *, overrides: Overrides = (),
            plot: str | os.PathLike | None = None, start_lr: float = 1e-7, end_lr: float = 10.0,
            num_it: int = 100, stop_div: bool = True) -> RangeTest:
    """The learning-rate range test of a config, as `nettrain lr-find` (fastai's lr_find).

    A model built from the config trains on train-split batches while the lr grows
    exponentially from `start_lr` to `end_lr` over `num_it` batches, stopping (with
    `stop_div`) when the smoothed loss passes 4x its best. Writes no run directory.

    Args:
        config_or_path: a YAML file, a config dict or a Config. overrides: as `--set`.
        plot: a .png path to draw the loss against the lr into (None: no file).

    Returns:
        a `nettrain.training.lr_find.RangeTest`: `suggestion` (the lr where the smoothed loss
        falls fastest), `rule`, `lrs`, `losses`, `stopped`; `to_dict()` for JSON.
    """
    from nettrain.data.dataset import prepare_data
    from nettrain.training.launch import as_config
    from nettrain.training.lr_find import range_test

    config = as_config(config_or_path, overrides)
    result = range_test(config, prepare_data(config), start_lr=start_lr, end_lr=end_lr,
                        num_it=num_it, stop_div=stop_div)
    if plot is not None:
        from nettrain.reporting.lr_find import range_test_png
        from nettrain.store.rundir import write_bytes

        Path(plot).parent.mkdir(parents=True, exist_ok=True)
        write_bytes(Path(plot), range_test_png(result))
    return result


def validate(config_or_path: ConfigSource, *, overrides: Overrides = ()) -> Validation:
    """Check a config without training, as `nettrain validate`: resolve it, read its data and
    check the config against it.

    Returns a `nettrain.build.summary.Validation`: `config` (resolved, with each value's
    source in `config_lines()`), `dataset` (task, features, output units, notes), `model`
    (built on first use: a layer that cannot be built raises its ConfigError then),
    `model_rows()`, `n_train` and `steps_per_epoch`.

    Raises:
        ConfigError, DataError: every problem found with the config or its data.
    """
    from nettrain.build.summary import validate_config
    from nettrain.training.launch import as_config

    return validate_config(as_config(config_or_path, overrides))


def gradcheck(config_or_path: ConfigSource, *, overrides: Overrides = (), rows: int = 8,
              max_entries: int | None = 1000) -> GradientCheck:
    """Compare backpropagation with central finite differences for a config's model, loss and
    regularization, as `nettrain gradcheck`: the model in float64 with the config's seed, on
    the first `rows` train rows, at most `max_entries` entries of each parameter array (None:
    all).

    Returns a `nettrain.training.config_gradients.GradientCheck`: `rows` (layer, parameter,
    max abs error, max relative error), `sizes`, `n_rows`, `threshold`, `failed()`.
    """
    from nettrain.training.config_gradients import check_config_gradients
    from nettrain.training.launch import as_config

    return check_config_gradients(as_config(config_or_path, overrides), n_rows=rows,
                                  max_entries=max_entries)


def starter_config(template: str | None = None, *, data: str | os.PathLike | None = None,
                   target: str | None = None, path: str | os.PathLike | None = None) -> StarterConfig:
    """A commented starter config, as `nettrain init`: the `template` ("classification", the
    default, or "regression"), or one written for the table `data` to predict its column
    `target` (task, units, columns left out, dates, missing values, class weights, split
    and metrics, each with the reason).

    Args:
        path: the file the config is meant for: its data path is written relative to that
            file's folder (None: to the working directory).

    Returns a `nettrain.data.starter.StarterConfig`: `text`, `notes`, and `write(force=False)`
    to save it to `path`.
    """
    from nettrain.data.starter import starter_config as make

    return make(template, data, target, path)


def export_model(run: RunSource, out: str | os.PathLike | None = None,
                 format: str = "onnx") -> list[Path]:
    """Write a trained run as an ONNX model that scores raw input columns, as `nettrain
    export`; return the paths written, the model's first (a text model's vocabulary next)."""
    from nettrain.export import export

    return export(run, out, format)


def shipped_datasets() -> tuple[Path, list[tuple[str, int, int]]]:
    """The folder of the datasets shipped with nettrain, and (file name, rows, columns) of
    each, as `nettrain datasets list` shows them."""
    from nettrain.data import downloads

    return downloads.shipped_dir(), downloads.shipped_datasets()


def downloadable_datasets() -> list[tuple[str, str, Path | None]]:
    """(name, title, the folder it was downloaded to or None) of each dataset
    `download_dataset` gets."""
    from nettrain.data import downloads

    return [(name, dataset.title, downloads.downloaded_dir(name))
            for name, dataset in downloads.DOWNLOADABLE.items()]


def download_dataset(name: str, folder: str | os.PathLike | None = None, mirror: str | None = None,
                     report: Callable[[str], object] = print) -> list[Path]:
    """Download (or reuse) a dataset, verify its checksums and write its files, as `nettrain
    datasets get`; return the paths written (train and test first). `report` receives one
    line per step."""
    from nettrain.data import downloads

    return downloads.get(name, folder, mirror, report=report)


def write_csv(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a table (a DataFrame, without its index) to a CSV file atomically: the file is
    the previous one or the whole new one, never part of it."""
    from nettrain.errors import DataError
    from nettrain.store.rundir import write_table

    try:
        write_table(path, table)
    except OSError as err:
        raise DataError(f"Cannot write -o {path}: {err.strerror or err}. Check that its folder "
                        "exists and is writable.") from None


def captured_warnings() -> AbstractContextManager[list[str]]:
    """A context manager collecting the messages of the `DataWarning`s (data used, but not
    as given: unseen category levels, left-out rows) raised inside it, once each, in order."""
    from nettrain.inference.loading import captured_warnings as capture

    return capture()
