"""`nettrain init`: write a commented starter config that validates and trains as written."""

import click

TEMPLATES = ["classification", "regression"]


@click.command()
@click.argument("template", required=False, default=None, type=click.Choice(TEMPLATES))
@click.option("--data", "data", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Write a config for this table (.csv, .tsv, .parquet) instead of a template.")
@click.option("--target", default=None, metavar="COL", help="With --data: the column to predict.")
@click.option("-o", "--output", type=click.Path(), metavar="FILE",
              help="Write the config to FILE instead of printing it.")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
def command(template, data, target, output, force):
    """Write a commented starter config for TEMPLATE (default: classification).

    \b
    classification: iris species (datasets/iris.csv), cross_entropy, accuracy and f1
    regression:     diabetes progression (datasets/diabetes.csv), mse, r2, mae and rmse
    The data path is written relative to FILE's folder (or to the current folder when the
    config is printed). It validates and trains as written.
    With --data FILE --target COL, the config is written for that table: task, output units,
    columns left out (row ids, leaks, text with too many values), dates, missing values,
    class weights, split and metrics, each with a comment saying why.
    Examples:
      nettrain init classification -o my.yaml && nettrain fit my.yaml
      nettrain init regression > reg.yaml
      nettrain init --data loans.csv --target default -o loans.yaml
    """
    from nettrain.api import starter_config
    from nettrain.errors import ConfigError

    if data is not None or target is not None:
        if template is not None:
            raise ConfigError(f"Give a TEMPLATE ({template}) or --data FILE, not both.")
        if data is None or target is None:
            raise ConfigError("--data FILE and --target COL go together: the table and the "
                              "column to predict.")
    starter = starter_config(template, data=data, target=target, path=output)
    for note in starter.notes:
        click.echo(f"Note: {note}", err=True)
    if not output:
        click.echo(starter.text, nl=False)
        return
    starter.write(force)
    click.echo(f"Wrote {output}. Next: nettrain validate {output} && nettrain fit {output}")
