"""Launching a training run: resolve the config, pick or reopen the run directory, prepare the
data and train it (`Session`), as `nettrain fit`, the Python API and grid-search trials do."""

from pathlib import Path

import yaml

from nettrain.config.loading import Config, config_from_dict, load_config
from nettrain.config.locations import parse_yaml
from nettrain.errors import ConfigError, Interrupted, NettrainError
from nettrain.inference.run import Run
from nettrain.store import rundir

# Keys a resumed run may change: they do not alter the arithmetic of the epochs already run.
RESUMABLE_CHANGES = ("name", "output", "training.epochs", "training.diagnostics", "training.report",
                     "training.log", "search")


def train_run(config_or_path, *, overrides=(), out=None, init_from=None, resume=None, quiet=False,
        diagnose=False, console=None, callbacks=(), dataset=None, run_dir=None, **kwargs):
    """Train a model from a config into a new run directory (or continue one) and return its Run.

    Args:
        config_or_path: a YAML file, a config dict (paths relative to the working directory)
            or a Config; None with `resume` uses the run's own config.yaml.
        overrides: "KEY=VALUE" strings as `--set` takes them, or (key, value) pairs.
        out: the folder run directories go under (default: the config's `output`); the run
            is written to `out/NAME/YYYYmmdd-HHMMSS[-N]/`.
        init_from: a run directory or model.npz to start from (sets model.init_from).
        resume: a run directory to continue from its checkpoint.npz, in place.
        quiet: print nothing (unless a `console` is given: then only the run directory
            and the final metrics, as `nettrain fit --quiet` does).
        diagnose: record per-layer gradient health into diagnostics.csv and print it, as
            `training.diagnostics: true` does (bounds the config gives are kept).
        console: the rich Console to print on (default: stdout).
        callbacks: extra callback objects (see nettrain.training.callbacks for the hooks).
        dataset: a prepared `data.Dataset` for this config, to skip reading the data again.
        run_dir: write into exactly this directory instead of a new timestamped one under
            `out`; it must not exist yet or be empty.
        **kwargs: more overrides as keywords: `fit(cfg, seed=1, training={"epochs": 5})`;
            a double underscore is a dot (`optimizer__lr=0.01`).

    Raises:
        ConfigError, DataError: bad config or data (exit code 2), before any training.
        DivergenceError: a non-finite loss or gradient (1); the last good checkpoint is kept.
        Interrupted: SIGINT or SIGTERM (130), after the checkpoint and files are written;
            its `run` attribute is the Run.
    """
    from rich.console import Console

    from nettrain.data.dataset import prepare_data
    from nettrain.training.session import Session

    overrides = [*overrides, *keyword_overrides(kwargs)]
    if config_or_path is None:  # a resumed run holds its own config
        if resume is None:
            raise ConfigError("fit needs a config file, or --resume RUN to continue a run with "
                              "the config.yaml it holds.")
        config_or_path = rundir.existing_run_dir(resume) / rundir.CONFIG
    if init_from is not None:
        if resume is not None:
            raise ConfigError("--init-from and --resume cannot be used together: a resumed run "
                              "continues from the weights in its checkpoint.")
        overrides.append(("model.init_from", str(Path(init_from).resolve())))
    config = as_config(config_or_path, overrides)
    if diagnose and not config["training"]["diagnostics"]:
        config = as_config(config_or_path, [*overrides, ("training.diagnostics", True)])
    console = console or Console(quiet=quiet)
    state, lock = None, None
    try:
        if resume is not None:
            lock = rundir.lock_run_dir(rundir.existing_run_dir(resume))  # before touching a file
            if lock.stale_pid is not None and not quiet:
                console.print(f"Took over the lock of process {lock.stale_pid}, which is no "
                              "longer running.", markup=False, highlight=False)
            path, state = open_for_resume(resume, config)
        elif run_dir is None:
            output = output_dir(config, out)
            rundir.ensure_writable(output, "--out" if out is not None else "output")
            config = config.with_values({"output": str(output.resolve())})  # config.yaml records it
        else:
            rundir.ensure_writable(Path(run_dir).parent, "run_dir")
        dataset = dataset if dataset is not None else prepare_data(config)
        config = config.with_values(dataset.settled)  # as config.yaml records it
        session = Session(config, dataset, console=console, quiet=quiet, callbacks=callbacks,
                          resuming=state is not None)
        if state is not None:
            session.restore(path, *state)
        elif run_dir is not None:
            path = rundir.claim_run_dir(run_dir)
            lock = rundir.lock_run_dir(path)
        else:
            path = rundir.new_run_dir(output, config["name"])
            lock = rundir.lock_run_dir(path)
        run = Run(path, config)
        try:
            session.run(path)
        except Interrupted as err:
            err.run = run
            raise
        return run
    finally:
        if lock is not None:
            lock.release()


