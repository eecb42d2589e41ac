"""`nettrain validate`: check a config; print it resolved, with the data, model and steps per epoch."""

import math
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


def annotated_lines(data, sources, path=(), indent=0):
    """The resolved config as YAML lines, each (text, source of its value or None)."""
    from nettrain.config.locations import flow, keypath

    pad, lines = " " * indent, []
    for key, value in data.items():
        here = path + (key,)
        if keypath(here) in sources or not value or not isinstance(value, (dict, list)):
            lines.append((f"{pad}{key}: {flow(value)}", sources.get(keypath(here))))
        elif isinstance(value, dict):
            lines += [(f"{pad}{key}:", None)] + annotated_lines(value, sources, here, indent + 2)
        else:  # a list of mappings (model.layers): one "- " block per item
            lines.append((f"{pad}{key}:", None))
            for i, item in enumerate(value):
                block = annotated_lines(item, sources, here + (i,), indent + 4)
                block[0] = (f"{pad}  - {block[0][0].lstrip()}", block[0][1])
                lines += block
    return lines


def _print_config(console, config):
    from rich.markup import escape

    lines = annotated_lines(config.data, config.sources)
    width = min(max(len(text) for text, _ in lines), 64) + 2
    rows = [f"[bold]Resolved config[/bold] ({config.path}): each value's source after '#'"]
    for text, source in lines:
        comment = f"[{SOURCE_STYLE[source]}]# {source}[/]" if source else ""
        rows.append(escape(text.ljust(width)) + comment if comment else escape(text))
    console.print("\n".join(rows))  # one call: rich's cost per print adds up over ~80 lines


def _print_data(console, config, dataset):
    from rich.markup import escape

    console.print("\n".join([f"\n[bold]Data[/bold]: {dataset.task}, {dataset.n_features} input "
                             f"features, {dataset.n_outputs} output unit(s)"]
                            + [f"  {escape(str(note))}" for note in dataset.notes]))


def _print_model(console, config, dataset):
    from rich.table import Table

    from nettrain.build.model import build_model
    from nettrain.nn.model import batch_shape

    model = build_model(config, dataset.preprocessor, rng=config["seed"]).model
    table = Table(title="Model", title_justify="left", show_footer=True)
    table.add_column("#", justify="right", footer="")
    table.add_column("layer", footer="total")
    table.add_column("output shape", footer="")
    table.add_column("parameters", justify="right", footer=f"{model.n_params():,}")
    table.add_row("", "input", batch_shape(model.input_shape), "0")
    for index, description, shape, count in model.summary():
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

    from nettrain.config.loading import check_against_data, load_config
    from nettrain.data.dataset import prepare_data

    cfg = load_config(config, overrides)
    dataset = prepare_data(cfg, fast_csv=True)
    cfg = cfg.with_values(dataset.settled)  # printed as the run's config.yaml records it
    check_against_data(cfg, dataset)
    # emoji=False: a value like ':ok:' prints as written (and rich's emoji table stays unloaded)
    console = Console(highlight=False, soft_wrap=True, emoji=False)
    _print_config(console, cfg)
    _print_data(console, cfg, dataset)
    _print_model(console, cfg, dataset)
    n_train = (dataset.n_rows or {}).get("train") or len(dataset.splits["train"][0])
    batch = cfg["training"]["batch_size"]
    console.print(f"Steps per epoch: {math.ceil(n_train / batch)} "
                  f"(ceil({n_train} train rows / batch_size {batch}))")
    console.print(f"[bold green]OK[/]: {config} is valid.")
