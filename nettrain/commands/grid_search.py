"""`nettrain grid-search CONFIG`: train every trial of the config's search space, rank them."""

import click


@click.command(name="grid-search")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Trials trained at once on this machine (default: the number of cores).")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run the trials on a Dask cluster instead, e.g. tcp://10.0.0.5:8786 "
                   "(pip install 'nettrain[dask]').")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value for every trial, e.g. --set training.epochs=20.")
@click.option("--refit", is_flag=True,
              help="Train the best config on train+val afterwards and report its test metrics.")
def command(config, workers, scheduler, overrides, refit):
    """Try the `search.space` of CONFIG in parallel and rank the trials.

    Writes OUTPUT/NAME-search/: one run directory per trial, results.csv and best.yaml
    (the best trial's config, ready for `nettrain fit`). Run the same command again to
    resume after Ctrl-C: finished trials are skipped.
    """
    if workers is not None and scheduler:
        raise click.UsageError("--workers is for local runs; with --scheduler, the cluster's "
                               "workers run the trials. Give one of the two.")
    from nettrain.api import grid_search

    grid_search(config, overrides=overrides, workers=workers, scheduler=scheduler, refit=refit)
