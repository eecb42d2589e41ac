"""The image-folder kind: one subfolder per class, each image one (C, H, W) sample in [0, 1]."""

from __future__ import annotations

from pathlib import Path

from nettrain.data.images import read_image_folder, read_images_to_score
from nettrain.data.kinds.base import register_data_kind
from nettrain.data.kinds.npz import ArrayKind
from nettrain.errors import ConfigError


@register_data_kind("images")
class ImageFolderKind(ArrayKind):
    """A folder of class subfolders (data.images), read with Pillow as `nettrain.data.images`
    describes: the pixels are columns x0, x1, ... and the subfolder name the label `y`. As
    arrays from then on; predict and evaluate also take a folder of images, each converted
    and resized as training read them, and predict's table names each file (`path`)."""

    @classmethod
    def files(cls, config):
        folder = config.data["data"]["images"]
        return {"all": (config.resolve_path(folder), str(folder))}

    @classmethod
    def read_for_folds(cls, config):
        raise ConfigError("cross-validation deals the rows of one table into folds: give "
                          "data.path (a .csv, .tsv or .parquet file), not data.images.")

    @classmethod
    def read(cls, config, files, fast=False):
        data = config.data["data"]
        return {name: read_image_folder(path, shown, data["image_size"], data["color"],
                                        data["missing"])
                for name, (path, shown) in files.items()}

    def read_to_score(self, source, keep=()):
        if not Path(source).is_dir():
            return super().read_to_score(source, keep)
        _, height, width = self.sample_shape
        return read_images_to_score(source, str(source), (height, width), self.settings["color"])

    def prediction_rows(self, frame, rows, keep=()):
        named = frame.attrs.get("row_names")  # a folder of images: which file each row is
        return super().prediction_rows(frame, rows, ([named] if named and named not in keep
                                                     else []) + list(keep))
