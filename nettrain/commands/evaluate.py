"""`nettrain evaluate`: the metrics of a trained run on one of its splits or a labelled file."""

import json

import click


@click.command("evaluate")
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--split", type=click.Choice(["train", "val", "test"]), default=None,
              help="Split to rebuild as fit made it. Default: test, else val.")
@click.option("--data", "data", type=click.Path(dir_okay=False), default=None,
              help="A labelled .csv/.npz file to evaluate instead of a split.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def command(run, split, data, as_json):
    """Report metrics of the trained run RUN (a run directory written by `nettrain fit`).

    \b
    Classification: accuracy, per-class precision/recall/F1, macro and weighted averages,
    log loss and the confusion matrix. Regression: mse, rmse, mae and R², per output.
    """
    from nettrain.runs.inference import captured_warnings, load

    if split is not None and data is not None:
        raise click.UsageError("Give either --split or --data, not both.")
    with captured_warnings() as messages:
        report = load(run).evaluate(data, split)
    for text in messages:
        click.echo(f"Warning: {text}", err=True)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        from rich.console import Console

        print_report(Console(), report)


def print_report(console, report):
    """Rich tables for people: a summary, then per-class scores and the confusion matrix."""
    from rich.table import Table

    source = f"{report['split']} split" if report["split"] else report["data"] or "the data"
    console.print(f"[bold]{report['run']}[/bold]: {source}, {report['n_samples']} samples",
                  soft_wrap=True)
    summary = Table(title="Metrics", title_justify="left")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    keys = (["loss", "accuracy", "log_loss"] if report["task"] == "classification"
            else ["loss", "mse", "rmse", "mae", "r2"])
    for key in keys:
        summary.add_row(key, _num(report[key]))
    console.print(summary)
    if report["task"] == "classification":
        console.print(_class_table(report))
        console.print(_confusion_table(report["confusion_matrix"]))
    elif len(report["per_output"]) > 1:
        console.print(_output_table(report))


def _num(value):
    return f"{value:.4f}"


def _class_table(report):
    from rich.table import Table

    table = Table(title="Per class", title_justify="left")
    for name in ("class", "precision", "recall", "f1", "support"):
        table.add_column(name, justify="left" if name == "class" else "right")
    for row in report["per_class"]:
        table.add_row(str(row["class"]), *map(_num, (row["precision"], row["recall"], row["f1"])),
                      str(row["support"]))
    table.add_section()
    total = sum(row["support"] for row in report["per_class"])
    for avg in ("macro", "weighted"):
        scores = report[avg]
        table.add_row(f"{avg} avg", *map(_num, (scores["precision"], scores["recall"], scores["f1"])),
                      str(total))
    return table


def _confusion_table(confusion):
    from rich.table import Table

    table = Table(title="Confusion matrix (rows: true, columns: predicted)", title_justify="left")
    table.add_column("true \\ predicted")
    labels = [str(label) for label in confusion["labels"]]
    for label in labels:
        table.add_column(label, justify="right")
    for label, row in zip(labels, confusion["matrix"]):
        table.add_row(label, *(f"[bold]{n}[/bold]" if i == labels.index(label) else str(n)
                               for i, n in enumerate(row)))
    return table


def _output_table(report):
    from rich.table import Table

    table = Table(title="Per output", title_justify="left")
    for name in ("target", "mse", "rmse", "mae", "r2"):
        table.add_column(name, justify="left" if name == "target" else "right")
    for row in report["per_output"]:
        table.add_row(str(row["target"]), *(_num(row[k]) for k in ("mse", "rmse", "mae", "r2")))
    return table
