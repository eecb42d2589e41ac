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


def fold_config(raw, base_dir, overrides, files):
    """The config of one fold: the user's, on the fold's files instead of data.path and its
    split; without the search section (a fold is no search trial)."""
    raw = {k: v for k, v in raw.items() if k != "search"}
    data_keys = [("data.path", None), ("data.split", None)]
    data_keys += [(f"data.{split}", str(path)) for split, path in files.items()]
    return config_mod.config_from_dict(raw, base_dir, [*overrides, *data_keys])


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


def cross_validate(config_or_path, *, folds=None, overrides=(), out=None, quiet=False, console=None):
    """k-fold cross-validation of a config; see CVResult and the module's docstring.

    Args:
        config_or_path: a config file, a config dict or a `Config`.
        folds: k (default: the config's search.folds, else 5).
        overrides: `--set` style 'KEY=VALUE' strings (or pairs) for every fold.
        out: the folder the cv directory goes under (default: the config's `output`).
    """
    import pandas as pd
    from rich.console import Console

    from nettrain.data.dataset import prepare_data
    from nettrain.search.grid import load_base
    from nettrain.store.rundir import write_csv
    from nettrain.training.launch import train_run
    from nettrain.training.mlflow_log import search_run

    console = console or Console()
    cfg, raw, base_dir = load_base(config_or_path, overrides)
    k = folds if folds is not None else (cfg["search"]["folds"] or 5)
    kind = data_kind_class(cfg["data"])
    frame = kind.read_for_folds(cfg)
    task = prepare_data(cfg).task  # checks the config against its data before any fold
    plan = plan_folds(kind, cfg, frame, k, task)
    folder = cv_folder(cfg, out)
    source = cfg.resolve_path(cfg["data"]["path"])
    (folder / DATA_DIR).mkdir()
    suffix = "".join(source.suffixes[-2:]) if source.name.lower().endswith(".gz") else source.suffix
    if not quiet:
        how = kind.fold_style(cfg["data"], task)
        console.print(f"cv: {k} folds of {len(frame)} rows ({how}), into {folder}",
                      soft_wrap=True, highlight=False)
    # the folds' parent MLflow run, with training.log: [mlflow]
    with search_run(cfg, folder, console, files=(CV_CSV, OOF_CSV)):
        runs, scores, oof = [], [], []
        for fold in plan:
            files = {}
            for split, rows in fold.rows.items():
                files[split] = folder / DATA_DIR / f"fold-{fold.number}-{split}{suffix}"
                kind.write_fold_file(frame.iloc[rows], files[split], cfg["data"], source)
            fold_cfg = fold_config(raw, base_dir, overrides, files)
            silent = Console(file=io.StringIO())
            try:
                run = train_run(fold_cfg, run_dir=folder / f"fold-{fold.number}", quiet=True, console=silent)
            except Interrupted:
                raise Interrupted(f"cv stopped in fold {fold.number} of {k}; {folder} keeps the folds "
                                  "that finished. Run the same command again to start a new cv.") from None
            runs.append(run)
            scores.append(score_row(fold.number, run.metrics))
            oof.append(out_of_fold(run, fold.number, frame, fold.rows["test"], files["test"], cfg, task))
            if not quiet:
                shown = ", ".join(f"{name} {value:.4g}" for name, value in scores[-1].items()
                                  if name.startswith(("val_", "test_")))
                console.print(f"[{fold.number}/{k}] fold-{fold.number}: {shown}", soft_wrap=True,
                              highlight=False)
        table = summarize(scores)
        write_csv(folder / CV_CSV, list(table.columns), table.itertuples(index=False))
        oof_frame = pd.concat(oof, ignore_index=True).sort_values("row", kind="stable").reset_index(drop=True)
        write_csv(folder / OOF_CSV, list(oof_frame.columns), oof_frame.itertuples(index=False))
        result = CVResult(folder, pd.read_csv(folder / CV_CSV), pd.read_csv(folder / OOF_CSV), runs)
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
