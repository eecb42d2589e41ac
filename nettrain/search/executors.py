"""Where grid-search runs train: in this process, a local process pool, or a Dask cluster.

Each executor takes `Unit`s (one trial with one repeat's seed) and gives back plain result
dicts from `run_unit`, which runs on the worker and turns a failed trial into a result
instead of an exception. The dataset is prepared once by the caller and handed to each
worker once: through the pool initializer locally, `client.scatter(broadcast=True)` on Dask.
"""

import ast
import concurrent.futures as cf
import contextlib
import io
import json
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from nettrain.backend.threads import single_thread_blas
from nettrain.errors import ConfigError, Interrupted, RunError

FAILED = "failed.json"
PRUNED = "pruned"  # a run's stopped_reason and a trial's status
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class Unit:
    """One training run: a trial's resolved config with one repeat's seed, and its directory."""

    trial_id: str
    repeat: int
    config: object
    run_dir: str
    data_key: str
    study: object = None  # a study.StudyRef when the run reports its epochs to an Optuna study


def run_unit(unit, dataset, ship=False):
    """Train one unit and return {"status", "metrics", "error", "seconds"} (worker side).

    A failure inside training (divergence, a bad combination) is returned as a result and
    noted in the run directory's failed.json, so a resumed search does not retry it. A run
    that reports to a study and is pruned has status "pruned". `dataset` None: the run
    prepares its own data. With `ship`, the run is written to a temporary folder and its files
    come back as bytes (`files`), for workers that do not share a file system with the caller.
    """
    import numpy as np
    from rich.console import Console

    from nettrain.training.launch import train_run

    target = Path(tempfile.mkdtemp(prefix="nettrain-")) / "run" if ship else Path(unit.run_dir)
    start = time.perf_counter()
    result = {"status": "ok", "metrics": {}, "error": ""}
    try:
        # The search reports progress and failures itself; a worker's own output (or NumPy's
        # overflow warnings on the way to a divergence) would garble it.
        silent = Console(file=io.StringIO())
        with np.errstate(all="ignore"):
            folds = unit.config["search"]["folds"]
            if folds:
                result["metrics"] = _cross_validate(unit, target, folds)
            else:
                callbacks = []
                if unit.study is not None:
                    from nettrain.search.study import ReportToStudy

                    callbacks.append(ReportToStudy(unit.study))
                result["metrics"] = train_run(unit.config, dataset=dataset, run_dir=target, quiet=True,
                                              console=silent, callbacks=callbacks).metrics
        if result["metrics"].get("stopped_reason") == PRUNED:
            result["status"] = PRUNED
    except (Interrupted, KeyboardInterrupt):
        raise
    except Exception as err:  # a failed trial is a row in results.csv, not the end of the search
        result.update(status="failed", error=_describe(err))
    result["seconds"] = round(time.perf_counter() - start, 3)
    if result["status"] == "failed":
        target.mkdir(parents=True, exist_ok=True)
        _write_failure(target, result)
    if ship:
        result["files"] = {p.relative_to(target).as_posix(): (p.read_bytes(), p.stat().st_mtime)
                           for p in sorted(target.rglob("*")) if p.is_file()}
        result["shipped_from"] = str(target)
        shutil.rmtree(target.parent, ignore_errors=True)
    return result


def _cross_validate(unit, target, folds):
    """A trial scored by k-fold cross-validation (search.folds): its folds' runs train into its
    run directory; a study's pruner is asked between folds (see study.ReportFolds)."""
    from nettrain.search.cv import score_trial

    after_fold = None
    if unit.study is not None:
        from nettrain.search.study import ReportFolds

        after_fold = ReportFolds(unit.study)
    return score_trial(unit.config, target, folds, after_fold)


def _describe(err):
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _write_failure(run_dir, result):
    from nettrain.store.rundir import write_json

    write_json(Path(run_dir) / FAILED, {"error": result["error"], "seconds": result["seconds"]})


def read_finished(run_dir, folds=None):
    """The result of a unit that already finished in `run_dir`, or None if it has to run.

    With `folds` (search.folds), the unit is a trial scored by cross-validation: its
    cv.csv marks it finished."""
    from nettrain.store.rundir import METRICS_FILE

    run_dir = Path(run_dir)
    if folds:
        from nettrain.search.cv import trial_scores

        scores = trial_scores(run_dir, folds)
        if scores is not None:
            seconds = sum(_run_seconds(run_dir / f"fold-{n}") for n in range(1, scores["folds"] + 1))
            return {"status": PRUNED if scores["stopped_reason"] == PRUNED else "ok",
                    "metrics": scores, "error": "", "seconds": round(seconds, 3)}
    ends = ((FAILED, "failed"),) if folds else ((METRICS_FILE, "ok"), (FAILED, "failed"))
    for name, status in ends:
        path = run_dir / name
        if path.is_file():
            with contextlib.suppress(OSError, ValueError):
                saved = json.loads(path.read_text(encoding="utf-8"))
                if saved.get("stopped_reason") == "interrupted":
                    return None  # stopped by Ctrl-C: it trains again, from the start
                if status == "ok":
                    if saved.get("stopped_reason") == PRUNED:
                        status = PRUNED
                    return {"status": status, "metrics": saved, "error": "", "seconds": _run_seconds(run_dir)}
                return {"status": "failed", "metrics": {}, "error": saved["error"],
                        "seconds": saved["seconds"]}
    return None


