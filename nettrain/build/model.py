"""The one model builder: the Model and the bound loss that a config describes for its data."""

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

import numpy as np

from nettrain.config.fit_data import resolve_auto_units
from nettrain.config.loading import Config
from nettrain.data.dataset import n_outputs
from nettrain.errors import ConfigError
from nettrain.nn.losses import Loss, get_loss
from nettrain.nn.model import Model, UnreadableModel, read_model_file
from nettrain.store import rundir


class FittedData(Protocol):
    """What the builder reads of the fitted data; a fitted data kind
    (`nettrain.data.kinds.DataKind`) has all of it.

    Attributes:
        task: "classification" or "regression".
        targets: the target column names.
        classes: the class labels in class-index order (classification), else None.
        class_counts: train rows per class, in the same order (classification), else None.
        data_facts: what the layers are told before they are built, e.g. `{"vocab_size": n}`.
        input_shape: the shape of one transformed sample, e.g. `(n_features,)`.
    """

    task: str
    targets: Sequence[str]
    classes: np.ndarray | Sequence | None
    class_counts: Sequence[int] | None
    data_facts: Mapping[str, int]

    @property
    def input_shape(self) -> tuple[int, ...]: ...


class BuiltModel(NamedTuple):
    """The model and its loss, bound to the classes and their train counts."""

    model: Model
    loss: Loss


class OutputCountError(ConfigError):
    """The model's output count is not what the target and loss need.

    Attributes:
        model: the model as built, for a caller that reports the mismatch in its own terms.
        n_out: the model's outputs; needed: the outputs the target and loss need.
    """

    def __init__(self, problem: str, model: Model, needed: int):
        super().__init__(problem)
        self.model, self.n_out, self.needed = model, model.n_out, needed


def build_model(config: Config, data: FittedData, *, rng: np.random.Generator | int,
                dtype: str | None = None, load_init: bool = False) -> BuiltModel:
    """The Model of `config["model"]` for `data`, and the config's loss bound to its classes.

    The output layer's `units: auto` becomes the number of outputs the target and the loss
    need (one per class for cross_entropy, one for binary_cross_entropy, one per target).

    Args:
        config: the resolved config.
        data: the fitted data description (a fitted data kind).
        rng: the Generator (or an int seed) that draws the initial weights and then the
            dropout masks; a Generator is used as given, so its caller can draw on after it.
        dtype: "float32" or "float64"; default: the config's `dtype`.
        load_init: fill the model with `model.init_from`'s weights when the config names one.

    Raises:
        OutputCountError: the model's outputs are not the number the target and loss need.
        ConfigError: a layer cannot be built, or `model.init_from` cannot be read or does not
            fit the model.
    """
    loss_name = config["loss"]["name"]
    needed = n_outputs(data.task, loss_name, data.classes, data.targets)
    layers = resolve_auto_units(config["model"]["layers"], needed)
    model = Model(layers, data.input_shape, dtype or config["dtype"], rng=rng,
                  data_facts=data.data_facts)
    if model.n_out != needed:
        raise OutputCountError(
            f"model.layers[{len(model.layers) - 1}]: the model has {model.n_out} outputs, but the "
            f"{data.task} target with loss {loss_name} needs {needed}. "
            f"Set the last dense layer's units to {needed}.", model, needed)
    if load_init and config["model"]["init_from"]:
        load_init_weights(model, config)
    classes = None if data.classes is None else np.asarray(data.classes).tolist()
    loss = get_loss(config["loss"]).bind(classes, data.class_counts)
    return BuiltModel(model, loss)


def load_init_weights(model: Model, config: Config) -> None:
    """Load `model.init_from` (a run directory or a model.npz) into `model`."""
    source = config.resolve_path(config["model"]["init_from"])
    file = source / rundir.MODEL if source.is_dir() else source
    where = f"model.init_from ({file})"
    try:
        _, arrays = read_model_file(file)
    except UnreadableModel as err:
        if err.kind == "missing":
            raise ConfigError(f"{where}: no such file. Give a run directory that holds a "
                              f"{rundir.MODEL}, or the path of a model.npz.") from None
        raise ConfigError(f"{where} is not a readable model.npz: {err.detail or err.kind}.") from None
    model.load_state_dict(arrays, source=where)
