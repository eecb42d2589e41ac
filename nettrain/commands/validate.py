"""`nettrain validate`: check a config; print it resolved, with the data, model and steps per epoch."""

import sys

import click

SOURCE_STYLE = {"default": "dim", "file": "green", "--set": "bold yellow"}


def import_numpy_with_one_blas_thread():
    """Import NumPy with OpenBLAS's thread pool cut to one thread, leaving the environment
    as it was.

    validate multiplies nothing large, and starting the pool's threads costs up to 40 ms of
    startup on a busy machine (each new thread waits for a core). A thread count the user
    set, or NumPy already imported (validate called in-process), is left alone.
    """
    from nettrain.backend.threads import single_thread_blas, user_set_threads

    if "numpy" in sys.modules or user_set_threads():
        return
    with single_thread_blas():
        import numpy  # noqa: F401


def _print_config(console, summary):
    from rich.markup import escape

    lines = summary.config_lines()
    width = min(max(len(text) for text, _ in lines), 64) + 2
    rows = [f"[bold]Resolved config[/bold] ({summary.config.path}): each value's source after '#'"]
    for text, source in lines:
        comment = f"[{SOURCE_STYLE[source]}]# {source}[/]" if source else ""
        rows.append(escape(text.ljust(width)) + comment if comment else escape(text))
    console.print("\n".join(rows))  # one call: rich's cost per print adds up over ~80 lines


def _print_data(console, dataset):
    from rich.markup import escape

    console.print("\n".join([f"\n[bold]Data[/bold]: {dataset.task}, {dataset.n_features} input "
                             f"features, {dataset.n_outputs} output unit(s)"]
                            + [f"  {escape(str(note))}" for note in dataset.notes]))


def _print_model(console, summary):
    from rich.table import Table

    rows = summary.model_rows()
    table = Table(title="Model", title_justify="left", show_footer=True)
    table.add_column("#", justify="right", footer="")
    table.add_column("layer", footer="total")
    table.add_column("output shape", footer="")
    table.add_column("parameters", justify="right", footer=f"{summary.model.n_params():,}")
    for index, description, shape, count in rows:
        table.add_row(str(index), description, shape, f"{count:,}")
    console.print()
    console.print(table)


@click.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set optimizer.lr=0.01 (repeatable).")
def command(config, overrides):
    """Check CONFIG without training: parse it, fill in every default, read the data and
    build the model.

    \b
    Prints the resolved config with each value's source (default, file or --set), what
    was inferred from the data, the model summary and the steps per epoch. Exits 0 if the
    config is valid, 2 with every problem found otherwise.
    Example:
      nettrain validate configs/iris.yaml --set model.layers.0.units=64
    """
    import_numpy_with_one_blas_thread()
    from rich.console import Console

    from nettrain.api import validate

    summary = validate(config, overrides=overrides)
    # emoji=False: a value like ':ok:' prints as written (and rich's emoji table stays unloaded)
    console = Console(highlight=False, soft_wrap=True, emoji=False)
    _print_config(console, summary)
    _print_data(console, summary.dataset)
    _print_model(console, summary)
    n_train, batch = summary.n_train, summary.config["training"]["batch_size"]
    console.print(f"Steps per epoch: {summary.steps_per_epoch} "
                  f"(ceil({n_train} train rows / batch_size {batch}))")
    console.print(f"[bold green]OK[/]: {config} is valid.")
