"""grid-search: a config's `search` space -> validated trials, run in parallel, ranked and resumable.

A trial's id is a short hash of its resolved config, so the same command run again finds
the trials it already finished (their run directories hold metrics.json or failed.json)
and runs only the rest. Every trial's config is validated, and every dataset prepared,
before the first one trains.
"""

import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from nettrain.config import loading as config_mod
from nettrain.config.space import expand, search_spec
from nettrain.errors import ConfigError, Interrupted, RunError
from nettrain.search.base_config import load_base
from nettrain.search.executors import DaskExecutor, InlineExecutor, LocalPool, read_finished
from nettrain.search.refit import refit_best, refit_config
from nettrain.search.report import SearchProgress, ranked_table
from nettrain.search.results import BEST, RESULTS, Book, metric_names
from nettrain.search.study import needs_optuna
from nettrain.search.trials import (
    Trial,
    attach_units,
    clear_partial,
    sigterm_as_interrupt,
    trial_id,
    with_search,
)
from nettrain.training.mlflow_log import search_run


@dataclass
class SearchResult:
    """What `grid_search` returns.

    Attributes:
        path: the search directory (run directories, results.csv, best.yaml).
        results: results.csv as a pandas DataFrame, best trial first.
        best: the best trial's row (a dict), or None when every trial failed.
        best_config: path of best.yaml, or None.
        refit: the `Run` trained on train+val with `refit=True`, else None.
    """

    path: Path
    results: object
    best: dict | None
    best_config: Path | None
    refit: object = None


# ---------------------------------------------------------------- planning


def plan_trials(raw, base_dir, spec, seed, search):
    """The trials of the space, each config validated; every invalid combination in one error.

    Parameters are applied to the user's raw mapping, not the resolved one, so defaults that
    depend on a searched value (an initializer that follows the activation) follow it.
    `search` is the resolved search section every trial's config carries.
    """
    trials, problems = {}, []
    for params in expand(spec, seed):
        try:
            cfg = with_search(raw, base_dir, list(params.items()), search)
        except ConfigError as err:
            problems += _trial_problems(params, err)
            continue
        tid = trial_id(cfg)
        trials.setdefault(tid, Trial(tid, params, cfg))
    if problems:
        raise _before_any_trial("Change `search.space` so every combination is a valid config", problems)
    return list(trials.values())


def _show(params):
    return "{" + ", ".join(f"{k}: {v!r}" for k, v in params.items()) + "}"


def _trial_problems(params, err):
    """Each problem of one trial, prefixed with its parameters instead of the `--set` they came as."""
    prefixes = tuple(f"--set {key}=" for key in params)
    return [f"trial {_show(params)}: " + (p.split(": ", 1)[1] if p.startswith(prefixes) else p)
            for p in err.problems]


def _before_any_trial(fix, problems):
    lines = [f"{len(problems)} trial problem(s); no trial was started. {fix}:"]
    return ConfigError("\n".join(lines + [f"  - {p}" for p in problems]))


def objective(spec):
    """(metric, mode) to rank by: a metric the runs log on the val split, `val_` implied.

    The config's validation has checked that the metric is logged and inferred its mode.
    """
    metric = spec.metric if spec.metric.startswith("val_") else f"val_{spec.metric}"
    if spec.mode is not None:
        return metric, spec.mode
    from nettrain.nn.metrics import metric_mode

    return metric, metric_mode(metric, where="search.metric")


def check_folds(cfg, spec):
    """With search.folds every trial is cross-validated: the data is dealt into folds once here,
    so data that cannot be (an .npz, too many folds) stops the search before any trial."""
    if not spec.folds:
        return
    if spec.repeats > 1:
        raise ConfigError("search.folds scores each trial by k-fold cross-validation, and "
                          "search.repeats trains each trial several times: give one of the two "
                          "(search.repeats: 1).")
    from nettrain.search.cv import Prepared

    Prepared(cfg, spec.folds)


def search_dir(cfg, out=None):
    """OUTPUT/NAME-search, OUTPUT as `fit` finds it: the same command always resumes in it."""
    from nettrain.store.rundir import ensure_writable
    from nettrain.training.launch import output_dir

    return ensure_writable(output_dir(cfg, out) / f"{cfg.data['name']}-search").resolve()


