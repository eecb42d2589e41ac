"""grid-search results: one row per trial, ranked; results.csv and best.yaml, rewritten as trials finish."""

import json
import math

import yaml

RESULTS = "results.csv"
BEST = "best.yaml"


def trial_row(trial, metric, repeats):
    """One results row: the mean (and std over repeats, or over the folds of a trial scored by
    cross-validation) of each val metric, status, error."""
    import numpy as np

    results = [trial.results[r] for r in sorted(trial.results)]
    failed = [(r, res) for r, res in enumerate(results) if res["status"] not in ("ok", "pruned")]
    row = {"id": trial.id, "params": trial.params, "metrics": {}, "status": "ok", "error": "",
           "seconds": round(sum(res.get("seconds", 0.0) for res in results), 3)}
    if failed:
        r, res = failed[0]
        prefix = f"repeat {r} (seed {trial.config.data['seed'] + r}): " if repeats > 1 else ""
        row.update(status="failed", error=prefix + res["error"])
        return row
    vals = [res["metrics"].get("val", {}) for res in results]
    for name in vals[0]:
        series = np.array([float(v.get(name, math.nan)) for v in vals])
        row["metrics"][f"val_{name}"] = float(series.mean())
        if repeats > 1:
            row["metrics"][f"val_{name}_std"] = float(series.std(ddof=1))
        elif "val_std" in results[0]["metrics"]:  # search.folds: the spread over the folds
            row["metrics"][f"val_{name}_std"] = float(results[0]["metrics"]["val_std"][name])
    if metric not in row["metrics"]:
        row.update(status="failed", error=f"the run did not log {metric}")
    elif any(res["status"] == "pruned" for res in results):
        row["status"] = "pruned"
    row["epochs"] = sum(int(res["metrics"].get("epochs_run") or 0) for res in results)
    if "folds" in results[0]["metrics"]:
        row["folds"] = results[0]["metrics"]["folds"]
    return row


TIE_BREAK = "val_loss"  # lower is better: ranks trials that tie on the search metric


STATUS_ORDER = {"ok": 0, "pruned": 1}  # then failed


def rank(rows, metric, mode):
    """ok trials best first (NaN last), then pruned ones (by the value they stopped at), then
    failed ones; trials that tie on `metric` (four at val_accuracy 1.0 on a small val split)
    by the lower val_loss, then in trial order."""
    sign = 1 if mode == "min" else -1

    def score(row, name, sign):
        value = row["metrics"].get(name, math.nan) if row["status"] in STATUS_ORDER else math.nan
        return (math.isnan(value), sign * value if not math.isnan(value) else 0)

    def key(row):
        return (STATUS_ORDER.get(row["status"], 2), *score(row, metric, sign), *score(row, TIE_BREAK, 1))

    return sorted(rows, key=key)


def write_results(folder, rows, params, metric_names, counts=()):
    """results.csv, atomically: id, parameters, val metrics (mean, std), status, error, seconds,
    then each of `counts`: `epochs` (the epochs each trial trained: a pruning search's cost),
    `folds` (the folds a cross-validated trial trained)."""
    from nettrain.store.rundir import write_csv

    header = ["rank", "id", *params, *metric_names, "status", "error", "seconds", *counts]
    lines = []
    for i, row in enumerate(rows, start=1):
        values = [_csv_value(row["params"][p]) for p in params]
        scores = [row["metrics"].get(m, "") for m in metric_names]
        lines.append([i, row["id"], *values, *scores, row["status"], row["error"], row["seconds"],
                      *(row.get(name, "") for name in counts)])
    write_csv(folder / RESULTS, header, lines)


def _csv_value(value):
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def write_best(folder, trial):
    """best.yaml: the best trial's full resolved config, file paths absolute, for `nettrain fit`."""
    from nettrain.store.rundir import write_text

    data = trial.config.absolute_data()
    data.pop("search", None)
    header = f"# best trial {trial.id} of this grid-search; train it with `nettrain fit best.yaml`\n"
    write_text(folder / BEST, header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None))
    return folder / BEST


def metric_names(rows, metric, with_std):
    """The metric columns: the search metric first, then each one the rows have, each with
    its `_std` column after it when `with_std` (repeats, or folds)."""
    names = [metric]
    for row in rows:
        names += [m for m in row["metrics"] if not m.endswith("_std") and m not in names]
    if with_std:
        names = [n for m in names for n in (m, f"{m}_std")]
    return names


class Book:
    """Keeps rows as trials finish and writes results.csv and best.yaml after each one."""

    def __init__(self, folder, trials, spec, metric, mode, epochs=False):
        self.folder, self.trials, self.spec = folder, trials, spec
        self.metric, self.mode = metric, mode
        # The counts columns of results.csv: epochs trained (a study's search), folds trained.
        self.counts = ["epochs"] * epochs + ["folds"] * bool(spec.folds)
        self.params = list(spec.space)
        self.rows = {}

    def add(self, trial):
        self.rows[trial.id] = trial_row(trial, self.metric, self.spec.repeats)
        return self.rows[trial.id]

    def ranked(self):
        return rank(list(self.rows.values()), self.metric, self.mode)

    def best(self):
        ranked = self.ranked()
        return ranked[0] if ranked and ranked[0]["status"] == "ok" else None

    def save(self):
        ranked = self.ranked()
        spread = self.spec.repeats > 1 or bool(self.spec.folds)
        write_results(self.folder, ranked, self.params, metric_names(ranked, self.metric, spread),
                      self.counts)
        best = self.best()
        if best is not None:
            write_best(self.folder, next(t for t in self.trials if t.id == best["id"]))


