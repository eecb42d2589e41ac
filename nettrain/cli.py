"""The `nettrain` command line: a thin layer over the Python API.

Each command lives in `nettrain/commands/<verb>.py` and is imported only when it runs, so
`nettrain --help` starts without NumPy or pandas. Library errors become one clear paragraph
on stderr and the exit code the error class names (2 bad input, 1 run failure, 130 Ctrl-C).
"""

import importlib
import importlib.util
import sys

import click

from nettrain.errors import NettrainError
from nettrain.version import __version__

# verb -> (module under nettrain.commands, one-line help shown by `nettrain --help`)
COMMANDS = {
    "fit": ("fit", "Train a model from a YAML config into a new run directory."),
    "evaluate": ("evaluate", "Report metrics of a trained run on a split or a labelled file."),
    "predict": ("predict", "Score new data with a trained run."),
    "grid-search": ("grid_search", "Try a space of hyperparameters in parallel and rank the trials."),
    "validate": ("validate", "Check a config, print it resolved with the model summary."),
    "gradcheck": ("gradcheck", "Compare analytic and finite-difference gradients, layer by layer."),
    "init": ("init", "Write a commented starter config."),
    "datasets": ("datasets", "List the shipped and downloadable datasets, or download one."),
    "export": ("export", "Write a trained run as an ONNX model that scores raw input columns."),
    "report": ("report", "Write one self-contained HTML page of plots and tables for runs."),
    "runs": ("runs", "List the run directories under a folder, newest first."),
    "cv": ("cv", "Cross-validate a config: a run per fold, cv.csv and oof.csv."),
    "lr-find": ("lr_find", "Run the learning-rate range test: a suggested lr and its plot."),
}


def report_error(err):
    """Print a library error as one paragraph, no traceback, and exit with its code."""
    click.echo(f"Error: {err}", err=True)
    sys.exit(err.exit_code)


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx):
        return [verb for verb in COMMANDS if self.get_command(ctx, verb, load=False)]

    def get_command(self, ctx, verb, load=True):
        if verb not in COMMANDS:
            return None
        module_name, short_help = COMMANDS[verb]
        path = f"nettrain.commands.{module_name}"
        if importlib.util.find_spec(path) is None:
            return None  # a verb whose module is not written yet
        if not load:
            return True
        command = importlib.import_module(path).command
        command.short_help = short_help
        return command

    def format_commands(self, ctx, formatter):
        rows = [(verb, COMMANDS[verb][1]) for verb in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except NettrainError as err:
            report_error(err)
        except KeyboardInterrupt:  # commands that save handle Ctrl-C themselves (Interrupted)
            click.echo("Interrupted.", err=True)
            sys.exit(130)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nettrain")
def cli():
    """Train neural networks from YAML config files on a vectorized NumPy core.

    \b
    Start with:   nettrain init classification -o my.yaml
                  nettrain fit configs/iris.yaml
    """
