"""grid-search: a config's `search` space -> validated trials, run in parallel, ranked and resumable.

A trial's id is a short hash of its resolved config, so the same command run again finds
the trials it already finished (their run directories hold metrics.json or failed.json)
and runs only the rest. Every trial's config is validated, and every dataset prepared,
before the first one trains.
"""

import contextlib
import copy
import hashlib
import io
import json
import math
import os
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nettrain import config as config_mod
from nettrain.errors import ConfigError, Interrupted, RunError
from nettrain.executors import DaskExecutor, InlineExecutor, LocalPool, Unit, read_finished
from nettrain.search_report import SearchProgress, ranked_table
from nettrain.space import expand, parse_search

RESULTS = "results.csv"
BEST = "best.yaml"
# Keys that say where or under which name a run is written, not what it trains.
NOT_HASHED = ("name", "output", "search")
# What data.prepare_data reads: trials that agree on these share one prepared dataset.
DATA_KEYS = ("data", "seed", "dtype", "loss")


@dataclass
class Trial:
    """One point of the space: its parameters, its validated config and where its runs go."""

    id: str
    params: dict
    config: object
    units: list = field(default_factory=list)
    results: dict = field(default_factory=dict)


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


def _hash(obj, n=8):
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def trial_id(cfg):
    """A short hash of a resolved config, without the keys that only name or place its output."""
    data = cfg.absolute_data()
    return _hash({k: v for k, v in data.items() if k not in NOT_HASHED})


def _data_key(cfg):
    data = cfg.absolute_data()
    return _hash({k: data.get(k) for k in DATA_KEYS})


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


def plan_trials(raw, base_dir, spec, seed):
    """The trials of the space, each config validated; every invalid combination in one error.

    Parameters are applied to the user's raw mapping, not the resolved one, so defaults that
    depend on a searched value (an initializer that follows the activation) follow it.
    """
    # The search section itself is not part of a trial: it would only be checked again.
    raw = {k: v for k, v in raw.items() if k != "search"}
    trials, problems = {}, []
    for params in expand(spec, seed):
        try:
            cfg = config_mod.config_from_dict(raw, base_dir, list(params.items()))
        except ConfigError as err:
            problems += [f"trial {_show(params)}: {p}" for p in err.problems]
            continue
        tid = trial_id(cfg)
        trials.setdefault(tid, Trial(tid, params, cfg))
    if problems:
        raise ConfigError(
            [f"{len(problems)} problem(s) in the search space; no trial was started. "
             "Change `search.space` so every combination is a valid config:", *problems])
    return list(trials.values())


def _show(params):
    return "{" + ", ".join(f"{k}: {v!r}" for k, v in params.items()) + "}"


def objective(spec):
    """(metric, mode) to rank by: a metric the runs log on the val split, `val_` implied.

    The config's validation has checked that the metric is logged and inferred its mode.
    """
    metric = spec.metric if spec.metric.startswith("val_") else f"val_{spec.metric}"
    if spec.mode is not None:
        return metric, spec.mode
    from nettrain.metrics import metric_mode

    return metric, metric_mode(metric, where="search.metric")


def search_dir(cfg, out=None):
    """OUTPUT/NAME-search, OUTPUT as `fit` finds it: the same command always resumes in it."""
    from nettrain.api import output_dir
    from nettrain.rundir import ensure_writable

    return ensure_writable(output_dir(cfg, out) / f"{cfg.data['name']}-search").resolve()


def attach_units(trials, spec, folder):
    """Give each trial its runs: repeat r uses seed + r in folder/ID (r = 0) or folder/ID-rR."""
    for trial in trials:
        base_seed = trial.config.data["seed"]
        for r in range(spec.repeats):
            cfg = trial.config if r == 0 else config_mod.config_from_dict(
                trial.config.absolute_data(), trial.config.base_dir, [("seed", base_seed + r)])
            run_dir = folder / (trial.id if r == 0 else f"{trial.id}-r{r}")
            trial.units.append(Unit(trial.id, r, cfg, str(run_dir), _data_key(trial.config)))


def prepare_datasets(trials):
    """One prepared Dataset per distinct data setup (usually one for the whole search)."""
    from nettrain.data import prepare_data

    datasets = {}
    for trial in trials:
        key = trial.units[0].data_key
        if key not in datasets:
            datasets[key] = prepare_data(trial.config)
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


