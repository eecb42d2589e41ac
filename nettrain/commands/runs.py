"""`nettrain runs`: the run directories under a folder, one row each, newest first."""

import click


@click.command("runs")
@click.argument("folder", required=False, default="runs", type=click.Path(), metavar="[DIR]")
@click.option("--sort", "sort", metavar="KEY", default=None,
              help="Order by this column: best first for test_* metrics and best_value, newest "
                   "first for started, else ascending (default: newest first).")
@click.option("--csv", "as_csv", is_flag=True, help="Write CSV (every column) instead of a table.")
def command(folder, sort, as_csv):
    """List every run directory under DIR (default: runs/), grid-search trials included.

    \b
    Columns: name, path, started, state, epochs, stopped_reason, best_epoch, monitor,
    best_value, test_<metric> for each test metric, note. The state is finished,
    interrupted, running, unfinished (killed or diverged) or damaged; the note says what is
    missing or unreadable. From Python: nettrain.runs(DIR) returns the same DataFrame.
    """
    from nettrain.store.table import print_runs, runs

    frame = runs(folder, sort)
    if as_csv:
        click.echo(frame.to_csv(index=False), nl=False)
        return
    if frame.empty:
        click.echo(f"No run directories under {folder}.")
        return
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # a pipe or a file: no terminal width to fit, keep every column
        console = Console(width=200)
    print_runs(frame, console)