def output_dir(config, out=None):
    """Where run directories go: `out`, else the config's `output` (relative to the config
    file when the file sets it, to the working directory when it is the default `runs`)."""
    if out is not None:
        return Path(out)
    if config.sources.get("output") == "default":
        return Path(config["output"])
    return config.resolve_path(config["output"])


def keyword_overrides(kwargs):
    """(dotted key, value) pairs from keyword arguments; nested dicts become dotted paths."""
    pairs = []

    def walk(prefix, value):
        if isinstance(value, dict) and value:
            for key, item in value.items():
                walk(f"{prefix}.{key}", item)
        else:
            pairs.append((prefix, value))

    for key, value in kwargs.items():
        walk(key.replace("__", "."), value)
    return pairs


def as_config(config_or_path, overrides=()):
    """A Config from a path, a dict or a Config (overrides applied to it)."""
    if isinstance(config_or_path, Config):
        if not overrides:
            return config_or_path
        return config_from_dict(config_or_path.absolute_data(), config_or_path.base_dir, overrides)
    if isinstance(config_or_path, dict):
        return config_from_dict(config_or_path, ".", overrides)
    if isinstance(config_or_path, (str, Path)):
        return load_config(config_or_path, overrides)
    raise ConfigError(f"fit() takes a config file path, a dict or a Config. "
                      f"Got {type(config_or_path).__name__}.")


# ---------------------------------------------------------------- resume


def _flat(tree, prefix=""):
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat = {}
    for key, value in tree.items():
        flat.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def config_differences(saved, config):
    """Key paths whose values differ between a run's config.yaml and `config` (ignoring
    RESUMABLE_CHANGES), each as 'key: run has X, the config has Y'."""
    ours = _flat(yaml.safe_load(config.to_yaml()))
    theirs = _flat(saved)
    def allowed(key):
        return any(key == k or key.startswith(k + ".") for k in RESUMABLE_CHANGES)

    def added_since(key):
        # A key newer than the run's version, left at its default, changes nothing it trained.
        return key not in theirs and config.sources.get(key) == "default"

    keys = [k for k in dict.fromkeys([*theirs, *ours]) if not allowed(k) and not added_since(k)]
    missing = object()
    return [f"{k}: the run has {theirs.get(k, missing)!r}, the config has {ours.get(k, missing)!r}"
            .replace(repr(missing), "(absent)")
            for k in keys if theirs.get(k, missing) != ours.get(k, missing)]


def open_for_resume(run, config):
    """(run directory, (arrays, meta)) after checking the run can continue under `config`."""
    path = rundir.existing_run_dir(run)
    saved_file = path / rundir.CONFIG
    if not saved_file.exists():
        raise NettrainError(f"'{path}' has no {rundir.CONFIG}: it is not a nettrain run directory.")
    saved = parse_yaml(saved_file.read_text(encoding="utf-8"), str(saved_file))[0]  # plain YAML only
    differences = config_differences(saved, config)
    if differences:
        raise ConfigError(
            f"--resume {path}: the config differs from the one the run was trained with, so it "
            f"cannot continue it ({'; '.join(differences)}). Resume with the run's own config: "
            f"nettrain fit --resume {path} (only training.epochs may change: add "
            f"--set training.epochs=N)."
        )
    rundir.remove_stale_temps(path)
    arrays, meta = rundir.load_checkpoint(path / rundir.CHECKPOINT)
    epochs = config["training"]["epochs"]
    if meta.get("stopped") == "early_stopping":
        raise NettrainError(f"'{path}' stopped early at epoch {meta['epoch']}; there is nothing "
                            "to resume.")
    if meta["epoch"] >= epochs and "position" not in meta:
        raise NettrainError(
            f"'{path}' has already trained {meta['epoch']} epochs and training.epochs is {epochs}. "
            f"To train longer, raise it: --set training.epochs={meta['epoch'] + epochs}."
        )
    return path, (arrays, meta)
