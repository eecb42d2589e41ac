"""`nettrain report`: one self-contained HTML page of plots and tables for runs and searches."""

import click


@click.command("report")
@click.argument("paths", nargs=-1, required=True, type=click.Path(), metavar="RUN_OR_SEARCH...")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False), default=None,
              metavar="FILE.html",
              help="Where to write the page (default: report.html in the one directory given, "
                   "else in the working directory).")
def command(paths, out):
    """Write one HTML page about RUN_OR_SEARCH... (run, grid-search and cv directories).

    \b
    A run: its config and model summary, learning curves (best and saved epochs marked,
    learning rate), final metrics per split, a confusion matrix with per-class scores (and
    ROC and precision-recall curves for two classes) or predicted against actual with the
    residuals, and gradient-health charts when it has diagnostics.csv. Several runs: their
    curves overlaid and one comparison table. A grid-search directory: the ranked trials,
    each trial's curve of the search metric (where pruned trials stopped), the best value by
    trial, parameter importances (from its Optuna study) and each parameter against the search
    metric. A cv directory: each score's mean ± std over the folds and the folds' curves. An
    unfinished or damaged run shows what it has and says what is missing. The page needs no
    network: images and style are inside it.
    Examples:
      nettrain report runs/iris-mlp/20240517-093005
      nettrain report runs/iris-mlp/* -o iris.html
      nettrain report runs/iris-mlp-search
      nettrain report runs/iris-mlp-cv/20240517-101500
    """
    from nettrain.api import report

    click.echo(f"Wrote {report(paths, out)}")