def _run_seconds(run_dir):
    # fit writes config.yaml first and metrics.json last: the time between is the run's.
    from nettrain.store.rundir import CONFIG, METRICS_FILE

    try:
        start, end = ((run_dir / name).stat().st_mtime for name in (CONFIG, METRICS_FILE))
    except OSError:
        return 0.0
    return round(max(0.0, end - start), 3)


FINISHED_MARKS = ("metrics.json", FAILED, "cv.csv")  # a unit's files that say it ended


def store_shipped(run_dir, files, shipped_from=None):
    """Write the files a remote worker sent back (by path relative to the run directory) into
    `run_dir`, each atomically, keeping their modification times (a finished run's duration is
    read from them). A fold run's config.yaml names its data files in the worker's folder
    `shipped_from`: they are renamed to their place in `run_dir`."""
    from nettrain.store.rundir import CONFIG, write_bytes

    run_dir = Path(run_dir)
    # The file that marks the unit finished last: its presence is what says so.
    for name in sorted(files, key=lambda n: n in FINISHED_MARKS):
        data, mtime = files[name]
        path = run_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if shipped_from is not None and path.name == CONFIG and path.parent != run_dir:
            data = _relocated(data, shipped_from, run_dir)
        write_bytes(path, data)
        os.utime(path, (mtime, mtime))


def _relocated(config_yaml, old, new):
    """config.yaml (bytes) with its file paths under the folder `old` moved under `new`."""
    import yaml

    from nettrain.config.loading import PATH_KEYS, Config

    data = yaml.safe_load(config_yaml.decode("utf-8"))  # a resolved config: every key is there
    for *sections, key in PATH_KEYS:
        node = data
        for section in sections:
            node = node[section]
        if isinstance(node[key], str) and Path(node[key]).is_relative_to(old):
            node[key] = str(Path(new) / Path(node[key]).relative_to(old))
    return Config(data, {}, None, Path(new), None).to_yaml().encode("utf-8")


# ---------------------------------------------------------------- in this process


class InlineExecutor:
    """Runs units one at a time in this process: no start-up cost, Ctrl-C reaches fit directly."""

    slots = 1
    where = "this process"

    def __init__(self, datasets):
        self.datasets = datasets

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, unit):
        future = cf.Future()
        future.unit = unit
        return future

    def wait(self, futures, timeout):
        future = next(iter(futures))
        future.set_result(run_unit(future.unit, self.datasets.get(future.unit.data_key)))
        return [future]

    def result(self, future):
        return future.result()

    def cancel(self):
        pass


# ---------------------------------------------------------------- local processes


_WORKER_DATASETS = {}


def _init_worker(datasets):
    # The parent handles Ctrl-C and ends the workers; a worker must not die half-way itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_DATASETS.update(datasets)


def _run_in_worker(unit):
    return run_unit(unit, _WORKER_DATASETS.get(unit.data_key))


GUARD = 'if __name__ == "__main__":'


