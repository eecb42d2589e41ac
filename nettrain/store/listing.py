"""The runs under a folder: each run directory's state, read without trusting its files.

A run directory is recognised by the files `fit` writes (config.yaml, history.csv,
checkpoint.npz, ...). Reading one never raises: a missing or unreadable file becomes a
problem on the record and the run's state says what that means:

- `finished`: metrics.json and model.npz are there (stopped_reason completed or early_stopping);
- `interrupted`: stopped by Ctrl-C or SIGTERM after saving (resumable);
- `running`: a live process holds the run's lock (RUN/.lock names its PID);
- `unfinished`: no metrics.json and no live writer: killed, or stopped by divergence;
- `damaged`: a file is corrupt or unreadable, or a finished run lacks model.npz.
"""

import json
import math
import os
import re
import zipfile
from datetime import datetime
from pathlib import Path

from nettrain.store import rundir

RUN_FILES = (rundir.CONFIG, rundir.HISTORY, rundir.METRICS_FILE, rundir.MODEL, rundir.CHECKPOINT,
             rundir.PREPROCESS)
RESULTS = "results.csv"  # a grid-search directory
CV_SCORES = "cv.csv"  # a cv directory: nettrain cv's, or a search trial's with search.folds
STAMP = re.compile(r"^(\d{8}-\d{6})(?:-(\d+))?$")
COLUMNS = ["name", "path", "started", "state", "epochs", "stopped_reason", "best_epoch",
           "monitor", "best_value"]


def is_run_dir(path):
    path = Path(path)
    return path.is_dir() and any((path / name).is_file() for name in RUN_FILES)


def is_search_dir(path):
    return (Path(path) / RESULTS).is_file()


def is_cv_dir(path):
    return (Path(path) / CV_SCORES).is_file()


