"""Several runs side by side: their curves overlaid and one comparison table."""

from nettrain.reporting.collect import Missing
from nettrain.reporting.page import Raw, esc, image, note, number, table

SPLITS = ("train", "val", "test")
IGNORED = ("name", "output", "search")  # config keys that differ without changing a run
MAX_DIFFERENCES = 30


def labels(datas):
    """A short, unique label per run: its name, with its folder's name when names repeat."""
    names = [d.name for d in datas]
    out = [n if names.count(n) == 1 else f"{n}/{d.path.name}" for n, d in zip(names, datas)]
    return [o if out.count(o) == 1 else f"{o} #{i + 1}" for i, o in enumerate(out)]


def overlay(datas, names, empty_note=True):
    """The overlaid curves of the runs that have a history, and a note for the others."""
    from nettrain.reporting.curves import overlay_curves

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
    """One column per run, one row per quantity: state, epochs, best epoch and value,
    parameters, every split's final metrics, and the config keys whose values differ."""
    metric_rows = []
    for split in SPLITS:
        for data in datas:
            for key in (data.metrics.get(split) or {}):
                if (split, key) not in metric_rows:
                    metric_rows.append((split, key))
    diffs = differences([d.config for d in datas])
    bests = [d.record.best() for d in datas]
    flats = [flatten(d.config) for d in datas]
    rows = [
        ["state", *[d.record.state for d in datas]],
        ["epochs", *[d.record.epochs for d in datas]],
        ["stopped", *[d.metrics.get("stopped_reason") for d in datas]],
        ["best epoch", *[b[0] for b in bests]],
        ["best value", *[f"{b[1]} {number(b[2])}" if b[1] else None for b in bests]],
        ["parameters", *[_params(d) for d in datas]],
        *[[f"{split} {key}", *[(d.metrics.get(split) or {}).get(key) for d in datas]]
          for split, key in metric_rows],
        *[[Raw(f"config <code>{esc(k)}</code>"), *[_show(f.get(k)) for f in flats]]
          for k in diffs[:MAX_DIFFERENCES]],
    ]
    header = [Raw(f'<a href="#{esc(a)}">{esc(n)}</a>') if anchors else n
              for n, a in zip(names, anchors or names)]
    out = table(["", *header], rows, numeric="cells")
    if len(diffs) > MAX_DIFFERENCES:
        out += note(f"{len(diffs)} config keys differ; the table shows the first "
                    f"{MAX_DIFFERENCES}: the rest are {', '.join(diffs[MAX_DIFFERENCES:])}.")
    elif not diffs:
        out += "<p>The runs' configs are the same (apart from name and output).</p>"
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
    nested = {k.rsplit(".", i)[0] for k in keys for i in range(1, k.count(".") + 1)}
    return [k for k in keys if k.split(".")[0] not in IGNORED and k not in nested
            and len({repr(f.get(k, "(absent)")) for f in flats}) > 1]


def _show(value):
    """A config value as YAML writes it: true/false, lists in brackets."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, (int, float, str)):
        return value
    return json.dumps(value)
