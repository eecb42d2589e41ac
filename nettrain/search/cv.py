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
from nettrain.errors import ConfigError, DataError, Interrupted
from nettrain.search import folds as fold_maker

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


def _sep(data, path):
    if data["sep"] is not None:
        return data["sep"]
    name = path.name.lower().removesuffix(".gz")
    return "\t" if name.endswith((".tsv", ".tab")) else ","


def read_source(cfg):
    """data.path as a DataFrame of the file's own text (parquet: its own types), to write
    back unchanged into the fold files."""
    import pandas as pd

    data = cfg["data"]
    if data["path"] is None or data["images"] is not None:
        raise ConfigError("cross-validation deals the rows of one table into folds: give data.path "
                          "(a .csv, .tsv or .parquet file), not data.train/val/test files or "
                          "data.images.")
    path = cfg.resolve_path(data["path"])
    suffix = path.name.lower()
    if suffix.endswith(".npz"):
        raise ConfigError(f"data.path: cross-validation reads a table (.csv, .tsv, .parquet); "
                          f"{path.name} is an .npz file. Save X and y as a table to cross-validate.")
    try:
        if suffix.endswith(".parquet"):
            return pd.read_parquet(path)
        return pd.read_csv(path, sep=_sep(data, path), encoding=data["encoding"], dtype=str,
                           keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise DataError(f"data.path: cannot read {path} ({err}).") from None


def write_part(frame, path, data, like):
    """Rows of the source table as a file of the same format as `like` (data.path)."""
    if like.name.lower().endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, sep=_sep(data, like), encoding=data["encoding"], index=False)


def time_order(frame, order_by):
    """Row positions in time order: by data.window.order_by (numbers as numbers), or as is."""
    import numpy as np
    import pandas as pd

    if order_by is None:
        return np.arange(len(frame))
    if order_by not in frame.columns:
        raise DataError(f"data.window.order_by: column {order_by!r} not found in data.path.")
    values = frame[order_by]
    numbers = pd.to_numeric(values, errors="coerce")
    key = numbers if numbers.notna().all() else values.astype(str)
    return np.asarray(key.reset_index(drop=True).sort_values(kind="stable").index, dtype=np.int64)


def plan_folds(cfg, frame, k, task):
    """The k folds of `frame`'s rows (positions in data.path), each {train, val, test}."""
    import numpy as np

    data, seed = cfg["data"], cfg["seed"]
    fractions = data["split"]
    group = data["group"]
    if group is not None and group not in frame.columns:
        from nettrain.registry import suggest

        hint = suggest(group, list(frame.columns))
        raise DataError(f"data.group: column {group!r} not found in data.path.{hint}")
    if data["window"]:
        order = time_order(frame, data["window"]["order_by"])
        plan = [Fold(i + 1, {**fold_maker.train_val(order[before], fractions, seed, in_order=True),
                             "test": order[held]})
                for i, (held, before) in enumerate(fold_maker.chronological(len(frame), k))]
        _check_blocks(plan, data["window"], k)
        return plan
    groups = frame[group].astype(str).to_numpy() if group is not None else None
    target = data["target"]
    labels = None
    if task == "classification" and groups is None:
        labels = frame[target if isinstance(target, str) else target[0]].astype(str).to_numpy()
        held_out = fold_maker.stratified(labels, k, seed)
    elif groups is not None:
        held_out = fold_maker.grouped(groups, k)
    else:
        held_out = fold_maker.kfold(len(frame), k, seed)
    strata = None
    if labels is not None and fractions["stratify"]:
        strata = np.unique(labels, return_inverse=True)[1]
    everything = np.arange(len(frame))
    return [Fold(i + 1, {**fold_maker.train_val(np.setdiff1d(everything, held), fractions, seed + i,
                                                strata=strata, groups=groups),
                         "test": held})
            for i, held in enumerate(held_out)]


def _check_blocks(plan, window, k):
    """Each block of a series needs one window and its target: size + horizon rows."""
    need = window["size"] + window["horizon"]
    for fold in plan:
        for split, rows in fold.rows.items():
            if len(rows) < need:
                raise DataError(
                    f"cv --folds {k}: the {split} block of fold {fold.number} has {len(rows)} rows, "
                    f"fewer than the {need} that one window and its target need (data.window.size "
                    f"{window['size']} + horizon {window['horizon']}). A series of n rows is cut "
                    f"into k + 1 blocks and fold 1 trains on the first: use fewer folds or a "
                    "smaller data.window.size.")


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
    window = cfg["data"]["window"]
    if window:
        # A series: one prediction per complete window, for the row `horizon` after its end;
        # the first rows of the block have no window, the last windows no target in the block.
        at = predicted.pop("window_end").to_numpy() + window["horizon"]
        keep = at < len(rows)
        predicted = predicted.loc[keep].reset_index(drop=True)
        if window["order_by"] is not None and window["order_by"] in predicted.columns:
            predicted = predicted.drop(columns=window["order_by"])
        rows = rows[at[keep]]
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

    console = console or Console()
    cfg, raw, base_dir = load_base(config_or_path, overrides)
    k = folds if folds is not None else (cfg["search"]["folds"] or 5)
    frame = read_source(cfg)
    task = prepare_data(cfg).task  # checks the config against its data before any fold
    plan = plan_folds(cfg, frame, k, task)
    folder = cv_folder(cfg, out)
    source = cfg.resolve_path(cfg["data"]["path"])
    (folder / DATA_DIR).mkdir()
    suffix = "".join(source.suffixes[-2:]) if source.name.lower().endswith(".gz") else source.suffix
    if not quiet:
        console.print(f"cv: {k} folds of {len(frame)} rows ({_how(cfg, task)}), into {folder}",
                      soft_wrap=True, highlight=False)
    runs, scores, oof = [], [], []
    for fold in plan:
        files = {}
        for split, rows in fold.rows.items():
            files[split] = folder / DATA_DIR / f"fold-{fold.number}-{split}{suffix}"
            write_part(frame.iloc[rows], files[split], cfg["data"], source)
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


def _how(cfg, task):
    if cfg["data"]["window"]:
        return "chronological"
    if cfg["data"]["group"] is not None:
        return f"grouped by {cfg['data']['group']}"
    return "stratified" if task == "classification" else "shuffled"


def _print_summary(console, result):
    scores = result.scores.set_index("fold")
    shown = [c for c in scores.columns if c.startswith(("val_", "test_"))]
    lines = [f"  {name}: {scores.loc['mean', name]:.4g} ± {scores.loc['std', name]:.2g}" for name in shown]
    console.print("\n".join([f"{CV_CSV} (mean ± std over {len(result.runs)} folds):", *lines,
                             f"{result.path / CV_CSV}", f"{result.path / OOF_CSV}"]),
                  soft_wrap=True, highlight=False)
