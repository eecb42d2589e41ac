"""The report of one run: overview, model and config, curves, metrics, evaluation, health.

Every part is drawn on its own: a part that cannot be drawn (a missing or damaged file)
becomes a note saying what is missing, and the other parts are still drawn.
"""

import math

from nettrain.reporting.collect import Missing
from nettrain.reporting.page import Raw, badge, esc, facts, image, note, number, section, table
from nettrain.store import rundir

SPLITS = ("train", "val", "test")


def guarded(draw, *args):
    """draw(*args), or a note when the run lacks what it needs (or it fails unexpectedly)."""
    try:
        return draw(*args)
    except Missing as err:
        return note(str(err))
    except Exception as err:  # a damaged file can break a part in ways no check foresaw
        return note(f"This part could not be drawn ({type(err).__name__}: {err}).", bad=True)


def run_article(data, anchor, level=2, title=None):
    """(HTML, nav entries) of one run's full report, its ids prefixed with `anchor`."""
    parts = [
        (f"{anchor}-model", "Model and config", model_and_config),
        (f"{anchor}-curves", "Learning curves", curves),
        (f"{anchor}-metrics", "Final metrics", final_metrics),
        (f"{anchor}-evaluation", "Evaluation", evaluation),
    ]
    if (data.path / rundir.DIAGNOSTICS).is_file():
        parts.append((f"{anchor}-health", "Gradient health", gradient_health))
    head = section(anchor, title or f"Run {data.name}", guarded(overview, data), level)
    body = [section(a, t, guarded(draw, data), level + 1) for a, t, draw in parts]
    nav = [(a, t) for a, t, _ in parts]
    return f'<article class="run">{head}{"".join(body)}</article>', nav


# ---------------------------------------------------------------- parts


def overview(data):
    record, m = data.record, data.metrics
    best_epoch, monitor, best_value = record.best()
    seconds = _seconds(data)
    pairs = [
        ("state", Raw(badge(record.state))),
        ("path", Raw(f'<span class="mono">{esc(data.path)}</span>')),
        ("started", record.started.strftime("%Y-%m-%d %H:%M:%S") if record.started else None),
        ("epochs run", record.epochs),
        ("stopped", m.get("stopped_reason")),
        ("best epoch", f"{best_epoch} ({monitor} = {number(best_value)})" if best_epoch else None),
        ("saved weights", f"epoch {m['weights_epoch']}" if m.get("weights_epoch") else None),
        ("training time", f"{seconds:.1f} s" if seconds else None),
    ]
    return facts(pairs) + _state_notes(data)


def _seconds(data):
    try:
        history = data.history()
    except Missing:
        return None
    return float(history["seconds"].sum()) if "seconds" in history else None


def _state_notes(data):
    record = data.record
    if record.state == "interrupted":
        cmd = f"nettrain fit {data.path / rundir.CONFIG} --resume {data.path}"
        return note(f"Training was interrupted after epoch {record.epochs}; the files are those "
                    f"of that epoch. Continue it with: {cmd}")
    if record.state == "running":
        return note(f"This run is still training (process {record.writer()} is writing into "
                    f"it): the parts below show its first {record.epochs} epoch(s).")
    if record.state == "unfinished":
        return note(f"This run has not finished: it has no {rundir.METRICS_FILE} (it was killed, or "
                    f"diverged). {record.epochs} epoch(s) are in {rundir.HISTORY}; the parts "
                    "below show what exists.")
    if record.state == "damaged":
        return note("This run directory is damaged: " + "; ".join(record.problems)
                    + ". The parts below show what can still be read.", bad=True)
    return ""


def model_and_config(data):
    return f'<div class="grid2"><div>{guarded(model_summary, data)}</div>' \
           f"<div>{guarded(config_text, data)}</div></div>"


def model_summary(data):
    rows, total, trained = data.summary()
    body = table(["#", "layer", "output shape", "parameters"],
                 [*rows, ("", Raw("<b>total</b>"), "", total)], numeric={"parameters"})
    if not trained:
        body += note("The weights could not be loaded, so this summary comes from "
                     f"{rundir.CONFIG} and {rundir.PREPROCESS}: {data.loaded_problem()}")
    return "<h4>Model</h4>" + body


def config_text(data):
    return f"<h4>{rundir.CONFIG}</h4><pre>{esc(data.config_text())}</pre>"


