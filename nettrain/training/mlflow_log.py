"""MLflow tracking: one MLflow run per nettrain run, trials of a grid search nested under one.

Where: `training.log.mlflow.tracking_uri`, else $MLFLOW_TRACKING_URI, else the SQLite file
mlflow.db in the config file's folder (artifacts in mlartifacts/ beside it), in the
experiment `training.log.mlflow.experiment` (default: the config's name). What: the resolved
config as params with dotted keys as `--set` names them (`optimizer.lr`), each history
column but `epoch` as a metric at step = the epoch number, and config.yaml, model.npz,
metrics.json (and report.html when one is written) as artifacts. The MLflow run carries the
run directory in the tag `nettrain.run_dir`: a resumed run continues its MLflow run, and a
grid search's run (tag `nettrain.search_dir`) is the parent of the runs in its folder.

A tracking server that is down, or any MLflow error, is one warning: the run goes on, and
everything stays in the run directory.
"""

import contextlib
import json
import logging
import os
import time
import urllib.request
import warnings
from pathlib import Path

from nettrain.config.trackers import logger_options
from nettrain.training.callbacks import Callback

RUN_DIR_TAG, SEARCH_DIR_TAG, PARENT_TAG = "nettrain.run_dir", "nettrain.search_dir", "mlflow.parentRunId"
ARTIFACTS = ("config.yaml", "model.npz", "metrics.json")
HEALTH_TIMEOUT_S = 3  # a server that does not answer /health within this is down
# MLflow retries a failed request for minutes by default; a run should not wait that long.
SHORT_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
QUIET_LOGGERS = ("alembic", "mlflow.store.db.utils")  # a new SQLite store's notes at INFO


def tracking_uri(options, config):
    """The configured URI, else $MLFLOW_TRACKING_URI, else mlflow.db beside the config file."""
    return (options["tracking_uri"] or os.environ.get("MLFLOW_TRACKING_URI")
            or f"sqlite:///{config.resolve_path('mlflow.db')}")


def local_artifacts(uri):
    """mlartifacts/ beside a SQLite store; None (the store's or server's choice) otherwise."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").resolve().as_uri()
    return None


def unreachable(uri):
    """Why a tracking server does not answer (a sentence), or None when it does or is local."""
    if not uri.startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=HEALTH_TIMEOUT_S):
            return None
    except OSError as err:
        return f"the server does not answer ({getattr(err, 'reason', err)})"


@contextlib.contextmanager
def quiet_mlflow():
    """While nettrain calls MLflow: its HTTP retries bounded (a user's own settings win), and
    the notes a new SQLite store logs and warns about kept out of the training output."""
    added = [key for key in SHORT_RETRIES if key not in os.environ]
    os.environ.update({key: SHORT_RETRIES[key] for key in added})
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        for key in added:
            os.environ.pop(key, None)
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def flat_params(tree, prefix=""):
    """The resolved config as (dotted key, text) pairs: mappings and lists of mappings are
    walked (`model.layers.0.units`); lists, null and booleans are written as JSON."""
    if isinstance(tree, dict) or (isinstance(tree, list) and any(isinstance(v, dict) for v in tree)):
        items = tree.items() if isinstance(tree, dict) else enumerate(tree)
        pairs = []
        for key, value in items:
            pairs += flat_params(value, f"{prefix}.{key}" if prefix else str(key))
        return pairs
    return [(prefix, json.dumps(tree) if isinstance(tree, (list, type(None), bool)) else str(tree))]


class Tracker:
    """An MLflow client for one nettrain run or search: every call guarded, so a failure is
    one warning and then silence."""

    def __init__(self, options, config, console):
        self.uri = tracking_uri(options, config)
        self.experiment = options["experiment"] or config["name"]
        self.console = console
        self.client, self.run_id, self.broken = None, None, False

    def call(self, what, *args):
        """`what(*args)` inside the guard; None after a failure."""
        if self.broken:
            return None
        try:
            with quiet_mlflow():
                return what(*args)
        except Exception as err:  # MLflow raises its own and requests' errors: none may stop a run
            self.broken = True
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            self.console.print(f"Warning: MLflow at {self.uri}: {reason}. Training goes on without "
                               "it; everything is still written to the run directory.",
                               markup=False, highlight=False, soft_wrap=True)
            return None

    def connect(self):
        """The client and the experiment's id (created when new)."""
        problem = unreachable(self.uri)
        if problem:
            raise ConnectionError(problem)
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(self.uri)
        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        return self.client.create_experiment(self.experiment, artifact_location=local_artifacts(self.uri))

    def find(self, experiment_id, tag, value):
        """The id of the newest run whose `tag` is `value`, or None."""
        quoted = value.replace("'", "\\'")
        runs = self.client.search_runs([experiment_id], filter_string=f"tags.`{tag}` = '{quoted}'",
                                       max_results=1, order_by=["attributes.start_time DESC"])
        return runs[0].info.run_id if runs else None

    def open(self, tag, path, params, resume):
        """Continue the run tagged `tag` = path (resume), or start a new one under its parent."""
        experiment_id = self.connect()
        existing = self.find(experiment_id, tag, str(path)) if resume else None
        if existing is not None:
            self.run_id = existing
            self.client.update_run(existing, status="RUNNING")
            return
        tags = {tag: str(path)}
        parent = self.find(experiment_id, SEARCH_DIR_TAG, str(path.parent))
        if parent is not None:
            tags[PARENT_TAG] = parent
        self.run_id = self.client.create_run(experiment_id, run_name=path.name, tags=tags).info.run_id
        from mlflow.entities import Param

        self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in params])

    def close(self, folder, files, status):
        for name in files:
            if (folder / name).is_file():
                self.client.log_artifact(self.run_id, str(folder / name))
        self.client.set_terminated(self.run_id, status)


