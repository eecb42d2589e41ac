"""The report of a grid-search directory: ranked trials, each trial's curve of the search
metric with where the pruned ones stopped, the best value by trial (the sampler's history),
parameter importances (from the Optuna study), each parameter against the search metric, the
trials' learning curves, and the best trial's full report."""

import math
from pathlib import Path

from nettrain.reporting.collect import Missing, RunData
from nettrain.reporting.compare import overlay
from nettrain.reporting.cv_page import cv_article
from nettrain.reporting.page import Raw, esc, image, note, number, section, table
from nettrain.reporting.run_page import guarded, run_article
from nettrain.store import rundir
from nettrain.store.listing import CV_SCORES, RESULTS, is_cv_dir, is_run_dir

CURVES = 8  # the best trials whose curves are overlaid
REFIT = "refit-"  # the folder prefix of a refit of the best trial
IMPORTANCE_TRIALS = 5  # finished trials a study needs before its parameter importances are shown
ENDED = (rundir.METRICS_FILE, CV_SCORES, "failed.json")  # the file a trial writes when it ends


class Search:
    """A grid-search directory: results.csv, its trial run directories, the search metric."""

    def __init__(self, path):
        self.path = Path(path)
        self.results = self._read()
        runs = [p for p in sorted(self.path.iterdir()) if is_run_dir(p) or is_cv_dir(p)]
        # --refit trains the best config into refit-ID: a run of the search, not a trial.
        self.refits = {p.name: p for p in runs if p.name.startswith(REFIT)}
        # A trial is a run directory, or a cv directory when search.folds scored it.
        self.trials = {p.name: p for p in runs if p.name not in self.refits}
        self.saved = self._saved_search()
        self._study = None
        val = [c for c in self.results.columns if c.startswith("val_")]
        # results.csv lists the search metric first of the metrics, in every version.
        self.metric = val[0] if val else None
        self.mode = self._mode()
        ids = list(self.results.columns).index("id") + 1 if "id" in self.results else 0
        end = list(self.results.columns).index(val[0]) if val else ids
        self.params = list(self.results.columns[ids:end])

    def _read(self):
        import pandas as pd

        try:
            return pd.read_csv(self.path / RESULTS, dtype={"id": str})
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise Missing(f"{RESULTS} cannot be read ({err}).") from None

    def _saved_search(self):
        """(name, search section) the first trial ran with, from its config.yaml (a cv trial's
        folds carry it); (None, {}) when unreadable."""
        if not self.trials:
            return None, {}
        first = next(iter(self.trials.values()))
        saved = RunData(first / "fold-1" if is_cv_dir(first) else first).config or {}
        return saved.get("name"), saved.get("search") or {}

    def _mode(self):
        """The search's mode: its trials' config says it (older searches' trial configs hold
        the default search section: then the metric's own direction)."""
        from nettrain.errors import ConfigError
        from nettrain.nn.metrics import metric_mode

        search = self.saved[1]
        named = search.get("metric")
        if named is not None and self.metric in (named, f"val_{named}") and search.get("mode"):
            return search["mode"]
        try:
            return metric_mode(self.metric) if self.metric else "min"
        except ConfigError:
            return "min"

    def ok(self):
        frame = self.results
        if "status" in frame:
            frame = frame[frame["status"] == "ok"]
        return frame[frame[self.metric].notna()] if self.metric else frame.iloc[:0]

    def cross_validated(self):
        """Whether the trials are cv directories (search.folds)."""
        return any(is_cv_dir(p) for p in self.trials.values())

    def curve(self, trial):
        """(steps, values) of the search metric for one trial: each epoch's from history.csv,
        or for a trial scored by cross-validation the mean over its first j folds at step j
        (what a pruner is told)."""
        import numpy as np
        import pandas as pd

        path = self.trials[trial]
        if is_cv_dir(path):
            scores = pd.read_csv(path / CV_SCORES, dtype={"fold": str})
            if self.metric not in scores:
                raise Missing(f"{CV_SCORES} of trial {trial} has no {self.metric} column.")
            folds = scores.loc[~scores["fold"].isin(["mean", "std"]), self.metric].to_numpy(dtype=float)
            steps = np.arange(1, len(folds) + 1)
            return steps, np.cumsum(folds) / steps
        history = RunData(path).history()
        if self.metric not in history:
            raise Missing(f"history.csv of trial {trial} has no {self.metric} column.")
        return history["epoch"].to_numpy(dtype=float), history[self.metric].to_numpy(dtype=float)

    def study(self):
        """(the search's Optuna study, None) or (None, why there is none)."""
        if self._study is None:
            self._study = self._load_study()
        return self._study

    def _load_study(self):
        name, search = self.saved
        url = search.get("storage")
        if url is None and (self.path / "search.db").is_file():
            url = f"sqlite:///{self.path / 'search.db'}"
        if url is None:
            return None, ("this search has no study: a grid or random search without a pruner "
                          "keeps its trials in their directories only")
        try:
            import optuna
        except ImportError:
            return None, "reading the study needs the `search` extra (pip install 'nettrain[search]')"
        from nettrain.search.study import open_storage

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            return optuna.load_study(study_name=name, storage=open_storage(optuna, url)), None
        except Exception as err:  # a missing study, an unreachable server, an old schema
            return None, f"the study {name!r} cannot be read from {url} ({type(err).__name__}: {err})"

    def order(self):
        """(trial ids in the order they ran, how that order is known): by the study's trial
        numbers, else by the time each trial's directory says it ended."""
        study, _ = self.study()
        listed = [str(i) for i in self.results["id"]]
        if study is not None:
            numbers = {}
            for frozen in study.get_trials(deepcopy=False):
                tid = frozen.user_attrs.get("trial_id")
                if tid in listed and "duplicate" not in frozen.user_attrs and "row" in frozen.user_attrs:
                    numbers.setdefault(tid, frozen.number)
            if len(numbers) == len(listed):
                return sorted(listed, key=numbers.get), "of the study's trial numbers"
        return sorted(listed, key=self._ended), "in which the trials ended"

    def _ended(self, trial):
        path = self.trials.get(trial)
        times = [(path / name).stat().st_mtime for name in ENDED
                 if path is not None and (path / name).is_file()]
        return min(times) if times else math.inf


