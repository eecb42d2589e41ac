"""What grid-search shows: a live footer (or plain lines) while it runs, the ranked table at the end."""

import math
import time

from rich.live import Live
from rich.table import Table
from rich.text import Text

MAX_ROWS = 20


def fmt_value(value):
    """A parameter or metric value, short: 4 significant digits for floats."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def fmt_seconds(seconds):
    if seconds < 10:
        return f"{max(0.0, seconds):.1f}s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def fmt_score(row, metric):
    """'0.3123 ± 0.0100' (the ± only with repeats), or the status when there is no score."""
    mean = row["metrics"].get(metric)
    if mean is None:
        return "-"
    std = row["metrics"].get(f"{metric}_std")
    return fmt_value(mean) + (f" ± {std:.2g}" if std is not None and not math.isnan(std) else "")


def _stopped(row):
    """Where a pruned trial stopped: after its folds (search.folds), else its epochs."""
    return f"{row['folds']} fold(s)" if "folds" in row else f"{row['epochs']} epochs"


def short_error(error, limit=80):
    """The first sentence of an error, at most `limit` characters: results.csv has it whole."""
    first = error.split(". ", 1)[0].rstrip(".")
    return first if len(first) <= limit else first[: limit - 3] + "..."


def fmt_params(params):
    return ", ".join(f"{path}={fmt_value(value)}" for path, value in params.items())


class SearchProgress:
    """Counts trials and units as they run; a rich Live footer on a terminal, else plain lines.

    Finished trials are printed as lines either way, so they stay in the scrollback; the footer
    shows done / running / failed, the best trial so far, elapsed time and time left.
    """

    def __init__(self, console, n_trials, n_units, slots, metric, mode, quiet=False):
        self.console = console
        self.n_trials = n_trials
        self.units_left = n_units
        self.slots = max(1, slots)
        self.metric = metric
        self.mode = mode
        self.quiet = quiet
        self.done = self.failed = 0
        self.running = {}
        self.best = None
        self.unit_seconds = []
        self.live = None

    def __enter__(self):
        self.start = time.monotonic()
        if not self.quiet and self.console.is_terminal:
            self.live = Live(self, console=self.console, refresh_per_second=4, transient=True)
            self.live.start()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.stop()
        return False

    def unit_started(self, trial_id):
        self.running[trial_id] = self.running.get(trial_id, 0) + 1

    def unit_finished(self, trial_id, seconds):
        self.running[trial_id] -= 1
        if not self.running[trial_id]:
            del self.running[trial_id]
        self.units_left -= 1
        self.unit_seconds.append(seconds)

    def trial_finished(self, row, best):
        self.done += 1
        self.failed += row["status"] == "failed"
        self.best = best
        if self.quiet:
            return
        outcome = (fmt_score(row, self.metric) if row["status"] == "ok"
                   else f"{fmt_score(row, self.metric)} (pruned after {_stopped(row)})"
                   if row["status"] == "pruned"
                   else f"failed: {short_error(row['error'])}")
        line = (f"[{self.done}/{self.n_trials}] {row['id']}  {fmt_params(row['params'])}  "
                f"{self.metric} {outcome}  {fmt_seconds(row['seconds'])}")
        if self.live is None:
            line += f"  | {self.status_line()}"
        self.console.print(Text(line), soft_wrap=True)

    def eta(self):
        """Seconds left: the mean unit time so far times the units left, over the slots."""
        if not self.unit_seconds:
            return None
        mean = sum(self.unit_seconds) / len(self.unit_seconds)
        return mean * self.units_left / self.slots

    def status_line(self):
        elapsed = time.monotonic() - self.start
        eta = self.eta()
        best = "-" if self.best is None else f"{self.best['id']} {fmt_score(self.best, self.metric)}"
        left = "?" if eta is None else f"~{fmt_seconds(eta)}"
        return (f"trials {self.done}/{self.n_trials} done, {len(self.running)} running, "
                f"{self.failed} failed | best {self.metric} ({self.mode}) {best} | "
                f"elapsed {fmt_seconds(elapsed)}, left {left}")

    def __rich__(self):
        return Text(self.status_line(), style="bold")


def short_names(paths):
    """The shortest dotted suffix of each path that no other path ends with: 'lr', 'units'."""
    names = []
    for path in paths:
        parts = path.split(".")
        for n in range(1, len(parts) + 1):
            name = ".".join(parts[-n:])
            if not any(o != path and (o == name or o.endswith("." + name)) for o in paths):
                break
        names.append(name)
    return names


def ranked_table(rows, params, metric, mode, metric_names, title=None):
    """A rich Table of the trials, best first (rows come ranked), at most MAX_ROWS of them.

    Parameter columns are headed by the end of their path (`lr` for optimizer.lr);
    results.csv has the full paths.
    """
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("trial", no_wrap=True)
    for name in short_names(params):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column(f"{metric} ({mode})", justify="right", style="bold", no_wrap=True)
    others = [m for m in metric_names if m != metric]
    for name in others:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True, overflow="ellipsis", max_width=48)
    for rank, row in enumerate(rows[:MAX_ROWS], start=1):
        ok = row["status"] in ("ok", "pruned")
        status = (row["status"] if ok else Text(f"failed: {short_error(row['error'], 40)}", style="red"))
        cells = [str(rank), row["id"], *(fmt_value(row["params"][p]) for p in params),
                 fmt_score(row, metric), *(fmt_score(row, m) if ok else "-" for m in others),
                 fmt_seconds(row["seconds"]), status]
        table.add_row(*cells)
    if len(rows) > MAX_ROWS:
        table.caption = f"{len(rows) - MAX_ROWS} more trials in results.csv"
    return table
