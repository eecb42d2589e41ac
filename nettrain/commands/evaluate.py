"""`nettrain evaluate`: the metrics of a trained run on one of its splits or a labelled file."""

import json
import math

import click

MATRIX_CLASSES = 12  # more classes than this: the top confusions instead of the whole matrix
TOP_CONFUSIONS = 10


@click.command("evaluate")
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--split", type=click.Choice(["train", "val", "test"]), default=None,
              help="Split to rebuild as fit made it. Default: test, else val.")
@click.option("--data", "data", type=click.Path(), default=None,
              help="A labelled .csv/.tsv/.parquet/.npz file (or, for an image-folder run, a "
                   "folder of class subfolders) to evaluate instead of a split.")
@click.option("--threshold", type=float, default=None, metavar="P",
              help="Binary models: predict the positive class where its probability >= P. "
                   "Default: the run's threshold (0.5 unless set).")
@click.option("--confusion-csv", "confusion_csv", type=click.Path(dir_okay=False), default=None,
              metavar="FILE", help="Also write the whole confusion matrix to FILE as CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def command(run, split, data, threshold, confusion_csv, as_json):
    """Report metrics of the trained run RUN (a run directory written by `nettrain fit`).

    \b
    Classification: accuracy, balanced accuracy, log loss, ROC AUC, PR AUC (average
    precision), per-class precision/recall/F1, macro and weighted averages, and the
    confusion matrix (the top confusions when there are many classes). Binary models
    also report precision/recall/F1 of the positive class. Regression: mse, rmse, mae and
    R², per output. Every score follows scikit-learn's definition.
    """
    from nettrain.api import captured_warnings, evaluate, write_csv

    if split is not None and data is not None:
        raise click.UsageError("Give either --split or --data, not both.")
    with captured_warnings() as messages:
        report = evaluate(run, data, split=split, threshold=threshold)
    for text in messages:
        click.echo(f"Warning: {text}", err=True)
    if confusion_csv and report["task"] == "classification":
        write_csv(report.confusion_table(), confusion_csv)
    if as_json:
        click.echo(json.dumps(report.json_ready(), indent=2))
    else:
        from rich.console import Console

        print_report(Console(), report, confusion_csv)


def print_report(console, report, confusion_csv=None):
    """Rich tables for people: a summary, then per-class scores and the confusion matrix."""
    from rich.table import Table
    from rich.text import Text

    source = f"{report['split']} split" if report["split"] else report["data"] or "the data"
    console.print(Text(f"{report['run']}: {source}, {report['n_samples']} samples", style="bold"),
                  soft_wrap=True)
    summary = Table(title="Metrics", title_justify="left")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    keys = (["loss", "accuracy", "balanced_accuracy", "log_loss", "roc_auc", "pr_auc"]
            if report["task"] == "classification" else ["loss", "mse", "rmse", "mae", "r2"])
    for key in keys:
        if key in report:
            summary.add_row(key, _num(report[key]))
    if "positive" in report:
        positive = report["positive"]
        label = Text(f"positive class {positive['class']!s} (threshold {report['threshold']:g})")
        summary.add_section()
        summary.add_row(label, "")
        for key in ("precision", "recall", "f1"):
            summary.add_row(f"  {key}", _num(positive[key]))
    console.print(summary)
    if report["task"] == "classification":
        console.print(_class_table(report))
        confusion = report["confusion_matrix"]
        if len(confusion["labels"]) <= MATRIX_CLASSES:
            console.print(_confusion_table(confusion))
        else:
            console.print(_top_confusions(confusion))
            where = (f"written to {confusion_csv}" if confusion_csv else
                     "in --json, or as CSV with --confusion-csv FILE")
            console.print(f"The whole {len(confusion['labels'])}x{len(confusion['labels'])} "
                          f"confusion matrix is {where}.", markup=False, highlight=False)
        if report.get("never_predicted"):
            names = ", ".join(repr(c) for c in report["never_predicted"][:10])
            console.print(f"Warning: never predicted: {names}.", markup=False, highlight=False)
        console.print("Scores follow scikit-learn's definitions: macro averages run over the "
                      "labels present in y_true or y_pred; a binary model's precision, recall "
                      "and f1 are those of its positive class (data.pos_label).",
                      markup=False, highlight=False, style="dim")
    elif len(report["per_output"]) > 1:
        console.print(_output_table(report))


def _num(value):
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _class_table(report):
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Per class", title_justify="left")
    for name in ("class", "precision", "recall", "f1", "support"):
        table.add_column(name, justify="left" if name == "class" else "right")
    for row in report["per_class"]:
        table.add_row(Text(str(row["class"])),
                      *map(_num, (row["precision"], row["recall"], row["f1"])), str(row["support"]))
    table.add_section()
    total = sum(row["support"] for row in report["per_class"])
    for avg in ("macro", "weighted"):
        scores = report[avg]
        table.add_row(f"{avg} avg", *map(_num, (scores["precision"], scores["recall"], scores["f1"])),
                      str(total))
    return table


def _confusion_table(confusion):
    """The whole matrix; labels are shown literally (no rich markup)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Confusion matrix (rows: true, columns: predicted)", title_justify="left")
    table.add_column("true \\ predicted")
    labels = [str(label) for label in confusion["labels"]]
    for label in labels:
        table.add_column(Text(label), justify="right")
    for i, (label, row) in enumerate(zip(labels, confusion["matrix"])):
        table.add_row(Text(label), *(Text(str(n), style="bold" if j == i else "")
                                     for j, n in enumerate(row)))
    return table


def _top_confusions(confusion):
    """The most frequent mistakes: true label, predicted label, count and share of the true."""
    from rich.table import Table
    from rich.text import Text

    labels = [str(label) for label in confusion["labels"]]
    matrix = confusion["matrix"]
    cells = sorted(((n, i, j) for i, row in enumerate(matrix) for j, n in enumerate(row)
                    if i != j and n > 0), reverse=True)[:TOP_CONFUSIONS]
    table = Table(title=f"Top confusions ({len(labels)} classes)", title_justify="left")
    for name in ("true", "predicted", "count", "share of true"):
        table.add_column(name, justify="right" if name in ("count", "share of true") else "left")
    for n, i, j in cells:
        table.add_row(Text(labels[i]), Text(labels[j]), str(n), f"{n / max(sum(matrix[i]), 1):.1%}")
    return table


def _output_table(report):
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Per output", title_justify="left")
    for name in ("target", "mse", "rmse", "mae", "r2"):
        table.add_column(name, justify="left" if name == "target" else "right")
    for row in report["per_output"]:
        table.add_row(Text(str(row["target"])), *(_num(row[k]) for k in ("mse", "rmse", "mae", "r2")))
    return table
