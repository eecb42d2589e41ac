"""The report of a grid-search directory: ranked trials, each parameter against the search
metric, the trials' curves, and the best trial's full report."""

from pathlib import Path

from nettrain.reporting.collect import Missing, RunData
from nettrain.reporting.compare import overlay
from nettrain.reporting.page import esc, image, note, section, table
from nettrain.reporting.run_page import guarded, run_article
from nettrain.store.listing import RESULTS, is_run_dir

CURVES = 8  # the best trials whose curves are overlaid
REFIT = "refit-"  # the folder prefix of a refit of the best trial


class Search:
    """A grid-search directory: results.csv, its trial run directories, the search metric."""

    def __init__(self, path):
        self.path = Path(path)
        self.results = self._read()
        runs = [p for p in sorted(self.path.iterdir()) if is_run_dir(p)]
        # --refit trains the best config into refit-ID: a run of the search, not a trial.
        self.refits = {p.name: p for p in runs if p.name.startswith(REFIT)}
        self.trials = {p.name: p for p in runs if p.name not in self.refits}
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

    def _mode(self):
        """The search's mode: its trials' config says it (older searches' trial configs hold
        the default search section: then the metric's own direction)."""
        from nettrain.errors import ConfigError
        from nettrain.nn.metrics import metric_mode

        first = RunData(next(iter(self.trials.values()))) if self.trials else None
        search = ((first.config if first else {}) or {}).get("search") or {}
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


def search_article(path, anchor):
    """(HTML, nav entries) of a grid-search directory."""
    try:
        search = Search(path)
    except Missing as err:
        return section(anchor, f"Grid search {Path(path).name}", note(str(err), bad=True)), []
    parts = [(f"{anchor}-trials", "Ranked trials", ranked),
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
        html, _ = run_article(RunData(search.trials[trial]), f"{anchor}-best", level=3,
                              title=f"Best trial {trial}")
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


def trial_curves(search):
    ok = search.ok()
    ranks = ok["rank"] if "rank" in ok else range(1, len(ok) + 1)
    pairs = [(f"#{r} {i}", str(i)) for r, i in zip(ranks, ok["id"]) if str(i) in search.trials]
    if not pairs:
        raise Missing("No finished trial directory to draw curves from.")
    pairs = pairs[:CURVES]
    text = f"<p>The {len(pairs)} best trial(s), best first.</p>"
    return text + overlay([RunData(search.trials[i]) for _, i in pairs], [n for n, _ in pairs])