def prepare_datasets(trials):
    """One prepared Dataset per distinct data setup (usually one for the whole search), and
    every trial checked against its data (loss, output units, metrics) before any trains."""
    from nettrain.data.dataset import prepare_data

    datasets, problems = {}, []
    for trial in trials:
        key = trial.units[0].data_key
        if key not in datasets:
            datasets[key] = prepare_data(trial.config)
        trial.config = trial.config.with_values(datasets[key].settled)  # for best.yaml
        try:
            config_mod.check_against_data(trial.config, datasets[key])
        except ConfigError as err:
            problems += _trial_problems(trial.params, err)
    if problems:
        raise _before_any_trial("Change `search.space` (or the model) to fit the data", problems)
    return datasets


def _check_val(datasets, metric):
    if any("val" not in ds.splits for ds in datasets.values()):
        raise ConfigError(
            f"grid-search ranks trials by {metric} on the validation split, and the data has "
            "none. Give `data.split.val` a fraction such as 0.15, or a `data.val` file."
        )


# ---------------------------------------------------------------- execution


def make_executor(workers, scheduler, datasets):
    """Dask when a scheduler address is given; else `workers` local processes (1: in-process)."""
    if scheduler:
        return DaskExecutor(scheduler, datasets)
    if workers is None:
        workers = os.cpu_count() or 1
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers must be a positive integer. Got {workers!r}.")
    return InlineExecutor(datasets) if workers == 1 else LocalPool(workers, datasets)


def drive(executor, units, progress):
    """Run `units` on `executor`, at most `executor.slots` at a time; yield (unit, result).

    Ctrl-C (or SIGTERM) cancels the running units and propagates as KeyboardInterrupt.
    """
    queue, running = deque(units), {}
    try:
        while queue or running:
            while queue and len(running) < executor.slots:
                unit = queue.popleft()
                running[executor.submit(unit)] = unit
                progress.unit_started(unit.trial_id)
            for future in executor.wait(list(running), timeout=0.25):
                unit = running.pop(future)
                try:
                    result = executor.result(future)
                except Interrupted:
                    raise KeyboardInterrupt from None  # the worker saw the same Ctrl-C
                except Exception as err:  # the worker itself died: not saved, so retried next time
                    result = {"status": "failed", "metrics": {}, "seconds": 0.0,
                              "error": f"worker failed: {type(err).__name__}: {err}"}
                yield unit, result
    except (KeyboardInterrupt, Interrupted):
        executor.cancel()
        raise


# ---------------------------------------------------------------- the search


def _collect_finished(trials, book):
    """Results of the runs that already finished (resume); returns the units still to run."""
    todo = []
    for trial in trials:
        for unit in trial.units:
            done = read_finished(unit.run_dir, unit.config["search"]["folds"])
            if done is None:
                clear_partial(unit.run_dir)
                todo.append(unit)
            else:
                trial.results[unit.repeat] = done
        if len(trial.results) == len(trial.units):
            book.add(trial)
    return todo


def grid_search(config_or_path, *, overrides=(), workers=None, scheduler=None, refit=False,
                out=None, quiet=False, console=None):
    """Train every trial of the config's `search` space and rank them; see SearchResult.

    Args:
        config_or_path: a config file, a config dict or a `Config` with a `search` section.
        overrides: `--set` style 'KEY=VALUE' strings (or pairs) applied to every trial.
        workers: local processes (default: the number of cores; 1 trains in this process).
        scheduler: a Dask scheduler address (tcp://HOST:PORT) to run the trials on instead.
        refit: train best.yaml on train+val and evaluate it on test.
        out: the folder for the search directory (default: the config's `output`).
    """
    from rich.console import Console

    console = console or Console()
    cfg, raw, base_dir = load_base(config_or_path, overrides)
    spec = search_spec(cfg.data["search"])
    metric, mode = objective(spec)
    check_folds(cfg, spec)
    if needs_optuna(cfg.data["search"]):
        return _study_search(cfg, raw, base_dir, spec, (metric, mode), workers, scheduler, refit, out,
                             quiet, console)
    trials = plan_trials(raw, base_dir, spec, cfg.data["seed"], cfg.data["search"])
    folder = search_dir(cfg, out)
    attach_units(trials, spec, folder)
    if refit:
        refit_config(trials[0])  # a config the refit could not train is reported now, not later
    datasets = prepare_datasets(trials)
    _check_val(datasets, metric)
    book = Book(folder, trials, spec, metric, mode)
    todo = _collect_finished(trials, book)
    executor = make_executor(workers, scheduler, datasets)
    if not quiet:
        skipped = len(book.rows)
        note = f" ({skipped} already finished)" if skipped else ""
        console.print(f"grid-search: {len(trials)} trials x {spec.repeats} repeat(s){note} on "
                      f"{executor.where}, into {folder}", soft_wrap=True)
    with search_run(cfg, folder, console):  # the trials' parent run, with training.log: [mlflow]
        _run(executor, trials, todo, book, console, quiet)
        return _finish(book, folder, trials, datasets, console, quiet, refit)