class MLflowLogger(Callback):
    """Logs a nettrain run to MLflow: params at the start, metrics each epoch, artifacts at
    `finish`.

    Args:
        options: the resolved `training.log.mlflow` mapping. config: the resolved Config.
        path: the run directory. columns: the history columns. console: where a warning goes.
    """

    def __init__(self, options, config, path, columns, console):
        self.tracker = Tracker(options, config, console)
        self.config, self.path = config, Path(path).resolve()
        self.columns = [c for c in columns if c != "epoch"]

    def on_train_begin(self, trainer):
        import yaml

        params = flat_params(yaml.safe_load(self.config.to_yaml()))
        self.tracker.call(self.tracker.open, RUN_DIR_TAG, self.path, params, trainer.epoch > 0)

    def on_epoch_end(self, trainer, logs):
        if self.tracker.run_id is None:
            return
        from mlflow.entities import Metric

        now, epoch = int(time.time() * 1000), int(logs["epoch"])
        metrics = [Metric(key, float(logs[key]), now, epoch) for key in self.columns
                   if logs.get(key) is not None]
        self.tracker.call(self.tracker.client.log_batch, self.tracker.run_id, metrics)

    def finish(self, path, status):
        """After the run's files are written: upload them and end the MLflow run."""
        if self.tracker.run_id is not None:
            self.tracker.call(self.tracker.close, Path(path), ARTIFACTS, status)


def log_report(run_path, config, report, console):
    """Add a run's report.html to its MLflow run (written after the run ended)."""
    options = logger_options(config["training"]["log"]).get("mlflow")
    if options is None:
        return
    tracker = Tracker(options, config, console)

    def attach():
        experiment_id = tracker.connect()
        run_id = tracker.find(experiment_id, RUN_DIR_TAG, str(Path(run_path).resolve()))
        if run_id is not None:
            tracker.client.log_artifact(run_id, str(report))

    tracker.call(attach)


@contextlib.contextmanager
def search_run(config, folder, console, files=("results.csv", "best.yaml")):
    """The parent MLflow run of the runs in `folder`, a grid search's trials or cv's folds (the
    same one when a search resumes); `files` of the folder are its artifacts at the end."""
    options = logger_options(config["training"]["log"]).get("mlflow")
    if options is None:
        yield
        return
    import yaml

    tracker = Tracker(options, config, console)
    folder = Path(folder).resolve()
    params = flat_params(yaml.safe_load(config.to_yaml()))
    tracker.call(tracker.open, SEARCH_DIR_TAG, folder, params, True)
    status = "KILLED"
    try:
        yield
        status = "FINISHED"
    finally:
        if tracker.run_id is not None:
            tracker.call(tracker.close, folder, files, status)
