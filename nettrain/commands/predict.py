"""`nettrain predict`: score new data with a trained run, as CSV on stdout or in a file."""

import click


@click.command("predict")
@click.argument("run", type=click.Path(file_okay=False))
@click.argument("data", type=click.Path())
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False), default=None,
              help="Write the CSV here (atomically) instead of to stdout.")
@click.option("--proba", is_flag=True, help="Add a proba_<class> column per class.")
@click.option("--keep", default="", metavar="COLS",
              help="Comma-separated input columns to carry through, e.g. --keep id.")
@click.option("--threshold", type=float, default=None, metavar="P",
              help="Binary models: predict the positive class (data.pos_label) where its "
                   "probability >= P. Default: the run's threshold (0.5 unless set).")
@click.option("--missing", type=click.Choice(["drop", "mean"]), default=None,
              help="Rows with missing features: drop (their prediction is left empty, with a "
                   "warning) or mean (filled with the train means). Default: as trained.")
def command(run, data, out, proba, keep, threshold, missing):
    """Predict for every row of DATA with the trained run RUN.

    Applies the run's saved preprocessing: columns may come in any order, extra columns
    are ignored and the target column may be present or absent. Writes one row per input
    row: the kept columns, then predicted_<target> in the original label form (one column
    per target for multi-output regression), then the probabilities with --proba. A target
    column in DATA is not read, so gaps or new labels there do no harm. A run trained on
    an image folder also takes a folder of images as DATA (one row per file, with its path).
    """
    from nettrain.api import captured_warnings, load, write_csv

    keep = [c.strip() for c in keep.split(",") if c.strip()]
    loaded = load(run)
    with captured_warnings() as messages:
        table = loaded.predict(data, proba=proba, keep=keep, threshold=threshold, missing=missing)
    for text in messages:
        click.echo(f"Warning: {text}", err=True)
    if out is None:
        click.echo(table.to_csv(index=False), nl=False)
    else:
        write_csv(table, out)
        click.echo(f"Wrote {len(table)} predictions to {out}", err=True)