def search_article(path, anchor):
    """(HTML, nav entries) of a grid-search directory."""
    try:
        search = Search(path)
    except Missing as err:
        return section(anchor, f"Grid search {Path(path).name}", note(str(err), bad=True)), []
    parts = [(f"{anchor}-trials", "Ranked trials", ranked),
             (f"{anchor}-metric", "The search metric of every trial", metric_by_trial),
             (f"{anchor}-history", "Best value by trial", history),
             (f"{anchor}-importances", "Parameter importances", parameter_importances),
             (f"{anchor}-params", "Parameters against the search metric", parameters),
             (f"{anchor}-curves", "Trial curves", trial_curves)]
    intro = (f'<p class="mono">{esc(search.path)}</p><p>{len(search.results)} trial(s) in '
             f"{RESULTS}; search metric {esc(search.metric)} ({esc(search.mode)}).</p>")
    intro += "".join(_refit_note(name, path) for name, path in search.refits.items())
    body = [section(anchor, f"Grid search {search.path.name}", intro + guarded(_gaps, search))]
    body += [section(a, t, guarded(draw, search), 3) for a, t, draw in parts]
    nav = [(a, t) for a, t, _ in parts]
    best = search.ok()
    if len(best) and str(best["id"].iloc[0]) in search.trials:
        trial = str(best["id"].iloc[0])
        path, title = search.trials[trial], f"Best trial {trial}"
        html, _ = (cv_article(path, f"{anchor}-best", level=3, title=title) if is_cv_dir(path)
                   else run_article(RunData(path), f"{anchor}-best", level=3, title=title))
        body.append(html)
        nav.append((f"{anchor}-best", f"Best trial {trial}"))
    return "".join(body), nav


def _refit_note(name, path):
    test = RunData(path).metrics.get("test") or {}
    scores = ", ".join(f"test_{k} {v:.4g}" for k, v in test.items() if isinstance(v, (int, float)))
    return (f"<p>{esc(name)}: the best trial refitted on train+val"
            f"{': ' + esc(scores) if scores else ' (unfinished)'}.</p>")


def _gaps(search):
    listed = {str(i) for i in search.results.get("id", [])}
    absent = sorted(listed - set(search.trials))
    unlisted = sorted(set(search.trials) - listed)
    out = ""
    if absent:
        out += note(f"Trial directories missing for: {', '.join(absent)}.")
    if unlisted:
        out += note(f"Trial directories not (yet) in {RESULTS}: {', '.join(unlisted)} "
                    "(the search is running, or was stopped before they finished).")
    return out


def ranked(search):
    frame = search.results
    best = 0 if len(search.ok()) and frame.index[0] == search.ok().index[0] else None
    rows = [[None if _empty(v) else v for v in row] for row in frame.itertuples(index=False)]
    return f'<div class="tall">{table(list(frame.columns), rows, best=best)}</div>'


def _empty(value):
    return isinstance(value, float) and value != value


def parameters(search):
    from nettrain.reporting.search_plots import parameters_vs_metric

    ok = search.ok()
    if not search.params:
        raise Missing(f"{RESULTS} names no searched parameter.")
    if not len(ok):
        raise Missing("No trial finished with a value of the search metric.")
    return image(parameters_vs_metric(ok, search.params, search.metric),
                 "parameters against the search metric")


