"""`nettrain report`: one self-contained HTML page of plots and tables for runs and searches.

The page needs nothing but itself: figures are PNG images inline as data: URIs, the style
is inline, there is no script and no external URL, so it opens offline in any browser.
"""

from datetime import datetime
from pathlib import Path

from nettrain.errors import DataError, NettrainError
from nettrain.reporting.collect import RunData
from nettrain.reporting.compare import comparison_table, labels, overlay
from nettrain.reporting.cv_page import cv_article
from nettrain.reporting.page import document, esc, section
from nettrain.reporting.run_page import guarded, run_article
from nettrain.reporting.search_page import search_article
from nettrain.store import rundir
from nettrain.store.listing import CV_SCORES, find_runs, is_cv_dir, is_run_dir, is_search_dir
from nettrain.version import __version__

REPORT = "report.html"


def classify(paths):
    """(run directories, search directories, cv directories) from the paths given, in order;
    anything else is a DataError naming the path and what it holds."""
    runs, searches, cvs = [], [], []
    for path in map(Path, paths):
        if is_search_dir(path):
            searches.append(path)
        elif is_cv_dir(path):
            cvs.append(path)
        elif is_run_dir(path):
            runs.append(path)
        elif not path.is_dir():
            what = "is a file" if path.exists() else "does not exist"
            raise DataError(f"'{path}' {what}: give a run directory (the folder `nettrain fit` "
                            "printed), a grid-search directory (the one holding results.csv) or a "
                            f"cv directory (the one holding {CV_SCORES}).")
        else:
            inside = find_runs(path)
            hint = (f" It holds {len(inside)} run directories: give them (e.g. "
                    f"'{inside[0]}'), or list them with: nettrain runs {path}" if inside else "")
            raise DataError(f"'{path}' is neither a run directory (no {rundir.CONFIG}, "
                            f"{rundir.HISTORY}, ...) nor a grid-search directory (no "
                            f"results.csv) nor a cv directory (no {CV_SCORES}).{hint}")
    return runs, searches, cvs


def build_report(paths):
    """The report of `paths` (run, grid-search and cv directories) as one HTML string."""
    runs, searches, cvs = classify(paths)
    datas = [RunData(p) for p in runs]
    names = labels(datas)
    anchors = [f"run{i + 1}" for i in range(len(datas))]
    body, nav = [], []
    if len(datas) > 1:
        content = (guarded(overlay, datas, names)
                   + guarded(comparison_table, datas, names, anchors))
        body.append(section("compare", f"{len(datas)} runs compared", content))
        nav.append(("compare", "Comparison"))
    for i, path in enumerate(searches):
        html, parts = search_article(path, f"search{i + 1}")
        body.append(html)
        nav += [(f"search{i + 1}", f"Search {path.name}")] + (parts if len(searches) == 1 else [])
    for i, path in enumerate(cvs):
        html, parts = cv_article(path, f"cv{i + 1}")
        body.append(html)
        nav += [(f"cv{i + 1}", f"Cross-validation {path.name}")] + (parts if len(cvs) == 1 else [])
    for anchor, name, data in zip(anchors, names, datas):
        html, parts = run_article(data, anchor, title=f"Run {name}")
        body.append(html)
        nav += parts if len(datas) == 1 and not searches and not cvs else [(anchor, name)]
    return document(_title(datas, searches, cvs), _subtitle(runs + searches + cvs), nav, "\n".join(body))


def _title(datas, searches, cvs):
    if len(datas) == 1 and not searches and not cvs:
        return f"nettrain report: {datas[0].name}"
    if searches and not datas and not cvs:
        return f"nettrain report: grid search {', '.join(p.name for p in searches)}"
    if cvs and not datas and not searches:
        return f"nettrain report: cross-validation {', '.join(_cv_name(p) for p in cvs)}"
    parts = [f"{len(datas)} runs"] if datas else []
    parts += [f"{len(searches)} grid search(es)"] if searches else []
    parts += [f"{len(cvs)} cross-validation(s)"] if cvs else []
    return "nettrain report: " + ", ".join(parts)


def _cv_name(path):
    """NAME-cv/TIMESTAMP for nettrain cv's folders, else the folder's name."""
    path = Path(path).resolve()
    return f"{path.parent.name}/{path.name}" if path.parent.name.endswith("-cv") else path.name


def _subtitle(paths):
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
    where = ", ".join(f'<span class="mono">{esc(p)}</span>' for p in paths)
    return f"Written {stamp} by nettrain {esc(__version__)} from {where}"


def default_output(paths):
    """report.html inside the one directory given, else in the working directory."""
    return Path(paths[0]) / REPORT if len(paths) == 1 else Path(REPORT)


def write_report(paths, out=None):
    """Write the report of `paths` to `out` (default: see `default_output`); return its path."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise DataError("Give at least one run, grid-search or cv directory to report on.")
    out = Path(out) if out is not None else default_output(paths)
    text = build_report(paths)
    try:
        rundir.write_text(out, text)
    except OSError as err:
        raise NettrainError(f"Cannot write the report to '{out}': {err.strerror or err}. "
                            "Choose another file with -o FILE.html.") from None
    return out

