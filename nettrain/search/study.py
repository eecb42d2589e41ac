"""The Optuna side of a search: the study (its storage, sampler and pruner), the space as
Optuna distributions, and the callback that reports each epoch of a trial to the study.

Optuna is the optional `search` extra: `search.method: tpe` and `search.pruner` need it, and
this module imports it only when a search asks for them.
"""

import math
from dataclasses import dataclass
from pathlib import Path

from nettrain.config.space import Choice, IntRange, LogUniformRange
from nettrain.errors import ConfigError, RunError
from nettrain.training.callbacks import Callback

STUDY_FILE = "search.db"
EXTRA = "pip install 'nettrain[search]'"
PRIMITIVE = (type(None), bool, int, float, str)


def needs_optuna(section):
    """Whether a resolved search section runs on an Optuna study (tpe, or any pruner)."""
    return section["method"] == "tpe" or section["pruner"] != "none"


def import_optuna(section):
    """The optuna module, quiet; a ConfigError naming the extra when it is not installed."""
    try:
        import optuna
    except ImportError:
        asked = [f"search.method: {section['method']}"] if section["method"] == "tpe" else []
        asked += [f"search.pruner: {section['pruner']}"] if section["pruner"] != "none" else []
        raise ConfigError(
            f"{' and '.join(asked)} run(s) on Optuna, which is the `search` extra: install it with "
            f"`{EXTRA}`. Without it, search.method grid and random train every trial to the end "
            "(search.pruner: none)."
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@dataclass(frozen=True)
class StudyRef:
    """Where a trial reports its epochs (or folds): the study's storage URL and name, the
    trial's id in it, the pruner (rebuilt on the worker) and its steps (training.epochs, or
    search.folds), the metric and the step of epoch 0."""

    storage: str
    name: str
    trial_id: int
    pruner: str
    max_steps: int
    metric: str
    step_offset: int = 0


def storage_url(section, folder):
    """search.storage, or the SQLite file search.db in the search directory."""
    return section["storage"] or f"sqlite:///{Path(folder) / STUDY_FILE}"


def open_storage(optuna, url):
    if not url.startswith("sqlite:"):
        return optuna.storages.RDBStorage(url)
    # Several worker processes write to one file: wait for the lock rather than fail. A trial
    # commits once per epoch: WAL with synchronous NORMAL makes that a write, not two fsyncs
    # (a crash of the program loses nothing; a power cut at most the last epochs' reports).
    from sqlalchemy import event

    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})

    def fast_commits(connection, record):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(storage.engine, "connect", fast_commits)
    storage.engine.dispose()  # the connection made while creating the tables: reopened with them
    return storage


def make_pruner(optuna, name, max_steps):
    """Optuna's MedianPruner, SuccessiveHalvingPruner (ASHA) or HyperbandPruner, or none; a
    trial's steps are its epochs, or its folds when search.folds scores it."""
    if name == "median":
        return optuna.pruners.MedianPruner()
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_steps)
    return optuna.pruners.NopPruner()


def make_sampler(optuna, spec, seed):
    """TPE or random, seeded from `seed` (the caller adds the trials the study already has, so
    a resumed search does not draw its first trials again). A grid's points are queued in the
    study instead (see `Space.grid_points`), which the random sampler then leaves as they are."""
    if spec.method == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


class Space:
    """The search space as Optuna distributions, and back: a list whose values are all plain
    (numbers, text, booleans, null) is a categorical of those values; any other list (of
    lists, of mappings) a categorical of the values' positions."""

    def __init__(self, optuna, spec):
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        self.dims = spec.space
        self.by_position = {p for p, d in spec.space.items()
                            if isinstance(d, Choice) and not all(isinstance(v, PRIMITIVE) for v in d.values)}
        self.encoded, self.distributions = {}, {}
        for path, dim in spec.space.items():
            if isinstance(dim, Choice):
                choices = list(range(len(dim.values))) if path in self.by_position else list(dim.values)
                self.encoded[path] = choices
                self.distributions[path] = CategoricalDistribution(choices)
            elif isinstance(dim, IntRange):
                self.distributions[path] = IntDistribution(int(dim.lo), int(dim.hi))
            else:
                log = isinstance(dim, LogUniformRange)
                self.distributions[path] = FloatDistribution(dim.lo, dim.hi, log=log)

    def size(self):
        """The number of distinct points, or None for a space with a continuous dimension."""
        if len(self.encoded) < len(self.dims):
            return None
        return math.prod(len(choices) for choices in self.encoded.values())

    def grid_points(self, spec):
        """Every point of a grid as Optuna parameters, in the grid's order."""
        from nettrain.config.space import expand

        return [{path: (self.dims[path].values.index(value) if path in self.by_position else value)
                 for path, value in point.items()} for point in expand(spec, 0)]

    def params(self, optuna_params):
        """The config values of a trial's Optuna parameters, in the space's order."""
        out = {}
        for path, dim in self.dims.items():
            value = optuna_params[path]
            out[path] = dim.values[value] if path in self.by_position else value
        return out


