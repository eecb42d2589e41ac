"""--refit: train a search's best trial on train+val and score it on test."""

import io
import shutil

from nettrain.config import loading as config_mod
from nettrain.search.executors import read_finished


def refit_config(trial):
    """The best trial's config for a refit: val merged into train, nothing left that needs val.

    With early stopping, the refit trains for the epoch whose weights the trial kept (the
    mean over repeats) instead; a plateau schedule watching a val metric watches its train
    counterpart.
    """
    data = trial.config.data
    overrides = []
    if data["data"]["val"] is not None:
        overrides.append(("data.val", None))  # the val file is appended to train (merge_val)
    elif data["data"]["split"] and data["data"]["split"]["val"]:
        split = data["data"]["split"]
        overrides += [("data.split.train", round(split["train"] + split["val"], 12)), ("data.split.val", 0.0)]
    if data["training"]["early_stopping"]:
        overrides.append(("training.early_stopping", None))
        kept = [res["metrics"].get("weights_epoch") for res in trial.results.values()]
        kept = [e for e in kept if e]
        if kept:
            overrides.append(("training.epochs", max(1, int(round(sum(kept) / len(kept))))))
    schedule = data["schedule"] or {}  # a monitor is a key of the plateau schedule only
    monitor = schedule["monitor"] if "monitor" in schedule else None
    if isinstance(monitor, str) and monitor.startswith("val_"):
        overrides.append(("schedule.monitor", monitor[4:]))
    # The refit is no trial: its config keeps no search section (whose metric needs val).
    data = {k: v for k, v in trial.config.absolute_data().items() if k != "search"}
    return config_mod.config_from_dict(data, trial.config.base_dir, overrides)


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

    from nettrain.inference.run import Run
    from nettrain.training.launch import train_run

    cfg = refit_config(trial)
    run_dir = folder / f"refit-{trial.id}"
    if read_finished(run_dir) is None or read_finished(run_dir)["status"] != "ok":
        shutil.rmtree(run_dir, ignore_errors=True)
        dataset = None
        if trial.config["data"]["val"] is not None:
            dataset = merge_val(datasets[trial.units[0].data_key])
        silent = Console(file=io.StringIO())
        train_run(cfg, dataset=dataset, run_dir=run_dir, quiet=True, console=silent)
    run = Run(run_dir)
    if not quiet:
        test = run.metrics.get("test")
        shown = ", ".join(f"test_{k} {v:.4g}" for k, v in test.items()) if test else "no test split"
        console.print(f"refit of {trial.id} on train+val: {run_dir}\n  {shown}", soft_wrap=True,
                      highlight=False)
    return run
