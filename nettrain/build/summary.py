"""What `nettrain validate` reports: a config resolved with each value's source, what was
inferred from its data and the model it builds, without training."""

import functools
import math

from nettrain.build.model import build_model
from nettrain.config.loading import Config, check_against_data
from nettrain.config.locations import flow, keypath
from nettrain.data.dataset import Dataset, prepare_data
from nettrain.nn.model import Model, batch_shape


class Validation:
    """A config checked against its data, and the model it describes.

    Attributes:
        config: the resolved Config, with what the data settled (as a run's config.yaml).
        dataset: the prepared data (task, features, output units, notes).
        model: the Model the config builds (float per `dtype`, weights from the seed); built
            on first use, so the config and the data can be shown before a model that cannot
            be built raises its ConfigError.
    """

    def __init__(self, config: Config, dataset: Dataset):
        self.config, self.dataset = config, dataset

    @functools.cached_property
    def model(self) -> Model:
        return build_model(self.config, self.dataset.preprocessor, rng=self.config["seed"]).model

    def config_lines(self) -> list[tuple[str, str | None]]:
        """The resolved config as YAML lines, each with its value's source ('default',
        'file', '--set'), or None for a line that only opens a section."""
        return annotated_lines(self.config.data, self.config.sources)

    def model_rows(self) -> list[tuple[str, str, str, int]]:
        """(index, layer, output shape, parameters) per layer, an input row first."""
        return [("", "input", batch_shape(self.model.input_shape), 0), *self.model.summary()]

    @property
    def n_train(self) -> int:
        """The rows of the train split."""
        return (self.dataset.n_rows or {}).get("train") or len(self.dataset.splits["train"][0])

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_train / self.config["training"]["batch_size"])


def validate_config(config: Config, fast_csv: bool = True) -> Validation:
    """Read `config`'s data and check the config against it (raising ConfigError or DataError
    with every problem found); the Validation's `model` is built on first use.

    `fast_csv` reads small, simple CSV files without importing pandas (the same data)."""
    dataset = prepare_data(config, fast_csv=fast_csv)
    config = config.with_values(dataset.settled)  # shown as the run's config.yaml records it
    check_against_data(config, dataset)
    return Validation(config, dataset)


def annotated_lines(data, sources, path=(), indent=0):
    """The resolved config as YAML lines, each (text, source of its value or None)."""
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