class RunRecord:
    """What a run directory holds, read tolerantly.

    Attributes:
        path: the run directory.
        config: config.yaml as a dict (None when missing or unreadable).
        metrics: metrics.json as a dict (None when missing or unreadable).
        history: (header, rows of strings) of history.csv ([], [] when missing).
        problems: sentences, one per missing or unreadable file that matters.
        state: finished, interrupted, unfinished or damaged.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.problems = []
        self.damaged = False
        self.config = self._read_config()
        self.metrics = self._read_metrics()
        self.history = self._read_history()
        self.model_ok = self._check_npz(rundir.MODEL, "architecture")
        self.state = self._state()

    # ------------------------------------------------------------ reading

    def _problem(self, text, damaged=False):
        self.problems.append(text)
        self.damaged = self.damaged or damaged

    def _read_config(self):
        import yaml

        file = self.path / rundir.CONFIG
        if not file.is_file():
            self._problem(f"{rundir.CONFIG} is missing", damaged=True)
            return None
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("it is not a mapping of keys")
        except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as err:
            self._problem(f"{rundir.CONFIG} cannot be read ({_short(err)})", damaged=True)
            return None
        return data

    def _read_metrics(self):
        file = self.path / rundir.METRICS_FILE
        if not file.is_file():
            return None
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("it is not a JSON object")
        except (OSError, UnicodeDecodeError, ValueError) as err:
            self._problem(f"{rundir.METRICS_FILE} cannot be read ({_short(err)})", damaged=True)
            return None
        return data

    def _read_history(self):
        file = self.path / rundir.HISTORY
        if not file.is_file():
            return [], []
        try:
            header, rows = rundir.read_history(file)
        except (OSError, UnicodeDecodeError, ValueError) as err:
            self._problem(f"{rundir.HISTORY} cannot be read ({_short(err)})", damaged=True)
            return [], []
        return header, [r for r in rows if len(r) == len(header)]

    def _check_npz(self, name, key):
        """True when the npz opens and holds `key`; None when absent; False (a problem) else."""
        import numpy as np

        file = self.path / name
        if not file.is_file():
            return None
        try:
            with np.load(file, allow_pickle=False) as npz:
                if key not in npz.files:
                    raise ValueError(f"no '{key}' entry")
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            self._problem(f"{name} is corrupt ({_short(err)})", damaged=True)
            return False
        return True

    def _state(self):
        if self.metrics is not None:  # a finished run wrote all of these
            for name in (rundir.MODEL, rundir.PREPROCESS, rundir.HISTORY):
                if not (self.path / name).is_file():
                    self._problem(f"{name} is missing", damaged=True)
        if self.damaged:
            return "damaged"
        if self.writer() is not None:
            return "running"
        if self.metrics is None:
            self._problem(f"no {rundir.METRICS_FILE} (killed, or diverged)")
            return "unfinished"
        return "interrupted" if self.metrics.get("stopped_reason") == "interrupted" else "finished"

    def writer(self):
        """The PID of the live process writing into the run (from RUN/.lock), else None."""
        try:
            pid = int((self.path / rundir.LOCK).read_text(encoding="ascii").strip())
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        return pid if pid != os.getpid() and rundir.pid_alive(pid) else None

    # ------------------------------------------------------------ what it says

    @property
    def name(self):
        name = (self.config or {}).get("name")
        if isinstance(name, str) and name:
            return name
        return self.path.parent.name if STAMP.match(self.path.name) else self.path.name

    @property
    def started(self):
        """The run's start: its directory's time stamp, else its oldest file's time."""
        match = STAMP.match(self.path.name)
        if match:
            return datetime.strptime(match.group(1), "%Y%m%d-%H%M%S")
        times = [(self.path / n).stat().st_mtime for n in RUN_FILES if (self.path / n).is_file()]
        return datetime.fromtimestamp(min(times)).replace(microsecond=0) if times else None

    @property
    def epochs(self):
        if self.metrics and isinstance(self.metrics.get("epochs_run"), int):
            return self.metrics["epochs_run"]
        return len(self.history[1])

    def best(self):
        """(best epoch, monitor, best value): metrics.json's, else the history's lowest val_loss."""
        m = self.metrics or {}
        if "best_epoch" in m:
            return m.get("best_epoch"), m.get("monitor"), m.get("best_value")
        header, rows = self.history
        for monitor in ("val_loss", "train_loss"):
            if monitor in header:
                col = header.index(monitor)
                values = [(_float(r[col]), int(r[0])) for r in rows if _float(r[col]) is not None]
                if values:
                    value, epoch = min(values)
                    return epoch, monitor, value
        return None, None, None

    def row(self):
        """One row of the runs table, as a dict (test metrics as test_<name>)."""
        best_epoch, monitor, best_value = self.best()
        row = {"name": self.name, "path": str(self.path), "started": self.started,
               "state": self.state, "epochs": self.epochs,
               "stopped_reason": (self.metrics or {}).get("stopped_reason"),
               "best_epoch": best_epoch, "monitor": monitor, "best_value": best_value}
        test = (self.metrics or {}).get("test")
        if isinstance(test, dict):
            row.update({f"test_{k}": v for k, v in test.items() if isinstance(v, (int, float))})
        row["note"] = "; ".join(self.problems)
        return row


def _float(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _short(err):
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text if len(text) <= 120 else text[:117] + "..."


# ---------------------------------------------------------------- finding runs


def find_runs(folder):
    """Every run directory under `folder` (itself included), grid-search trials too."""
    folder = Path(folder)
    if is_run_dir(folder):
        return [folder]
    found = []
    for root, dirs, _ in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        keep = []
        for d in dirs:
            path = Path(root) / d
            (found.append(path) if is_run_dir(path) else keep.append(d))
        dirs[:] = keep
    return found


def _newest_first(record):
    match = STAMP.match(record.path.name)
    return (record.started or datetime.min, int(match.group(2) or 0) if match else 0,
            str(record.path))


def records(folder):
    """RunRecords of every run under `folder`, newest first."""
    return sorted((RunRecord(p) for p in find_runs(folder)), key=_newest_first, reverse=True)