@contextlib.contextmanager
def _sigterm_as_interrupt():
    # SIGTERM (a batch system stopping the job) saves and stops like Ctrl-C.
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------- results


def trial_row(trial, metric, repeats):
    """One results row: the mean (and std over repeats) of each val metric, status, error."""
    import numpy as np

    results = [trial.results[r] for r in sorted(trial.results)]
    failed = [(r, res) for r, res in enumerate(results) if res["status"] != "ok"]
    row = {"id": trial.id, "params": trial.params, "metrics": {}, "status": "ok", "error": "",
           "seconds": round(sum(res.get("seconds", 0.0) for res in results), 3)}
    if failed:
        r, res = failed[0]
        prefix = f"repeat {r} (seed {trial.config.data['seed'] + r}): " if repeats > 1 else ""
        row.update(status="failed", error=prefix + res["error"])
        return row
    vals = [res["metrics"].get("val", {}) for res in results]
    for name in vals[0]:
        series = np.array([float(v.get(name, math.nan)) for v in vals])
        row["metrics"][f"val_{name}"] = float(series.mean())
        if repeats > 1:
            row["metrics"][f"val_{name}_std"] = float(series.std(ddof=1))
    if metric not in row["metrics"]:
        row.update(status="failed", error=f"the run did not log {metric}")
    return row


def rank(rows, metric, mode):
    """ok trials best first (NaN last), then failed ones, each group in trial order."""
    sign = 1 if mode == "min" else -1

    def key(row):
        value = row["metrics"].get(metric, math.nan) if row["status"] == "ok" else math.nan
        return (row["status"] != "ok", math.isnan(value), sign * value if not math.isnan(value) else 0)

    return sorted(rows, key=key)


def write_results(folder, rows, params, metric_names):
    """results.csv, atomically: id, parameters, val metrics (mean, std), status, error, seconds."""
    from nettrain.rundir import write_csv

    header = ["rank", "id", *params, *metric_names, "status", "error", "seconds"]
    lines = []
    for i, row in enumerate(rows, start=1):
        values = [_csv_value(row["params"][p]) for p in params]
        scores = [row["metrics"].get(m, "") for m in metric_names]
        lines.append([i, row["id"], *values, *scores, row["status"], row["error"], row["seconds"]])
    write_csv(folder / RESULTS, header, lines)


def _csv_value(value):
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def write_best(folder, trial):
    """best.yaml: the best trial's full resolved config, file paths absolute, for `nettrain fit`."""
    from nettrain.rundir import write_text

    data = trial.config.absolute_data()
    data.pop("search", None)
    header = f"# best trial {trial.id} of this grid-search; train it with `nettrain fit best.yaml`\n"
    write_text(folder / BEST, header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None))
    return folder / BEST


def _metric_names(rows, metric, repeats):
    names = [metric]
    for row in rows:
        names += [m for m in row["metrics"] if not m.endswith("_std") and m not in names]
    if repeats > 1:
        names = [n for m in names for n in (m, f"{m}_std")]
    return names


# ---------------------------------------------------------------- the search


class _Book:
    """Keeps rows as trials finish and writes results.csv and best.yaml after each one."""

    def __init__(self, folder, trials, spec, metric, mode):
        self.folder, self.trials, self.spec = folder, trials, spec
        self.metric, self.mode = metric, mode
        self.params = list(spec.space)
        self.rows = {}

    def add(self, trial):
        self.rows[trial.id] = trial_row(trial, self.metric, self.spec.repeats)
        return self.rows[trial.id]

    def ranked(self):
        return rank(list(self.rows.values()), self.metric, self.mode)

    def best(self):
        ranked = self.ranked()
        return ranked[0] if ranked and ranked[0]["status"] == "ok" else None

    def save(self):
        ranked = self.ranked()
        write_results(self.folder, ranked, self.params, _metric_names(ranked, self.metric, self.spec.repeats))
        best = self.best()
        if best is not None:
            write_best(self.folder, next(t for t in self.trials if t.id == best["id"]))


def _collect_finished(trials, book):
    """Results of the runs that already finished (resume); returns the units still to run."""
    todo = []
    for trial in trials:
        for unit in trial.units:
            done = read_finished(unit.run_dir)
            if done is None:
                _clear_partial(unit.run_dir)
                todo.append(unit)
            else:
                trial.results[unit.repeat] = done
        if len(trial.results) == len(trial.units):
            book.add(trial)
    return todo


