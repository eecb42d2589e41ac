"""Image folders: one subfolder per class, read with Pillow into (n, C, H, W) pixels in [0, 1].

The layout of Keras's `image_dataset_from_directory` and torchvision's `ImageFolder`: the
subfolder names are the class labels, every .png, .jpg, .jpeg, .bmp and .gif file in one
(nested folders included) is a sample. The table that comes back has one row per file, the
pixel columns x0, x1, ... in C order and the label column `y`, so the usual steps (classes,
stratified splits per file, scaling per channel) apply; its `attrs["sample_shape"]` is
(C, H, W).
"""

from pathlib import Path

import numpy as np

from nettrain.errors import DataError

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
MODES = {"grayscale": ("L", 1), "rgb": ("RGB", 3)}


def image_files(folder, shown):
    """{class name: [files]} for the class subfolders of `folder`, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "not found"
        raise DataError(f"data.images: '{shown}' {what}. Give a folder with one subfolder per "
                        "class, each holding that class's images.")
    classes = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in sub.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
        if files:
            classes[sub.name] = files
    if not classes:
        raise DataError(f"data.images: '{shown}' holds no images: expected one subfolder per "
                        f"class with {', '.join(SUFFIXES)} files in it.")
    if len(classes) == 1:
        only = next(iter(classes))
        raise DataError(f"data.images: '{shown}' has images of one class only ({only!r}): a "
                        "classifier needs two classes or more, one subfolder each.")
    return classes


def read_image(path, mode, size):
    """One image as a (C, H, W) uint8 array, converted to `mode` and resized to `size` (H, W)."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert(mode)
        if size is not None and image.size != (size[1], size[0]):
            image = image.resize((size[1], size[0]), Image.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)
    return pixels.reshape(pixels.shape[0], pixels.shape[1], -1).transpose(2, 0, 1)


def _pixel_table(pixels):
    """(C, H, W) uint8 images as a table of pixel columns x0, x1, ... (C order) in [0, 1]."""
    import pandas as pd

    X = np.stack(pixels).astype(np.float32)
    X *= np.float32(1 / 255)
    return pd.DataFrame(X.reshape(len(X), -1), columns=[f"x{i}" for i in range(X[0].size)],
                        copy=False)


def read_image_folder(folder, shown, image_size=None, color="rgb", missing="error"):
    """The images under `folder` as a table of pixel columns (in [0, 1], float32) and `y`.

    Args:
        image_size: [H, W] every image is resized to; default: the first image's size, and
            an image of another size is an error naming it.
        color: grayscale (C = 1) or rgb (C = 3).
        missing: "drop" skips unreadable files and says how many; otherwise one is an error.
    """
    from PIL import UnidentifiedImageError

    mode, channels = MODES[color]
    wanted = None if image_size is None else tuple(image_size)
    size, pixels, labels, skipped = wanted, [], [], []
    for label, files in image_files(folder, shown).items():
        for path in files:
            try:
                image = read_image(path, mode, wanted)
            except (OSError, UnidentifiedImageError, ValueError) as err:
                if missing != "drop":
                    raise DataError(f"data.images: cannot read '{path}' as an image ({err}). "
                                    "Remove or replace it, or set data.missing: drop to skip "
                                    "unreadable files.") from None
                skipped.append(path)
                continue
            if size is None:
                size = image.shape[1:]
            elif image.shape[1:] != size:
                raise DataError(f"data.images: '{path}' is {image.shape[2]}x{image.shape[1]} "
                                f"pixels, but the first image is {size[1]}x{size[0]}. Set "
                                f"data.image_size: [{size[0]}, {size[1]}] to resize every "
                                "image to one size.")
            pixels.append(image)
            labels.append(label)
    if len(set(labels)) < 2:
        raise DataError(f"data.images: fewer than two classes have a readable image in '{shown}'.")
    frame = _pixel_table(pixels)
    frame["y"] = labels
    frame.attrs["sample_shape"] = [channels, *size]
    if skipped:
        frame.attrs["notes"] = [f"data.images: skipped {len(skipped)} unreadable file(s), as "
                                f"data.missing is 'drop' (first: '{skipped[0]}')"]
    return frame


def read_images_to_score(folder, shown, size, color="rgb"):
    """Every image under `folder` for evaluate and predict, as read_image_folder reads them.

    Each image is converted to `color` and resized to the run's `size` (H, W). The table has
    the pixel columns, `path` (the file, relative to `folder`) and, when the images sit in
    class subfolders as for training, the label column `y`; `attrs["row_names"]` names `path`.
    """
    from PIL import UnidentifiedImageError

    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"'{shown}' holds no images ({', '.join(SUFFIXES)} files, in it or in "
                        "its subfolders).")
    mode, _ = MODES[color]
    pixels = []
    for path in files:
        try:
            pixels.append(read_image(path, mode, tuple(size)))
        except (OSError, UnidentifiedImageError, ValueError) as err:
            raise DataError(f"Cannot read '{path}' as an image ({err}). Remove or replace "
                            "it.") from None
    frame = _pixel_table(pixels)
    relative = [p.relative_to(folder) for p in files]
    frame.insert(0, "path", [r.as_posix() for r in relative])
    if all(len(r.parts) > 1 for r in relative):  # class subfolders: their names are the labels
        frame["y"] = [r.parts[0] for r in relative]
    frame.attrs["row_names"] = "path"
    return frame
