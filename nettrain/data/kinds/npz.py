"""The npz kind: arrays X (n, ...) and y in an .npz file, each sample X's own shape."""

from __future__ import annotations

from nettrain.data.kinds.base import register_data_kind
from nettrain.data.kinds.table import TableKind
from nettrain.errors import ConfigError


@register_data_kind("npz")
class ArrayKind(TableKind):
    """Arrays from .npz files: X is read as columns x0, x1, ... (C order) and y as the target
    (y, or y0, y1, ... without data.target); each sample keeps X's shape (n, C, H, W), (n, T,
    F), or takes data.shape. Scaling is per channel for (C, H, W) samples, per feature for (T,
    F). Exported as one input `X`, as the file holds it (flat rows with data.shape)."""

    @classmethod
    def read_for_folds(cls, config):
        name = config.resolve_path(config["data"]["path"]).name
        raise ConfigError(f"data.path: cross-validation reads a table (.csv, .tsv, .parquet); "
                          f"{name} is an .npz file. Save X and y as a table to cross-validate.")

    def _export_form(self, graph, model_shape):
        sample = (self.n_features,) if self.settings["shape"] else model_shape
        return graph.array(self, sample, model_shape)
