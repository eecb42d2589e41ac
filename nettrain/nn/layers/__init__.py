"""Layers: one module per family, each layer one class registered in `LAYERS`.

`base` holds the protocol (`Layer`) and the table (`LAYERS`, filled by `@register_layer`);
importing this package imports every module in it, so a layer written as a new module here
is registered without editing any other file.
"""

import importlib
import pkgutil

from nettrain.nn.layers.base import LAYERS, Layer, register_layer

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

from nettrain.nn.layers.activation import ActivationLayer  # noqa: E402
from nettrain.nn.layers.dense import Dense  # noqa: E402
from nettrain.nn.layers.dropout import Dropout  # noqa: E402
from nettrain.nn.layers.normalization import BatchNorm  # noqa: E402

__all__ = ["LAYERS", "Layer", "register_layer", "ActivationLayer", "BatchNorm", "Dense", "Dropout"]