def _study_search(cfg, raw, base_dir, spec, objective_, workers, scheduler, refit, out, quiet, console):
    """A tpe search, or one with a pruner: the sampler proposes the trials (see optimize)."""
    from nettrain.search.optimize import study_search
    from nettrain.search.study import import_optuna

    import_optuna(cfg.data["search"])  # a missing extra is reported before any data is read
    base = Trial("base", {}, with_search(raw, base_dir, [], cfg.data["search"]))
    folder = search_dir(cfg, out)
    attach_units([base], spec, folder)
    datasets = prepare_datasets([base])
    _check_val(datasets, objective_[0])
    with search_run(cfg, folder, console):  # the trials' parent run, with training.log: [mlflow]
        book = study_search((cfg, raw, base_dir), spec, *objective_, folder, datasets,
                            lambda: make_executor(workers, scheduler, datasets), console, quiet)
        return _finish(book, folder, book.trials, datasets, console, quiet, refit)


def _run(executor, trials, todo, book, console, quiet):
    by_id = {t.id: t for t in trials}
    with executor, sigterm_as_interrupt(), SearchProgress(
        console, len(trials), len(todo), executor.slots, book.metric, book.mode, quiet,
    ) as progress:
        progress.done = len(book.rows)
        progress.failed = sum(r["status"] == "failed" for r in book.rows.values())
        progress.best = book.best()
        try:
            for unit, result in drive(executor, todo, progress):
                trial = by_id[unit.trial_id]
                trial.results[unit.repeat] = result
                progress.unit_finished(unit.trial_id, result.get("seconds", 0.0))
                if len(trial.results) == len(trial.units):
                    row = book.add(trial)
                    book.save()
                    progress.trial_finished(row, book.best())
        except (KeyboardInterrupt, Interrupted):
            book.save()
            raise Interrupted(
                f"grid-search stopped: {len(book.rows)} of {len(trials)} trials finished, results "
                f"so far in {book.folder / RESULTS}. Run the same command again to resume."
            ) from None


def _finish(book, folder, trials, datasets, console, quiet, refit):
    import pandas as pd
    from rich.console import Console

    book.save()
    ranked = book.ranked()
    if not quiet:
        table = ranked_table(ranked, book.params, book.metric, book.mode,
                             metric_names(ranked, book.metric, False), title=f"{folder / RESULTS}")
        if not console.is_terminal:
            # A file or pipe has no width to fit: print the table whole rather than squeezed.
            console = Console(file=console.file, width=max(console.width, 200), no_color=True)
        console.print(table)
    best = book.best()
    if best is None:
        raise RunError(f"every trial failed; see the error column of {folder / RESULTS}. "
                       f"The first error: {ranked[0]['error'] if ranked else 'none'}")
    best_trial = next(t for t in trials if t.id == best["id"])
    if not quiet:
        console.print(f"best trial {best['id']}: {book.metric} = {best['metrics'][book.metric]:.6g}; "
                      f"its config is {folder / BEST}", soft_wrap=True)
    result = SearchResult(folder, pd.read_csv(folder / RESULTS), best, folder / BEST)
    if refit:
        result.refit = refit_best(best_trial, folder, datasets, console, quiet)
    return result