def metric_by_trial(search):
    """Each trial's curve of the search metric, pruned trials marked where they stopped, and
    the table of the pruned trials."""
    from nettrain.reporting.search_plots import metric_curves

    if search.metric is None:
        raise Missing(f"{RESULTS} has no search metric column.")
    curves, missing = [], []
    for row in search.results.to_dict("records"):
        trial = str(row["id"])
        if row.get("status", "ok") not in ("ok", "pruned") or trial not in search.trials:
            continue
        try:
            steps, values = search.curve(trial)
        except Missing as err:
            missing.append(str(err))
            continue
        curves.append((trial, steps, values, row.get("status", "ok")))
    if not curves:
        raise Missing("No trial has a curve of the search metric yet.")
    ok = search.ok()
    best = str(ok["id"].iloc[0]) if len(ok) else None
    folds = search.cross_validated()
    steps = "folds" if folds else "epoch"
    when = ("after each fold: the mean over its folds so far" if folds
            else f"after each epoch ({rundir.HISTORY})")
    text = f"<p>{esc(search.metric)} of each trial {when}; the best trial in green.</p>"
    out = text + image(metric_curves(curves, search.metric, best, steps),
                       f"{search.metric} of every trial")
    return out + _pruned_table(search, curves, folds) + (note("; ".join(missing)) if missing else "")


def _pruned_table(search, curves, folds):
    pruned = [c for c in curves if c[3] == "pruned"]
    if not pruned:
        return f"<p>No trial was pruned: each of the {len(curves)} trained to its end.</p>"
    rows_by_id = {str(r["id"]): r for r in search.results.to_dict("records")}
    unit = "fold" if folds else "epoch"
    column = "folds" if folds else "epochs"
    rows = []
    for trial, steps, values, _ in pruned:
        row = rows_by_id[trial]
        stopped = row.get(column)  # older results.csv files have no epochs column
        stopped = int(steps[-1]) if stopped is None or stopped != stopped else int(stopped)
        rows.append([Raw(f"<code>{esc(trial)}</code>"), *[row[p] for p in search.params],
                     f"{unit} {stopped}", row[search.metric]])
    text = (f"<p>{len(pruned)} of {len(curves)} trials were pruned (an x on the curves): each stopped "
            f"after the {unit} below, its {esc(search.metric)} then as {RESULTS} has it.</p>")
    return text + table(["trial", *search.params, "stopped after", search.metric], rows)


def history(search):
    """The sampler's history: each trial's value in trial order and the best so far."""
    from nettrain.reporting.search_plots import best_by_trial

    if search.metric is None:
        raise Missing(f"{RESULTS} has no search metric column.")
    order, how = search.order()
    rows = {str(r["id"]): r for r in search.results.to_dict("records")}
    statuses = [rows[t].get("status", "ok") for t in order]
    values = [rows[t][search.metric] if s in ("ok", "pruned") else math.nan for t, s in zip(order, statuses)]
    finished = [(n, t, v) for n, (t, s, v) in enumerate(zip(order, statuses, values), start=1)
                if s == "ok" and not math.isnan(v)]
    if not finished:
        raise Missing("No trial finished with a value of the search metric.")
    pick = min if search.mode == "min" else max
    number_, trial, value = pick(finished, key=lambda f: f[2])
    text = (f"<p>Each trial's {esc(search.metric)} in the order {how}, and the best so far "
            f"({esc(search.mode)}) among the finished trials: {number(value)}, reached at trial "
            f"{number_} of {len(order)} (<code>{esc(trial)}</code>).</p>")
    return text + image(best_by_trial(range(1, len(order) + 1), values, statuses, search.metric, search.mode),
                        "best value by trial")


def parameter_importances(search):
    """fANOVA importances of the searched parameters (Optuna's get_param_importances)."""
    from nettrain.reporting.search_plots import importances

    study, why = search.study()
    if study is None:
        raise Missing(f"Parameter importances are drawn from the search's Optuna study, and {why}.")
    import optuna

    finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(finished) < IMPORTANCE_TRIALS:
        raise Missing(f"Parameter importances need at least {IMPORTANCE_TRIALS} finished (not pruned) "
                      f"trials in the study; it has {len(finished)}.")
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    values = optuna.importance.get_param_importances(study, evaluator=evaluator)
    names = list(values)
    text = (f"<p>How much of the variation of {esc(search.metric)} over the {len(finished)} finished "
            "trials each parameter explains: Optuna's <code>get_param_importances</code> (fANOVA, "
            "seed 0); they sum to 1.</p>")
    return (text + image(importances(names, [float(values[n]) for n in names]), "parameter importances")
            + table(["parameter", "importance"], [[Raw(f"<code>{esc(n)}</code>"), float(values[n])]
                                                  for n in names]))


def trial_curves(search):
    if search.cross_validated():
        raise Missing("Each trial is a cross-validation (search.folds): the best trial's folds are "
                      "drawn below, and `nettrain report` of a trial's directory draws its own.")
    ok = search.ok()
    ranks = ok["rank"] if "rank" in ok else range(1, len(ok) + 1)
    pairs = [(f"#{r} {i}", str(i)) for r, i in zip(ranks, ok["id"]) if str(i) in search.trials]
    if not pairs:
        raise Missing("No finished trial directory to draw curves from.")
    pairs = pairs[:CURVES]
    text = f"<p>The {len(pairs)} best trial(s), best first.</p>"
    return text + overlay([RunData(search.trials[i]) for _, i in pairs], [n for n, _ in pairs])
