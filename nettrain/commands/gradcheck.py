"""`nettrain gradcheck`: analytic vs finite-difference gradients of a config's model, layer by layer."""

import click


@click.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set regularization.l2=0.01 (repeatable).")
@click.option("--rows", default=8, show_default=True, type=click.IntRange(min=1),
              help="Train rows in the batch the gradients are taken on.")
@click.option("--max-entries", default=1000, show_default=True, type=click.IntRange(min=0),
              help="Check at most this many entries of each parameter array (0: all).")
def command(config, overrides, rows, max_entries):
    """Compare backpropagation with central finite differences for CONFIG's model.

    \b
    Builds the model in float64 with the config's seed, takes the first --rows rows of
    the train split, and checks the gradient of loss + regularization with respect to
    every parameter of every layer (dropout with a fixed mask, batchnorm in training
    mode). Prints one row per parameter and exits 1 if any relative error
    |analytic - numeric| / max(|analytic|, |numeric|, 1e-2) exceeds 1e-6.
    Example:
      nettrain gradcheck configs/iris.yaml --set regularization.l1=0.001
    """
    from rich.console import Console
    from rich.table import Table

    from nettrain.api import gradcheck
    from nettrain.errors import RunError

    check = gradcheck(config, overrides=overrides, rows=rows, max_entries=max_entries or None)
    threshold = check.threshold
    table = Table(title=f"Gradient check of {config} (float64, {check.n_rows} rows)",
                  title_justify="left")
    for name, justify in [("layer", "left"), ("parameter", "left"), ("entries", "right"),
                          ("max abs error", "right"), ("max relative error", "right")]:
        table.add_column(name, justify=justify)
    for (layer, param, abs_err, rel_err), (checked, total) in zip(check.rows, check.sizes):
        style = "red" if rel_err > threshold else None
        entries = f"{checked}" if checked == total else f"{checked} of {total}"
        table.add_row(layer, param, entries, f"{abs_err:.2e}", f"{rel_err:.2e}", style=style)
    Console(highlight=False).print(table)
    failed = [f"{layer}.{param} ({rel_err:.1e})" for layer, param, _, rel_err in check.failed()]
    if failed:
        raise RunError(f"Gradient check failed: the relative error of {', '.join(failed)} exceeds "
                       f"{threshold:g}. The backward pass of those layers disagrees with finite differences.")
    click.echo(f"OK: every gradient matches within a relative error of {threshold:g}.")
