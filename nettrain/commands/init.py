"""`nettrain init`: write a commented starter config that validates and trains as written."""

import os
from pathlib import Path
from string import Template

import click

TEMPLATES = {"classification": "iris.csv", "regression": "diabetes.csv"}  # template -> dataset
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


def render(template, out_dir, name="config.yaml"):
    """The starter config `template` to be saved as `name` in `out_dir` (the data path is relative to it)."""
    from nettrain.config.locations import flow
    from nettrain.data.downloads import shipped_dir

    dataset = shipped_dir() / TEMPLATES[template]
    try:
        data_path = Path(os.path.relpath(dataset, Path(out_dir).resolve())).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        data_path = dataset.as_posix()
    text = (TEMPLATE_DIR / f"{template}.yaml").read_text(encoding="utf-8")
    return Template(text).substitute(data_path=flow(data_path).ljust(19) + " ", config=name)


def _for_table(template, data, target, output, force, out_dir):
    """`init --data FILE --target COL`: a config for that table (see nettrain.commands.starter)."""
    from nettrain.commands.starter import profile
    from nettrain.commands.starter import render as render_for
    from nettrain.errors import ConfigError

    if template is not None:
        raise ConfigError(f"Give a TEMPLATE ({template}) or --data FILE, not both.")
    if data is None or target is None:
        raise ConfigError("--data FILE and --target COL go together: the table and the "
                          "column to predict.")
    found = profile(Path(data), target)
    text = render_for(found, out_dir, output or "config.yaml")
    notes = [f"left out {c!r}: {why}" for c, why in found["exclude"].items()]
    notes += [f"dates: {c!r} -> {', '.join(parts)}" for c, parts in found["dates"].items()]
    for note in notes:
        click.echo(f"Note: {note}", err=True)
    if not output:
        click.echo(text, nl=False)
        return
    _write(text, output, force)
    click.echo(f"Wrote {output}. Next: nettrain validate {output} && nettrain fit {output}")


def _write(text, output, force):
    from nettrain.errors import NettrainError

    path = Path(output)
    if path.exists() and not force:
        raise NettrainError(f"{output} already exists; nothing was written. Use --force to overwrite "
                            "it, or choose another file with -o.")
    if path.is_dir():
        raise NettrainError(f"{output} is a directory; give a file name such as {path / 'config.yaml'}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise NettrainError(f"Cannot write {output}: {err.strerror or err}.") from None


@click.command()
@click.argument("template", required=False, default=None, type=click.Choice(list(TEMPLATES)))
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
    out_dir = Path(output).parent if output else Path.cwd()
    if data is not None or target is not None:
        _for_table(template, data, target, output, force, out_dir)
        return
    template = template or "classification"
    text = render(template, out_dir, output or "config.yaml")
    from nettrain.data.downloads import shipped_dir

    if not (shipped_dir() / TEMPLATES[template]).is_file():
        click.echo(f"Note: {shipped_dir() / TEMPLATES[template]} was not found; point data.path at "
                   "your data before training.", err=True)
    if not output:
        click.echo(text, nl=False)
        return
    _write(text, output, force)
    click.echo(f"Wrote {output}. Next: nettrain validate {output} && nettrain fit {output}")
