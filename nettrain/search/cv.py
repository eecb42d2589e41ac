"""nettrain cv: k-fold cross-validation of a config into OUTPUT/NAME-cv/TIMESTAMP/.

The rows of data.path are dealt to k folds (`folds`: stratified for classification, grouped
by data.group, chronological for a window series, else shuffled). Fold k holds out its rows as
the test split and splits the others train:val in data.split's ratio; those three parts are
written as files beside the runs (data/fold-k-train.csv, ...) and fold-k/ is an ordinary run
of the config on them, so its config.yaml trains it again. cv.csv has each fold's scores and
their mean and std; oof.csv each held-out row's prediction by the fold that did not train on it.
"""

import io
from dataclasses import dataclass, field
from pathlib import Path

from nettrain.config import loading as config_mod
from nettrain.data.kinds import data_kind_class
from nettrain.errors import Interrupted

CV_CSV = "cv.csv"
OOF_CSV = "oof.csv"
DATA_DIR = "data"
SPLIT_FILES = ("train", "val", "test")


@dataclass
class CVResult:
    """What `cross_validate` returns.

    Attributes:
        path: the cv directory (fold-1/ ... fold-K/, data/, cv.csv, oof.csv).
        scores: cv.csv as a DataFrame: one row per fold, then `mean` and `std`.
        oof: oof.csv as a DataFrame: each held-out row's out-of-fold prediction.
        runs: the folds' `Run`s, fold 1 first.
    """

    path: Path
    scores: object
    oof: object
    runs: list = field(default_factory=list)

    def mean(self, column):
        """The mean over the folds of a cv.csv column, e.g. "test_accuracy"."""
        return float(self.scores.set_index("fold").loc["mean", column])


@dataclass
class Fold:
    """One fold: its number (1-based) and row positions of data.path per split."""

    number: int
    rows: dict


# ---------------------------------------------------------------- the table and its folds


def plan_folds(kind, cfg, frame, k, task):
    """The k folds of `frame`'s rows (positions in data.path), as the data's kind deals them."""
    return [Fold(i + 1, rows)
            for i, rows in enumerate(kind.fold_rows(cfg["data"], frame, k, task, cfg["seed"]))]


# ---------------------------------------------------------------- running the folds


def fold_config(raw, base_dir, overrides, files, search=None):
    """The config of one fold: the user's, on the fold's files instead of data.path and its
    split; without the search section (a fold of `nettrain cv` is no search trial), or with
    `search`, the section of the search whose trial the folds score (its metric and study)."""
    raw = {k: v for k, v in raw.items() if k != "search"}
    data_keys = [("data.path", None), ("data.split", None)]
    data_keys += [(f"data.{split}", str(path)) for split, path in files.items()]
    cfg = config_mod.config_from_dict(raw, base_dir, [*overrides, *data_keys])
    return cfg if search is None else cfg.with_values({"search": search})


def cv_folder(cfg, out):
    """OUTPUT/NAME-cv/TIMESTAMP[-N], OUTPUT as `fit` finds it."""
    from nettrain.store.rundir import ensure_writable, new_run_dir
    from nettrain.training.launch import output_dir

    output = output_dir(cfg, out)
    ensure_writable(output, "--out" if out is not None else "output")
    return new_run_dir(output, f"{cfg['name']}-cv").resolve()


