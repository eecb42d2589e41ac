"""`nettrain fit`: train from a config into a new run directory, or resume one."""

import click


@click.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False), required=False)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set optimizer.lr=0.01 (repeatable).")
@click.option("--out", type=click.Path(file_okay=False), metavar="DIR",
              help="Write the run directory under DIR instead of the config's `output`.")
@click.option("--init-from", type=click.Path(exists=True), metavar="RUN_OR_NPZ",
              help="Start from the weights of a run directory or a model.npz.")
@click.option("--resume", type=click.Path(exists=True, file_okay=False), metavar="RUN",
              help="Continue RUN from its checkpoint.npz, in the same directory.")
@click.option("--quiet", is_flag=True, help="Print only the run directory and the final metrics.")
@click.option("--report", is_flag=True,
              help="Write report.html (plots and tables, see `nettrain report`) into the run "
                   "directory at the end (as training.report: true).")
@click.option("--diagnose", is_flag=True,
              help="Record per-layer gradient health (diagnostics.csv) and warn about vanishing or "
                   "exploding gradients, dead and saturated units (as training.diagnostics: true).")
def command(config, overrides, out, init_from, resume, quiet, diagnose, report):
    """Train a model from CONFIG into OUTPUT/NAME/YYYYmmdd-HHMMSS/, or continue --resume RUN
    (with the config the run holds when CONFIG is left out).

    \b
    Ctrl-C stops at the next batch, saves the checkpoint and prints how to resume.
    Examples:
      nettrain fit configs/iris.yaml
      nettrain fit configs/iris.yaml --set optimizer.lr=0.01 --set training.epochs=50
      nettrain fit --resume runs/iris/20240517-093005 --set training.epochs=200
    """
    from nettrain.api import fit

    if config is None and resume is None:
        raise click.UsageError("Missing argument 'CONFIG' (or --resume RUN).")

    from rich.console import Console

    fit(config, overrides=overrides, out=out, init_from=init_from, resume=resume, quiet=quiet,
        diagnose=diagnose, report=report, console=Console())
