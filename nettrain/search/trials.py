"""The trials of a search: one point of the space as a validated config (`Trial`), its id (a
hash of the config), its runs (`Unit`s, one per repeat) and the clean-up and signal handling
the grid and the study searches share."""

import contextlib
import hashlib
import json
import signal
from dataclasses import dataclass, field

from nettrain.config import loading as config_mod
from nettrain.search.executors import Unit

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


def _hash(obj, n=8):
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def trial_id(cfg):
    """A short hash of a resolved config, without the keys that only name or place its output;
    a trial scored by k-fold cross-validation (search.folds) hashes k too: it is not the same
    trial as the config trained once."""
    data = cfg.absolute_data()
    key = {k: v for k, v in data.items() if k not in NOT_HASHED}
    if data["search"]["folds"]:
        key["folds"] = data["search"]["folds"]
    return _hash(key)


def data_key(cfg):
    data = cfg.absolute_data()
    return _hash({k: data.get(k) for k in DATA_KEYS})


def with_search(raw, base_dir, overrides, search):
    """A trial's Config: `raw` (without its search section) with `overrides`, validated, and
    the search's resolved `search` section put back.

    A trial's config.yaml carries the real search section (its metric and mode tell the report
    what was searched); validating it again for every trial would check the whole space again.
    """
    raw = {k: v for k, v in raw.items() if k != "search"}
    return config_mod.config_from_dict(raw, base_dir, overrides).with_values({"search": search})


def attach_units(trials, spec, folder):
    """Give each trial its runs: repeat r uses seed + r in folder/ID (r = 0) or folder/ID-rR."""
    for trial in trials:
        base_seed = trial.config.data["seed"]
        for r in range(spec.repeats):
            cfg = trial.config if r == 0 else with_search(
                trial.config.absolute_data(), trial.config.base_dir, [("seed", base_seed + r)],
                trial.config.data["search"])
            run_dir = folder / (trial.id if r == 0 else f"{trial.id}-r{r}")
            trial.units.append(Unit(trial.id, r, cfg, str(run_dir), data_key(trial.config)))


@contextlib.contextmanager
def sigterm_as_interrupt():
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


def clear_partial(run_dir):
    # A run stopped half-way is started again from scratch, in a clean directory.
    import shutil

    shutil.rmtree(run_dir, ignore_errors=True)