def unguarded_script_call():
    """(script, line) when this call comes from a script's top-level code outside
    `if __name__ == "__main__":`, else None.

    Spawned workers import the main script again as they start; a search started by its
    top-level code would start again in every worker, which then dies. A script that cannot
    be read back is given the benefit of the doubt.
    """
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if script is None:  # an interactive session or a notebook: nothing is imported again
        return None
    frame = sys._getframe(1)
    while frame is not None and not (frame.f_code.co_name == "<module>" and frame.f_globals is vars(main)):
        frame = frame.f_back
    if frame is None:
        return None
    line = frame.f_lineno
    try:
        tree = ast.parse(Path(script).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    guarded = any(isinstance(node, ast.If) and _is_main_test(node.test)
                  and node.body[0].lineno <= line <= node.body[-1].end_lineno
                  for node in ast.walk(tree))
    return None if guarded else (script, line)


def _is_main_test(test):
    """Whether `test` is `__name__ == "__main__"` (either way round)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, *test.comparators]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    texts = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and texts == ["__main__"]


def check_script_guard():
    """A ConfigError naming the guard when worker processes would run the calling script again."""
    found = unguarded_script_call()
    if found is not None:
        script, line = found
        raise ConfigError(
            f"{script}, line {line}: the search starts worker processes, and each one runs the "
            f"script's top-level code again as it starts, which would start the search again. "
            f"Put the call under `{GUARD}` (see docs/grid-search.md), or pass workers=1 to "
            "train the trials in this process."
        )


class LocalPool:
    """`workers` spawned processes, each training one unit at a time with one BLAS thread."""

    def __init__(self, workers, datasets):
        check_script_guard()
        self.slots = workers
        self.where = f"{workers} local worker processes"
        self.datasets = datasets
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        # Workers are spawned lazily as units are submitted, so the variables stay set
        # for the pool's whole life, not just its creation.
        # Spawned workers inherit the environment before they import NumPy; setting it in
        # their initializer would be too late: unpickling its arguments imports NumPy.
        self._stack.enter_context(single_thread_blas())
        self.pool = cf.ProcessPoolExecutor(
            self.slots, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(self.datasets,),
        )
        return self

    def __exit__(self, *exc):
        self.pool.shutdown(wait=True, cancel_futures=True)
        self._stack.close()
        return False

    def submit(self, unit):
        try:
            return self.pool.submit(_run_in_worker, unit)
        except BrokenProcessPool as err:
            raise RunError(
                f"A worker process stopped abruptly ({err}); a trial may have run out of memory, "
                f"or a script started the search outside `{GUARD}` (each worker runs the "
                "script again). The results so far are in results.csv: run the same command "
                "again to resume, with fewer --workers if memory is short."
            ) from None

    def wait(self, futures, timeout):
        done, _ = cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return list(done)

    def result(self, future):
        return future.result()

    def cancel(self):
        """Drop queued units and end the running ones now (Ctrl-C)."""
        # ProcessPoolExecutor has no public way to stop a running task: kill its processes.
        processes = list((self.pool._processes or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()
        for process in processes:
            process.join(timeout=5)


# ---------------------------------------------------------------- Dask


class DaskExecutor:
    """Units as tasks on an existing Dask distributed cluster; results come back as bytes."""

    def __init__(self, address, datasets, timeout=CONNECT_TIMEOUT_S):
        self.address = address
        self.where = f"the Dask cluster at {address}"
        self.datasets = datasets
        self.timeout = timeout
        self.submitted = []

    def __enter__(self):
        self.client = connect(self.address, self.timeout)
        try:
            self.slots = max(1, sum(self.client.nthreads().values()))
            # One copy per worker, sent once; every task then refers to it by key.
            self.scattered = {
                key: self.client.scatter(dataset, broadcast=True, hash=False)
                for key, dataset in self.datasets.items()
            }
        except BaseException:
            self.client.close()
            raise
        return self

    def __exit__(self, *exc):
        self.client.close()
        return False

    def submit(self, unit):
        future = self.client.submit(
            run_unit, unit, self.scattered.get(unit.data_key), True,
            pure=False, key=f"nettrain-{Path(unit.run_dir).name}-{os.urandom(4).hex()}",
        )
        future.unit = unit
        self.submitted.append(future)
        return future

    def wait(self, futures, timeout):
        deadline = time.monotonic() + timeout
        while True:
            done = [f for f in futures if f.done()]
            if done or time.monotonic() >= deadline:
                return done
            time.sleep(0.05)

    def result(self, future):
        result = future.result()
        store_shipped(future.unit.run_dir, result.pop("files"), result.pop("shipped_from"))
        return result

    def cancel(self):
        # Dask cannot stop a task that has started; its result is simply never collected.
        pending = [f for f in self.submitted if not f.done()]
        with contextlib.suppress(Exception):
            self.client.cancel(pending, force=True)


def connect(address, timeout=CONNECT_TIMEOUT_S):
    """A distributed.Client for `address`, or a ConfigError within about `timeout` seconds."""
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError(
            f"--scheduler {address} needs Dask: install it with `pip install 'nettrain[dask]'`, "
            "or leave --scheduler out to run the trials on this machine."
        ) from None
    _check_reachable(address, timeout)
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise _unreachable(address, timeout, err) from None
    try:
        client.wait_for_workers(1, timeout=4 * timeout)
    except (OSError, TimeoutError):
        client.close()
        raise ConfigError(
            f"The Dask scheduler at {address} has no workers. Start some with "
            f"`dask worker {address}`, then run the search again."
        ) from None
    return client


def _check_reachable(address, timeout):
    # A plain TCP connect first: a dead address fails fast and leaves no half-made Client
    # behind, whose clean-up would otherwise stall the interpreter's exit.
    from distributed.comm import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme != "tcp":
            return
        host, port = parse_host_port(location)
        socket.create_connection((host, port), timeout=timeout).close()
    except (OSError, ValueError) as err:
        raise _unreachable(address, timeout, err) from None


def _unreachable(address, timeout, err):
    return ConfigError(
        f"Could not connect to the Dask scheduler at {address} ({_describe(err)}; waited at "
        f"most {timeout} s). Check the address (tcp://HOST:PORT, as `dask scheduler` prints it) "
        "and that the scheduler is running and reachable from this machine."
    )