def score_row(fold, metrics):
    """One cv.csv row: each split's loss and metrics, split-prefixed, as metrics.json has them."""
    row = {"fold": fold}
    for split in SPLIT_FILES:
        for name, value in (metrics.get(split) or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row[f"{split}_{name}"] = value
    return row


def summarize(rows):
    """cv.csv: the folds' rows, then `mean` and `std` (the sample std, ddof 1) of each column."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    values = frame.drop(columns="fold")
    summary = pd.DataFrame([{"fold": "mean", **values.mean().to_dict()},
                            {"fold": "std", **values.std(ddof=1).to_dict()}])
    return pd.concat([frame.astype({"fold": object}), summary], ignore_index=True)


def out_of_fold(run, fold, frame, rows, test_file, cfg, task):
    """The held-out rows' predictions by `run`: row (of data.path), fold, true_<target>,
    predicted_<target> and, for classification, the probabilities as predict --proba names them."""
    import numpy as np

    from nettrain.inference.loading import load

    loaded = load(run.path)
    predicted = loaded.predict(test_file, proba=task == "classification")
    predicted, rows = loaded.preprocessor.held_out_predictions(predicted, rows)
    targets = loaded.target_names
    out = {"row": rows, "fold": np.full(len(rows), fold)}
    for name in targets:
        out[f"true_{name}"] = frame[name].to_numpy()[rows]
    import pandas as pd

    return pd.concat([pd.DataFrame(out), predicted.reset_index(drop=True)], axis=1)


class Prepared:
    """A config's data made ready for its folds: its kind, the source table, the task and the
    k folds' plan."""

    def __init__(self, cfg, k):
        from nettrain.data.dataset import prepare_data

        self.kind = data_kind_class(cfg["data"])
        self.frame = self.kind.read_for_folds(cfg)
        self.task = prepare_data(cfg).task  # checks the config against its data before any fold
        self.plan = plan_folds(self.kind, cfg, self.frame, k, self.task)


def run_folds(cfg, raw, base_dir, overrides, folder, prepared, after_fold=None, search=None):
    """Train one run per fold into folder/fold-k/, then write cv.csv and oof.csv there.

    `prepared` is the config's `Prepared` data. `after_fold(fold, rows)` is called after each
    fold with cv.csv's rows so far; when it returns True, no further fold trains and cv.csv and
    oof.csv hold the folds that did. `search`: the search section of the trial they score.
    Returns the CVResult.
    """
    import pandas as pd
    from rich.console import Console

    from nettrain.store.rundir import write_csv
    from nettrain.training.launch import train_run

    kind, frame, plan = prepared.kind, prepared.frame, prepared.plan
    source = cfg.resolve_path(cfg["data"]["path"])
    (folder / DATA_DIR).mkdir(parents=True, exist_ok=True)
    suffix = "".join(source.suffixes[-2:]) if source.name.lower().endswith(".gz") else source.suffix
    runs, scores, oof = [], [], []
    for fold in plan:
        files = {}
        for split, rows in fold.rows.items():
            files[split] = folder / DATA_DIR / f"fold-{fold.number}-{split}{suffix}"
            kind.write_fold_file(frame.iloc[rows], files[split], cfg["data"], source)
        fold_cfg = fold_config(raw, base_dir, overrides, files, search)
        silent = Console(file=io.StringIO())
        try:
            run = train_run(fold_cfg, run_dir=folder / f"fold-{fold.number}", quiet=True, console=silent)
        except Interrupted:
            raise Interrupted(f"cv stopped in fold {fold.number} of {len(plan)}; {folder} keeps the "
                              "folds that finished. Run the same command again to start a new cv.") from None
        runs.append(run)
        scores.append(score_row(fold.number, run.metrics))
        oof.append(out_of_fold(run, fold.number, frame, fold.rows["test"], files["test"], cfg,
                               prepared.task))
        if after_fold is not None and after_fold(fold.number, scores):
            break
    table = summarize(scores)
    write_csv(folder / CV_CSV, list(table.columns), table.itertuples(index=False))
    oof_frame = pd.concat(oof, ignore_index=True).sort_values("row", kind="stable").reset_index(drop=True)
    write_csv(folder / OOF_CSV, list(oof_frame.columns), oof_frame.itertuples(index=False))
    return CVResult(folder, pd.read_csv(folder / CV_CSV), pd.read_csv(folder / OOF_CSV), runs)


def cross_validate(config_or_path, *, folds=None, overrides=(), out=None, quiet=False, console=None):
    """k-fold cross-validation of a config; see CVResult and the module's docstring.

    Args:
        config_or_path: a config file, a config dict or a `Config`.
        folds: k (default: the config's search.folds, else 5).
        overrides: `--set` style 'KEY=VALUE' strings (or pairs) for every fold.
        out: the folder the cv directory goes under (default: the config's `output`).
    """
    from rich.console import Console

    from nettrain.search.base_config import load_base
    from nettrain.training.mlflow_log import search_run

    console = console or Console()
    cfg, raw, base_dir = load_base(config_or_path, overrides)
    k = folds if folds is not None else (cfg["search"]["folds"] or 5)
    prepared = Prepared(cfg, k)
    folder = cv_folder(cfg, out)
    if not quiet:
        how = prepared.kind.fold_style(cfg["data"], prepared.task)
        console.print(f"cv: {k} folds of {len(prepared.frame)} rows ({how}), into {folder}",
                      soft_wrap=True, highlight=False)

    def show(fold, rows):
        if not quiet:
            shown = ", ".join(f"{name} {value:.4g}" for name, value in rows[-1].items()
                              if name.startswith(("val_", "test_")))
            console.print(f"[{fold}/{k}] fold-{fold}: {shown}", soft_wrap=True, highlight=False)

    # the folds' parent MLflow run, with training.log: [mlflow]
    with search_run(cfg, folder, console, files=(CV_CSV, OOF_CSV)):
        result = run_folds(cfg, raw, base_dir, overrides, folder, prepared, after_fold=show)
    if not quiet:
        _print_summary(console, result)
    return result


def _print_summary(console, result):
    scores = result.scores.set_index("fold")
    shown = [c for c in scores.columns if c.startswith(("val_", "test_"))]
    lines = [f"  {name}: {scores.loc['mean', name]:.4g} ± {scores.loc['std', name]:.2g}" for name in shown]
    console.print("\n".join([f"{CV_CSV} (mean ± std over {len(result.runs)} folds):", *lines,
                             f"{result.path / CV_CSV}", f"{result.path / OOF_CSV}"]),
                  soft_wrap=True, highlight=False)


# ---------------------------------------------------------------- a search trial scored by its folds


def score_trial(cfg, folder, k, after_fold=None):
    """Cross-validate a search trial's config into its run directory `folder` (fold-1/ ...
    fold-K/, data/, cv.csv, oof.csv, as `nettrain cv` writes them) and return its scores as
    `trial_scores` reads them back. `after_fold` is `run_folds`'s: a pruner's verdict."""
    prepared = Prepared(cfg, k)
    run_folds(cfg, cfg.absolute_data(), cfg.base_dir, (), Path(folder), prepared, after_fold, cfg["search"])
    return trial_scores(folder, k)


def trial_scores(folder, k):
    """What a search reads of a trial scored by k-fold cross-validation, shaped as it reads a
    run's metrics.json: `val` (each val metric's mean over the folds), `val_std` (their sample
    std), `folds` (how many trained), `epochs_run` (in all), `weights_epoch` (the folds' mean),
    `stopped_reason` (`pruned` when fewer than k folds trained). None without a cv.csv: the
    trial did not finish."""
    import json

    import pandas as pd

    from nettrain.store.rundir import METRICS_FILE

    folder = Path(folder)
    try:
        table = pd.read_csv(folder / CV_CSV, dtype={"fold": str}).set_index("fold")
        runs = [json.loads((folder / f"fold-{n}" / METRICS_FILE).read_text(encoding="utf-8"))
                for n in range(1, len(table) - 1)]
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    val = [c for c in table.columns if c.startswith("val_")]
    kept = [run["weights_epoch"] for run in runs if run.get("weights_epoch")]
    return {"val": {c[4:]: float(table.loc["mean", c]) for c in val},
            "val_std": {c[4:]: float(table.loc["std", c]) for c in val},
            "folds": len(runs), "epochs_run": sum(int(run.get("epochs_run") or 0) for run in runs),
            "weights_epoch": sum(kept) / len(kept) if kept else None,
            "stopped_reason": "pruned" if len(runs) < k else "completed"}
