"""Downloadable datasets: fetch IDX files from a mirror, verify checksums, cache, write .npz.

A file is streamed to a temporary name in the target folder while its md5 and sha256 are
computed, and renamed into place only once its size and both digests match the published
values, so an interrupted or corrupt download never sits in the cache. Fetch failures are
`RunError`s (exit 1); a bad dataset name, mirror or target folder is a usage error (exit 2).
"""

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from nettrain import registry
from nettrain.errors import ConfigError, DataError, RunError

MIRROR_ENV = "NETTRAIN_MIRROR"
CHUNK = 1 << 20
TIMEOUT_S = 60


@dataclass(frozen=True)
class Remote:
    """One published file: its size in bytes and its md5 and sha256 hex digests."""

    size: int
    md5: str
    sha256: str


@dataclass(frozen=True)
class Downloadable:
    """A dataset published as four gzip IDX files (train/test images and labels)."""

    title: str
    mirrors: tuple
    files: dict


IDX_NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

DOWNLOADABLE = {
    "mnist": Downloadable(
        title="MNIST handwritten digits, 28x28 grey, 10 classes, 60,000 train / 10,000 test",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        files={
            "train-images-idx3-ubyte.gz": Remote(
                9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            "train-labels-idx1-ubyte.gz": Remote(
                28881, "d53e105ee54ea40749a09fcbcd1e9432",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            "t10k-images-idx3-ubyte.gz": Remote(
                1648877, "9fb629c4189551a2d022fa330f9573f3",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            "t10k-labels-idx1-ubyte.gz": Remote(
                4542, "ec29112dd5afa0611ce80d1b7f02629c",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        },
    ),
    "fashion-mnist": Downloadable(
        title="Fashion-MNIST Zalando articles, 28x28 grey, 10 classes, 60,000 train / 10,000 test",
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        files={
            "train-images-idx3-ubyte.gz": Remote(
                26421880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
            "train-labels-idx1-ubyte.gz": Remote(
                29515, "25c81989df183df01b3e8a0aad5dffbe",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
            "t10k-images-idx3-ubyte.gz": Remote(
                4422102, "bef4ecab320f06d8554ea6380940ec79",
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
            "t10k-labels-idx1-ubyte.gz": Remote(
                5148, "bb300cfdad3c16e7a12a480ee83cd310",
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        },
    ),
}

# IDX element type codes (third magic byte) -> big-endian NumPy dtype strings
DOWNLOADABLE["imdb"] = Downloadable(  # written as CSV files of (text, label): see data/imdb.py
    title="IMDB movie reviews (Large Movie Review Dataset), text, 2 classes, 25,000 train / 25,000 test",
    mirrors=("https://ai.stanford.edu/~amaas/data/sentiment/",),
    files={"aclImdb_v1.tar.gz": Remote(
        84125825, "7c2ac02c03563afcf9b574c7e56c153a",
        "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe")},
)
TEXT_ARCHIVES = {"imdb": "aclImdb_v1.tar.gz"}  # datasets written as train/test CSV files

IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def default_dir(name):
    """Where `get` caches a dataset unless told otherwise: ./datasets/<name>/."""
    return Path("datasets") / name


def downloaded_dir(name):
    """The folder `get` wrote dataset `name` to by default, or None when it is not there."""
    here = default_dir(name) / ("train.csv" if name in TEXT_ARCHIVES else "train.npz")
    return here.parent if here.is_file() else None


def mirrors_for(name, mirror=None):
    """The mirrors to try in order: `mirror`, else $NETTRAIN_MIRROR, else the published ones.

    A mirror is an http(s) or file:// URL or a local folder holding the four files;
    `{name}` in it is replaced by the dataset name, so one variable can serve both datasets.
    """
    chosen = mirror or os.environ.get(MIRROR_ENV)
    if not chosen:
        return list(DOWNLOADABLE[name].mirrors)
    chosen = chosen.replace("{name}", name)
    scheme = urllib.parse.urlparse(chosen).scheme
    if scheme in ("http", "https", "file"):
        return [chosen]
    if len(scheme) > 1:
        raise ConfigError(
            f"Mirror {chosen!r} has an unsupported scheme '{scheme}'. "
            "Give an http(s):// or file:// URL or a local folder."
        )
    if not Path(chosen).is_dir():
        raise ConfigError(f"Mirror folder {chosen!r} does not exist. Give a folder holding the IDX files.")
    return [Path(chosen).resolve().as_uri()]


def file_url(mirror, filename):
    return mirror.rstrip("/") + "/" + filename


def verify_file(path, remote):
    """True when the file at `path` has the published size, md5 and sha256."""
    if not path.is_file() or path.stat().st_size != remote.size:
        return False
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            md5.update(chunk)
            sha256.update(chunk)
    return md5.hexdigest() == remote.md5 and sha256.hexdigest() == remote.sha256


def _stream_to(url, fh):
    """Copy `url` into the open file `fh`; return (bytes, md5 hex, sha256 hex)."""
    md5, sha256, size = hashlib.md5(), hashlib.sha256(), 0
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        for chunk in iter(lambda: response.read(CHUNK), b""):
            fh.write(chunk)
            md5.update(chunk)
            sha256.update(chunk)
            size += len(chunk)
    return size, md5.hexdigest(), sha256.hexdigest()


def fetch_verified(url, dest, remote):
    """Download `url` to `dest` through a temporary file, renamed only once verified.

    Raises RunError naming the URL and what failed (network, size, md5, sha256); the
    temporary file is removed in every failure case.
    """
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            size, md5, sha256 = _stream_to(url, fh)
        problem = _mismatch(size, md5, sha256, remote)
        if problem:
            raise RunError(f"{url}: {problem}")
        _publish(tmp, dest)
    except (OSError, http.client.HTTPException, ValueError) as err:
        raise RunError(f"{url}: download failed ({_reason(err)}).") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _publish(tmp, dest):
    """Give a finished temporary file the usual permissions and rename it into place."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, dest)


def _reason(err):
    reason = getattr(err, "reason", None) or err
    return f"{type(err).__name__}: {reason}"


def _mismatch(size, md5, sha256, remote):
    if size != remote.size:
        return f"got {size:,} bytes, expected {remote.size:,} (a partial or wrong file)."
    if md5 != remote.md5:
        return f"md5 {md5} does not match the published {remote.md5} (a corrupt file)."
    if sha256 != remote.sha256:
        return f"sha256 {sha256} does not match the published {remote.sha256} (a corrupt file)."
    return ""


def fetch_file(filename, remote, folder, mirrors, report):
    """Make `folder/filename` a verified copy, from the cache or the first mirror that works."""
    dest = folder / filename
    if verify_file(dest, remote):
        report(f"{filename}: cached, md5 and sha256 verified")
        return dest
    if dest.exists():
        report(f"{filename}: cached copy fails verification, downloading again")
        dest.unlink()
    failures = []
    for mirror in mirrors:
        url = file_url(mirror, filename)
        try:
            fetch_verified(url, dest, remote)
        except RunError as err:
            failures.append(str(err))
            continue
        report(f"{filename}: downloaded from {url}, md5 and sha256 verified")
        return dest
    raise RunError(
        f"Could not get a verified {filename}; nothing was left in {folder}. "
        + " ".join(failures)
        + f" Try another mirror with --mirror URL or ${MIRROR_ENV}."
    )


def read_idx(path):
    """Parse a gzip IDX file into a NumPy array with the shape its header gives."""
    import numpy as np

    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (magic bytes {raw[:4].hex() or 'missing'}).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: IDX header is cut short ({len(raw)} bytes for {ndim} dimensions).")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: IDX header says shape {dims} ({expected:,} data bytes), "
            f"the file holds {len(raw) - header:,}."
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def write_split(folder, split, images_shape=False):
    """Write `folder/<split>.npz` with X uint8 (n, rows*cols) and y uint8 (n,), atomically;
    with `images_shape`, `folder/<split>_images.npz` with X uint8 (n, 1, rows, cols)."""
    import numpy as np

    images_name, labels_name = IDX_NAMES[split]
    images, labels = read_idx(folder / images_name), read_idx(folder / labels_name)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(
            f"{folder}: {images_name} has shape {images.shape} and {labels_name} {labels.shape}; "
            "expected (n, rows, cols) images and n labels."
        )
    name = f"{split}_images" if images_shape else split
    dest = folder / f"{name}.npz"
    X = images[:, None] if images_shape else images.reshape(len(images), -1)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, X=X, y=labels)
        _publish(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest, images.shape, labels.shape


def get(name, folder=None, mirror=None, report=print):
    """Download (or reuse) dataset `name` into `folder` and write train.npz and test.npz.

    Returns the paths of the two .npz files. `report` receives one line per step.
    """
    dataset = registry.lookup("dataset", DOWNLOADABLE, name)
    folder = Path(folder) if folder is not None else default_dir(name)
    mirrors = mirrors_for(name, mirror)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"Cannot create the target folder {folder}: {err.strerror}.") from None
    for filename, remote in dataset.files.items():
        fetch_file(filename, remote, folder, mirrors, report)
    if name in TEXT_ARCHIVES:
        from nettrain.data.imdb import write_csvs

        return write_csvs(folder, folder / TEXT_ARCHIVES[name], report, publish=_publish)
    written = []
    for split in IDX_NAMES:
        dest, x_shape, y_shape = write_split(folder, split)
        report(f"{dest}: X uint8 {(x_shape[0], x_shape[1] * x_shape[2])}, y uint8 {y_shape}")
        written.append(dest)
    for split in IDX_NAMES:  # the same images as (n, C, H, W), for convolutional configs
        dest, x_shape, y_shape = write_split(folder, split, images_shape=True)
        report(f"{dest}: X uint8 {(x_shape[0], 1, *x_shape[1:])}, y uint8 {y_shape}")
        written.append(dest)
    return written


def shipped_dir(package=None):
    """The shipped CSV datasets: nettrain/datasets inside an installed wheel (setup.py copies
    them there), else the datasets/ folder beside the package in a source checkout."""
    package = Path(package) if package is not None else Path(__file__).resolve().parent.parent
    inside = package / "datasets"
    return inside if inside.is_dir() else package.parent / "datasets"


def shipped_datasets(folder=None):
    """(name, rows, columns) for each CSV in the shipped datasets folder, by name."""
    folder = Path(folder) if folder is not None else shipped_dir()
    rows = []
    for path in sorted(folder.glob("*.csv")):
        with open(path, "rb") as fh:
            header = fh.readline().decode("utf-8", "replace").strip()
            n_rows = sum(1 for line in fh if line.strip())
        rows.append((path.name, n_rows, len(header.split(",")) if header else 0))
    return rows
