"""The report of a cv directory (`nettrain cv`'s, or a search trial's with search.folds): the
spread of every score over the folds (cv.csv's mean ± std and each fold's value), the folds'
learning curves overlaid, and the fold runs compared."""

import re
from pathlib import Path

from nettrain.reporting.collect import Missing, RunData
from nettrain.reporting.compare import comparison_table, overlay
from nettrain.reporting.page import Raw, esc, image, note, number, section, table
from nettrain.reporting.run_page import guarded
from nettrain.store.listing import CV_SCORES, is_run_dir

FOLD_DIR = re.compile(r"^fold-(\d+)$")
SPLITS = ("train", "val", "test")
SUMMARY = ("mean", "std")


class CrossValidation:
    """A cv directory: cv.csv (a row per fold, then mean and std) and its fold runs."""

    def __init__(self, path):
        import pandas as pd

        self.path = Path(path)
        try:
            table = pd.read_csv(self.path / CV_SCORES, dtype={"fold": str})
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise Missing(f"{CV_SCORES} cannot be read ({err}).") from None
        if "fold" not in table or not set(SUMMARY) <= set(table["fold"]):
            raise Missing(f"{CV_SCORES} has no fold column with its mean and std rows: it is not "
                          "a file nettrain cv wrote.")
        self.scores = table.set_index("fold")
        self.folds = [f for f in self.scores.index if f not in SUMMARY]
        numbered = {int(m.group(1)): p for p in self.path.iterdir()
                    if (m := FOLD_DIR.match(p.name)) and is_run_dir(p)}
        self.runs = {f"fold-{n}": numbered[n] for n in sorted(numbered)}

    def columns(self):
        """cv.csv's score columns: (split, quantity, column), train first."""
        out = []
        for column in self.scores.columns:
            split, _, name = column.partition("_")
            if split in SPLITS and name:
                out.append((split, name, column))
        return sorted(out, key=lambda c: SPLITS.index(c[0]))


def cv_article(path, anchor, level=2, title=None):
    """(HTML, nav entries) of a cv directory."""
    title = title or f"Cross-validation {Path(path).name}"
    try:
        cv = CrossValidation(path)
    except Missing as err:
        return section(anchor, title, note(str(err), bad=True), level), []
    parts = [(f"{anchor}-spread", "Spread over the folds", spread),
             (f"{anchor}-folds", "The folds' curves", fold_curves)]
    intro = (f'<p class="mono">{esc(cv.path)}</p><p>{len(cv.folds)} fold(s) in {CV_SCORES}, '
             f"{len(cv.runs)} fold run directories. Each fold holds its rows out as its test split "
             "and trains on the others (split train:val).</p>")
    body = [section(anchor, title, intro, level)]
    body += [section(a, t, guarded(draw, cv), level + 1) for a, t, draw in parts]
    return "".join(body), [(a, t) for a, t, _ in parts]


def spread(cv):
    """cv.csv as a table, a row per score (mean ± std, then each fold), and a figure of it."""
    from nettrain.reporting.search_plots import fold_spread

    columns = cv.columns()
    if not columns:
        raise Missing(f"{CV_SCORES} has no train_, val_ or test_ score columns.")
    rows = []
    for _, _, column in columns:
        mean, std = cv.scores.loc["mean", column], cv.scores.loc["std", column]
        rows.append([Raw(f"<code>{esc(column)}</code>"), f"{number(mean)} ± {number(std, 2)}", mean, std,
                     *[cv.scores.loc[f, column] for f in cv.folds]])
    header = ["score", "mean ± std", "mean", "std", *[f"fold {f}" for f in cv.folds]]
    figure_data = {}
    for split, name, column in columns:
        values = cv.scores.loc[cv.folds, column].to_numpy(dtype=float)
        mean, std = (float(cv.scores.loc[s, column]) for s in SUMMARY)
        figure_data.setdefault(name, {})[split] = (values, mean, std)
    text = (f"<p>The mean and the sample standard deviation over the {len(cv.folds)} folds, from "
            f"{CV_SCORES}; the test scores are each fold's held-out rows.</p>")
    return (text + table(header, rows)
            + image(fold_spread(figure_data, cv.folds), "scores of each fold with their mean and std"))


def fold_curves(cv):
    if not cv.runs:
        raise Missing("No fold run directory (fold-1/, ...) to draw curves from.")
    datas = [RunData(p) for p in cv.runs.values()]
    names = list(cv.runs)
    return overlay(datas, names) + comparison_table(datas, names)