def curves(data):
    from nettrain.reporting.curves import constant_lr, learning_curves, quantities

    history = data.history()
    if not quantities(history.columns):
        raise Missing(f"{rundir.HISTORY} has no loss or metric columns.")
    best_epoch, monitor, best_value = data.record.best()
    saved = data.metrics.get("weights_epoch")
    text = (f"{len(history)} epoch(s). Best epoch {best_epoch}: {monitor} = {number(best_value)}"
            if best_epoch else f"{len(history)} epoch(s).")
    if saved and saved != best_epoch:
        text += f"; the saved weights are those of epoch {saved}"
    if constant_lr(history) is not None:
        text += f"; learning rate {number(constant_lr(history))} throughout"
    return f"<p>{esc(text)}.</p>" + image(learning_curves(history, best_epoch, saved),
                                          "learning curves")


def final_metrics(data):
    m = data.metrics
    if not m:
        raise Missing(f"No final metrics: {rundir.METRICS_FILE} is missing or unreadable.")
    splits = [s for s in SPLITS if isinstance(m.get(s), dict)]
    names = list(dict.fromkeys(k for s in splits for k in m[s]))
    rows = [[s, *[m[s].get(k) for k in names]] for s in splits]
    return table(["split", *names], rows)


def evaluation(data):
    ev = data.evaluation()
    head = f"<p>On the {esc(ev.split)} split ({ev.n} samples), rebuilt from the run's data.</p>"
    if ev.task == "classification":
        return head + _classification(ev)
    return head + _regression(ev)


def _classification(ev):
    from nettrain.reporting.evaluation import binary_curves, confusion_matrix

    rep = ev.report
    cm = rep["confusion_matrix"]
    rows = [[c["class"], c["precision"], c["recall"], c["f1"], c["support"]] for c in rep["per_class"]]
    for avg in ("macro", "weighted"):
        rows.append([Raw(f"<i>{avg} average</i>"), *[rep[avg][k] for k in ("precision", "recall", "f1")],
                     sum(c["support"] for c in rep["per_class"])])
    per_class = table(["class", "precision", "recall", "f1", "support"], rows,
                      numeric={"precision", "recall", "f1", "support"})
    out = (f"<h4>Confusion matrix</h4>"
           f"{image(confusion_matrix(cm['matrix'], cm['labels']), 'confusion matrix')}"
           f'<h4>Per class</h4><div class="tall">{per_class}</div>'
           f"<p>accuracy {number(rep['accuracy'])}, log loss {number(rep['log_loss'])}</p>")
    if len(ev.labels) == 2:
        y = (ev.y_true == 1).astype(int)
        out += "<h4>ROC and precision-recall</h4>" + image(
            binary_curves(y, ev.scores[:, 1], ev.labels[1]), "ROC and precision-recall curves")
    return out


def _regression(ev):
    from nettrain.reporting.evaluation import MAX_TARGETS, regression_fit

    rep = ev.report
    rows = [[o["target"], o["mse"], o["rmse"], o["mae"], o["r2"]] for o in rep["per_output"]]
    out = image(regression_fit(ev.y_true, ev.scores, ev.labels), "predicted against actual")
    if len(ev.labels) > MAX_TARGETS:
        out += note(f"The figure shows the first {MAX_TARGETS} of {len(ev.labels)} targets; "
                    "the table has them all.")
    return out + table(["target", "mse", "rmse", "mae", "r2"], rows)


def gradient_health(data):
    from nettrain.reporting.health import gradient_health as figure

    frame = data.diagnostics()
    last = frame[frame["epoch"] == frame["epoch"].max()]
    columns = {"grad_norm": "grad norm", "update_ratio": "update/weight", "dead_fraction": "dead",
               "saturated_fraction": "saturated", "time_ratio": "through time"}
    columns = {k: v for k, v in columns.items() if k in last and (k != "time_ratio" or last[k].notna().any())}
    rows = [[f"{r['layer']} {r['description']}", *[_cell(r[c]) for c in columns]]
            for r in last.to_dict("records")]
    epoch = int(last["epoch"].iloc[0])
    return (image(figure(frame, data.diagnostic_bounds()), "gradient health")
            + f"<h4>Epoch {epoch}</h4>"
            + table(["layer", *columns.values()], rows, numeric=set(columns.values()))
            + guarded(_findings, data, frame))


def _cell(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _findings(data, frame):
    from nettrain.training.diagnostics import findings

    model, _ = data.model()
    epochs = []
    for epoch in sorted(frame["epoch"].unique()):
        rows = frame[frame["epoch"] == epoch].to_dict("records")
        epochs.append([{k: _cell(v) for k, v in row.items()} for row in rows])
    found = findings(epochs, model.layers, data.diagnostic_bounds())
    if not found:
        return "<p>No warning holds for the last recorded epoch.</p>"
    return "".join(note(f.text) for f in found)
