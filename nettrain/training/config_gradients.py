"""`nettrain gradcheck`: the gradient check of a config's model, loss and regularization."""

from typing import NamedTuple

from nettrain.backend import xp
from nettrain.build.model import build_model
from nettrain.config.loading import check_against_data
from nettrain.data.dataset import prepare_data
from nettrain.nn.finite_differences import THRESHOLD, check_gradients


class GradientCheck(NamedTuple):
    """The result of a config's gradient check.

    Attributes:
        rows: (layer, parameter, max abs error, max relative error) per parameter array.
        sizes: (entries checked, entries) per row.
        n_rows: the train rows the gradients were taken on (fewer than asked on a small
            train split).
    """

    rows: list
    sizes: list
    n_rows: int

    @property
    def threshold(self) -> float:
        """The largest relative error that passes."""
        return THRESHOLD

    def failed(self) -> list:
        """The rows whose relative error exceeds the threshold."""
        return [row for row in self.rows if row[3] > THRESHOLD]


def check_config_gradients(config, n_rows=8, max_entries=1000, eps=1e-6):
    """Gradient check of a config's model, loss and regularization on its first train rows.

    The model is built in float64 from `model.layers` with the config's seed; X and y are
    the first `n_rows` rows of the prepared train split. A parameter array with more than
    `max_entries` entries is checked on that many of them, chosen at random (None: all).

    Returns:
        a `GradientCheck` (rows, sizes, n_rows).
    """
    dataset = prepare_data(config)
    check_against_data(config, dataset)
    X, y = dataset.splits["train"]
    X, y = xp.asarray(X[:n_rows], dtype=xp.float64), y[:n_rows]
    rng = xp.random.default_rng(config["seed"])
    model, loss = build_model(config, dataset.preprocessor, rng=rng, dtype="float64")
    reg = config["regularization"]
    rows = check_gradients(model, loss, X, y, l1=reg["l1"], l2=reg["l2"], eps=eps,
                           max_entries=max_entries, rng=rng)
    sizes = [(min(p.size, max_entries or p.size), p.size) for _, p, _ in model.named_params()]
    return GradientCheck(rows, sizes, len(X))
