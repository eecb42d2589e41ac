"""Several runs side by side: their curves overlaid and one comparison table."""

from .collect import Missing
from .page import Raw, esc, image, note, number, table

SPLITS = ("train", "val", "test")
IGNORED = ("name", "output", "search")  # config keys that differ without changing a run
MAX_DIFFERENCES = 12


def labels(datas):
    """A short, unique label per run: its name, with its folder's name when names repeat."""
    names = [d.name for d in datas]
    out = [n if names.count(n) == 1 else f"{n}/{d.path.name}" for n, d in zip(names, datas)]
    return [o if out.count(o) == 1 else f"{o} #{i + 1}" for i, o in enumerate(out)]


def overlay(datas, names, empty_note=True):
    """The overlaid curves of the runs that have a history, and a note for the others."""
    from .curves import overlay_curves

    have, missing = [], []
    for name, data in zip(names, datas):
        try:
            have.append((name, data.history()))
        except Missing as err:
            missing.append(f"{name}: {err}")
    out = image(overlay_curves(have), "learning curves overlaid") if have else ""
    if missing and (empty_note or have):
        out += note("No curves for " + "; ".join(missing))
    return out


def comparison_table(datas, names, anchors=None):
    """One row per run: state, epochs, best epoch and value, final metrics per split, and
    the config keys whose values differ between the runs."""
    metric_cols = []
    for split in SPLITS:
        for data in datas:
            for key in (data.metrics.get(split) or {}):
                if f"{split} {key}" not in metric_cols:
                    metric_cols.append(f"{split} {key}")
    diffs = differences([d.config for d in datas])
    header = ["run", "state", "epochs", "stopped", "best epoch", "best", "parameters",
              *metric_cols, *diffs[:MAX_DIFFERENCES]]
    rows = []
    for i, (name, data) in enumerate(zip(names, datas)):
        best_epoch, monitor, value = data.record.best()
        link = f'<a href="#{esc(anchors[i])}">{esc(name)}</a>' if anchors else esc(name)
        row = [Raw(link), data.record.state, data.record.epochs,
               data.metrics.get("stopped_reason"), best_epoch,
               f"{monitor} {number(value)}" if monitor else None, _params(data)]
        for col in metric_cols:
            split, key = col.split(" ", 1)
            row.append((data.metrics.get(split) or {}).get(key))
        flat = flatten(data.config)
        row += [_show(flat.get(k)) for k in diffs[:MAX_DIFFERENCES]]
        rows.append(row)
    numeric = {"epochs", "best epoch", "parameters", *metric_cols}
    out = table(header, rows, numeric=numeric)
    if len(diffs) > MAX_DIFFERENCES:
        out += note(f"{len(diffs)} config keys differ; the table shows the first "
                    f"{MAX_DIFFERENCES}: the rest are {', '.join(diffs[MAX_DIFFERENCES:])}.")
    return out


def _params(data):
    try:
        return data.summary()[1]
    except Missing:
        return None


def flatten(tree, prefix=""):
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    out = {}
    for key, value in (tree or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def differences(configs):
    """The dotted config keys whose values are not the same in every config."""
    flats = [flatten(c) for c in configs]
    keys = list(dict.fromkeys(k for f in flats for k in f))
    return [k for k in keys if k.split(".")[0] not in IGNORED
            and len({repr(f.get(k, "(absent)")) for f in flats}) > 1]


def _show(value):
    if value is None or isinstance(value, (int, float, str)):
        return value
    return str(value)