def _clear_partial(run_dir):
    # A run stopped half-way is started again from scratch, in a clean directory.
    import shutil

    shutil.rmtree(run_dir, ignore_errors=True)


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
    spec = parse_search(cfg.data.get("search"))
    metric, mode = objective(spec)
    trials = plan_trials(raw, base_dir, spec, cfg.data["seed"])
    folder = search_dir(cfg, out)
    attach_units(trials, spec, folder)
    if refit:
        refit_config(trials[0])  # a config the refit could not train is reported now, not later
    datasets = prepare_datasets(trials)
    _check_val(datasets, metric)
    book = _Book(folder, trials, spec, metric, mode)
    todo = _collect_finished(trials, book)
    executor = make_executor(workers, scheduler, datasets)
    if not quiet:
        skipped = len(book.rows)
        note = f" ({skipped} already finished)" if skipped else ""
        console.print(f"grid-search: {len(trials)} trials x {spec.repeats} repeat(s){note} on "
                      f"{executor.where}, into {folder}", soft_wrap=True)
    _run(executor, trials, todo, book, console, quiet)
    return _finish(book, folder, trials, datasets, console, quiet, refit)


def _run(executor, trials, todo, book, console, quiet):
    by_id = {t.id: t for t in trials}
    with executor, _sigterm_as_interrupt(), SearchProgress(
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
                             _metric_names(ranked, book.metric, 1), title=f"{folder / RESULTS}")
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


def refit_config(trial):
    """The best trial's config for a refit: val merged into train, nothing left that needs val.

    With early stopping, the refit trains for the epoch whose weights the trial kept (the
    mean over repeats) instead; a plateau schedule watching a val metric watches its train
    counterpart.
    """
    data = trial.config.data
    overrides = []
    if data["data"].get("val") is not None:
        overrides.append(("data.val", None))  # the val file is appended to train (merge_val)
    elif (data["data"].get("split") or {}).get("val"):
        split = data["data"]["split"]
        overrides += [("data.split.train", round(split["train"] + split["val"], 12)), ("data.split.val", 0.0)]
    if data["training"].get("early_stopping"):
        overrides.append(("training.early_stopping", None))
        kept = [res["metrics"].get("weights_epoch") for res in trial.results.values()]
        kept = [e for e in kept if e]
        if kept:
            overrides.append(("training.epochs", max(1, int(round(sum(kept) / len(kept))))))
    monitor = (data.get("schedule") or {}).get("monitor")
    if isinstance(monitor, str) and monitor.startswith("val_"):
        overrides.append(("schedule.monitor", monitor[4:]))
    return config_mod.config_from_dict(trial.config.absolute_data(), trial.config.base_dir, overrides)


def merge_val(dataset):
    """The dataset with its val rows appended to train (for val given as a file of its own)."""
    import dataclasses

    import numpy as np

    (X_train, y_train), (X_val, y_val) = dataset.splits["train"], dataset.splits["val"]
    splits = {k: v for k, v in dataset.splits.items() if k != "val"}
    splits["train"] = (np.concatenate([X_train, X_val]), np.concatenate([y_train, y_val]))
    return dataclasses.replace(
        dataset, splits=splits, n_rows={k: len(v[0]) for k, v in splits.items()},
        notes=[*dataset.notes, "refit: the val rows are appended to train"],
    )


def refit_best(trial, folder, datasets, console, quiet):
    """Train the best config on train+val into folder/refit-ID and print its test metrics.

    A finished refit of the same trial is reused, as finished trials are.
    """
    from rich.console import Console

    from nettrain import api
    from nettrain.api import Run

    cfg = refit_config(trial)
    run_dir = folder / f"refit-{trial.id}"
    if read_finished(run_dir) is None or read_finished(run_dir)["status"] != "ok":
        _clear_partial(run_dir)
        dataset = None
        if trial.config.data["data"].get("val") is not None:
            dataset = merge_val(datasets[trial.units[0].data_key])
        silent = Console(file=io.StringIO())
        api.fit(cfg, dataset=dataset, run_dir=run_dir, quiet=True, console=silent)
    run = Run(run_dir)
    if not quiet:
        test = run.metrics.get("test")
        shown = ", ".join(f"test_{k} {v:.4g}" for k, v in test.items()) if test else "no test split"
        console.print(f"refit of {trial.id} on train+val: {run_dir}\n  {shown}", soft_wrap=True,
                      highlight=False)
    return run
