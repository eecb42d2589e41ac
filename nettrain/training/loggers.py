"""`training.log`: the experiment trackers a run also writes to, each an optional extra.

    training.log: [tensorboard, mlflow]          # or a mapping with their options:
    training.log: {mlflow: {tracking_uri: http://localhost:5000, experiment: iris}}

Each is a callback of the training loop (metrics per epoch) with a `finish(path, status)`
for what exists only when the run has ended (model.npz, metrics.json).
"""

import importlib.util

from nettrain.config.trackers import logger_options
from nettrain.errors import ConfigError

EXTRAS = {"tensorboard": "tensorboardX", "mlflow": "mlflow"}  # logger -> the module its extra installs


def check_extras(log):
    """A ConfigError naming the extra of each configured logger that is not installed."""
    missing = [name for name in logger_options(log) if importlib.util.find_spec(EXTRAS[name]) is None]
    if missing:
        raise ConfigError([f"training.log: {name} needs the {name} extra, which is not installed. "
                           f"Install it with: pip install -e \".[{name}]\" (or pip install "
                           f"\"nettrain[{name}]\"), or remove {name} from training.log."
                           for name in missing])


def make_loggers(config, path, columns, console):
    """The logger callbacks `config["training"]["log"]` asks for, writing about run `path`."""
    options = logger_options(config["training"]["log"])
    check_extras(config["training"]["log"])
    loggers = []
    if "tensorboard" in options:
        from nettrain.training.tensorboard_log import TensorBoardLogger

        loggers.append(TensorBoardLogger(path / "tensorboard", columns,
                                         histograms=bool(config["training"]["diagnostics"])))
    if "mlflow" in options:
        from nettrain.training.mlflow_log import MLflowLogger

        loggers.append(MLflowLogger(options["mlflow"], config, path, columns, console))
    return loggers
