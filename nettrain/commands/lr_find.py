"""`nettrain lr-find`: the learning-rate range test of a config, a suggested lr and its plot."""

import click


@click.command("lr-find")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set training.batch_size=64 (repeatable).")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False), default="lr_find.png",
              show_default=True, metavar="FILE.png", help="Where to write the plot.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the result as JSON (suggested_lr, rule, lrs, losses, ...) instead.")
@click.option("--start-lr", default=1e-7, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="The lr of the first batch.")
@click.option("--end-lr", default=10.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="The lr the sweep reaches after --num-it batches.")
@click.option("--num-it", default=100, show_default=True, type=click.IntRange(min=6),
              help="Batches in the sweep.")
def command(config, overrides, out, as_json, start_lr, end_lr, num_it):
    """The learning-rate range test (Smith 2015; fastai's lr_find) for CONFIG.

    \b
    A model built from CONFIG trains on batches of the train split while the lr grows
    exponentially from --start-lr to --end-lr over --num-it batches; it stops early when
    the smoothed loss passes 4x its best. Prints the suggested lr (where the smoothed loss
    falls fastest, measured over half a decade of lr) and writes the loss against the lr to
    FILE.png. The config's optimizer,
    batch size and model are used as they are; no run directory is written.
    Examples:
      nettrain lr-find configs/iris.yaml
      nettrain lr-find configs/mnist_cnn.yaml --set training.batch_size=64 -o mnist_lr.png
    """
    import json

    from nettrain.api import lr_find

    result = lr_find(config, overrides=overrides, plot=out, start_lr=start_lr, end_lr=end_lr,
                     num_it=num_it)
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "plot": out}))
        return
    how = ("; stopped there: the loss diverged" if result.stopped == "diverged" else "")
    click.echo(f"Range test: {len(result.lrs)} batches of {result.batch_size}, lr {result.lrs[0]:.2g} "
               f"to {result.lrs[-1]:.2g}{how}.")
    click.echo(f"Suggested lr: {result.suggestion:.2g} ({result.rule})")
    if result.note:
        click.echo(f"Warning: {result.note}")
    click.echo(f"Plot: {out}")
