"""`nettrain cv CONFIG --folds K`: k-fold cross-validation, a run per fold, cv.csv and oof.csv."""

import click


@click.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--folds", type=click.IntRange(min=2), default=None, metavar="K",
              help="Number of folds (default: the config's search.folds, else 5).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value for every fold, e.g. --set training.epochs=20.")
@click.option("--out", type=click.Path(file_okay=False), metavar="DIR",
              help="Write the cv directory under DIR instead of the config's `output`.")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
def command(config, folds, overrides, out, quiet):
    """Cross-validate CONFIG: deal the rows of data.path into K folds and train one run per
    fold, holding that fold out as its test split (the other rows split train:val in
    data.split's ratio).

    \b
    Folds are stratified by class for classification, chronological for a window series
    (as scikit-learn's TimeSeriesSplit) and keep each data.group value in one fold.
    Writes OUTPUT/NAME-cv/YYYYmmdd-HHMMSS/: fold-1/ ... fold-K/ (run directories),
    cv.csv (each fold's scores, their mean and std) and oof.csv (every held-out row's
    prediction). Example:
      nettrain cv configs/iris.yaml --folds 5 --set training.epochs=50
    """
    from nettrain.api import cv

    cv(config, folds=folds, overrides=overrides, out=out, quiet=quiet)