_STUDIES = {}  # a worker's open studies, by (storage, name, pruner): one connection each


def load_worker_trial(ref):
    """The Optuna Trial a worker reports to, with the search's pruner."""
    import optuna

    key = (ref.storage, ref.name, ref.pruner, ref.max_steps)
    if key not in _STUDIES:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        _STUDIES[key] = _open_worker_study(optuna, ref)
    return optuna.trial.Trial(_STUDIES[key], ref.trial_id)


def _open_worker_study(optuna, ref):
    """The study a worker reports to; a RunError saying where it must be when this worker
    cannot reach it (a Dask worker on another machine, given the default search.db)."""
    import socket

    fix = ("each worker reports every epoch to the study itself, so the study must be where every "
           "worker reaches it: give search.storage a database URL they all reach "
           "(postgresql+psycopg2://...), or run the workers on machines that share the search "
           "directory's path")
    if ref.storage.startswith("sqlite:"):
        from sqlalchemy.engine import make_url

        database = make_url(ref.storage).database
        if database and not Path(database).is_file():  # opening it would make an empty one here
            raise RunError(f"The worker on {socket.gethostname()} has no {database}, the study's "
                           f"SQLite file: {fix}.")
    try:
        return optuna.load_study(study_name=ref.name, storage=open_storage(optuna, ref.storage),
                                 sampler=optuna.samplers.RandomSampler(),
                                 pruner=make_pruner(optuna, ref.pruner, ref.max_steps))
    except Exception as err:  # no such study there, a server this worker cannot reach, ...
        raise RunError(f"The worker on {socket.gethostname()} cannot open the study {ref.name!r} at "
                       f"{ref.storage} ({type(err).__name__}: {err}): {fix}.") from None


class ReportToStudy(Callback):
    """Reports the search metric after every epoch; stops the run when the pruner says so.

    A pruned run ends like an early-stopped one (its files written, `stopped_reason:
    pruned` in metrics.json) after the epoch it was pruned at.
    """

    def __init__(self, ref):
        self.ref = ref
        self.trial = load_worker_trial(ref)

    def on_epoch_end(self, trainer, logs):
        value = logs.get(self.ref.metric)
        if value is None or not math.isfinite(value):
            return
        step = self.ref.step_offset + logs["epoch"]
        self.trial.report(float(value), step)
        if self.trial.should_prune():
            trainer.request_stop("pruned", f"pruned after epoch {logs['epoch']}: {self.ref.metric} "
                                           f"{value:.4g} lags the other trials at that epoch")


class ReportFolds:
    """After each fold of a trial scored by cross-validation (search.folds), reports the mean
    of the search metric over the folds so far at step = the number of folds, and says
    whether the pruner stops the trial there.

    Pruning between folds, not per epoch: folds train one after another, so a per-epoch mean
    over the folds exists only once the last fold trains; the mean over the first j folds is
    known after fold j, and every trial's j-th value averages the same j folds.
    """

    def __init__(self, ref):
        self.ref = ref
        self.trial = load_worker_trial(ref)

    def __call__(self, fold, rows):
        values = [row[self.ref.metric] for row in rows if self.ref.metric in row]
        if len(values) < len(rows) or not all(math.isfinite(v) for v in values):
            return False
        self.trial.report(sum(values) / len(values), fold)
        return self.trial.should_prune()
