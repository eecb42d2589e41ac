"""Run directories: naming, atomic file writes, history rows and checkpoints.

Every file is written to a temporary file in the same folder, flushed and fsynced, then
renamed over the target with `os.replace`, so a crash (even SIGKILL) leaves either the
previous complete version of a file or the new complete one, never half of one.
"""

import contextlib
import csv
import io
import json
import os
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np

from nettrain.errors import ConfigError, NettrainError

CONFIG = "config.yaml"
MODEL = "model.npz"
PREPROCESS = "preprocess.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
CHECKPOINT = "checkpoint.npz"
DIAGNOSTICS = "diagnostics.csv"


# ---------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def atomic_open(path, mode="w"):
    """Open a temporary file next to `path`; on success it replaces `path` in one rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder):
    # The rename itself is durable only once the folder's entry is on disk (POSIX).
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text(path, text):
    with atomic_open(path, "w") as f:
        f.write(text)


def write_bytes(path, data):
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_npz(path, arrays):
    """Save a dict of arrays uncompressed; object arrays are refused (no pickle in files)."""
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"array {key!r} has dtype object, which would need pickle")
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def write_csv(path, header, rows):
    """Write a CSV file with one header line and one line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def append_csv_row(path, header, row):
    """Append one row to a CSV file, atomically: the whole file is rewritten with the row.

    History files hold one short row per epoch, so rewriting them costs little, and a crash
    can never leave a half-written row. The header is written when the file is new.
    """
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row)
    if not old:
        head = io.StringIO()
        csv.writer(head, lineterminator="\n").writerow(header)
        old = head.getvalue()
    write_text(path, old + buffer.getvalue())


# ---------------------------------------------------------------- run directories


def ensure_writable(output, where="output"):
    """Create `output` if needed and prove a file can be written there, before any training."""
    output = Path(output)
    try:
        output.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=output):
            pass
    except OSError as err:
        raise ConfigError(
            f"Cannot write run directories under '{output}' ({where}): "
            f"{err.strerror or err}. Choose a writable folder with --out DIR or the "
            f"`output:` key."
        ) from None
    return output


def new_run_dir(output, name, now=None):
    """Create and return `output/name/YYYYmmdd-HHMMSS[-N]`; an existing one is never reused."""
    parent = ensure_writable(Path(output) / name)
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    for n in range(10_000):
        path = parent / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise NettrainError(f"Too many run directories named '{parent / stamp}-N'.")


def claim_run_dir(path):
    """Use `path` itself as the run directory: created if absent, refused if it holds files."""
    path = Path(path)
    ensure_writable(path.parent, "the run directory's parent")
    path.mkdir(exist_ok=True)
    if any(path.iterdir()):
        raise NettrainError(f"Run directory '{path}' exists and is not empty; a run directory is "
                            "never overwritten. Choose a new one, or --resume it.")
    return path


def existing_run_dir(path):
    """A run directory given by the user (--resume, --init-from), checked to exist."""
    path = Path(path)
    if not path.is_dir():
        raise NettrainError(f"Run directory '{path}' does not exist.")
    return path


def remove_stale_temps(path):
    """Delete temporary files a killed process left behind (its complete files are kept)."""
    for tmp in Path(path).glob(".*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()


def read_history(path):
    """The rows of a history.csv as (header, list of rows of strings); empty when absent."""
    path = Path(path)
    if not path.exists():
        return [], []
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    return (rows[0], rows[1:]) if rows else ([], [])


# ---------------------------------------------------------------- checkpoints


def flatten(tree, prefix=""):
    """{"a": {"b": array}} -> {"a/b": array}: nested dicts of arrays to flat npz keys."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "/"))
        else:
            flat[name] = np.asarray(value)
    return flat


def unflatten(flat):
    """The inverse of `flatten`."""
    tree = {}
    for name, value in flat.items():
        *parents, leaf = name.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def save_checkpoint(path, arrays, meta):
    """Write nested dicts of arrays plus a JSON-able `meta` dict to one npz file."""
    flat = flatten(arrays)
    flat["meta"] = np.array(json.dumps(meta))
    write_npz(path, flat)


def load_checkpoint(path):
    """(arrays, meta) from `save_checkpoint`; an unreadable file is a clear error (exit 2)."""
    path = Path(path)
    if not path.exists():
        raise NettrainError(
            f"'{path}' does not exist: the run has no checkpoint to resume from. "
            f"Start a new run without --resume."
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            flat = {key: npz[key] for key in npz.files}
        meta = json.loads(str(flat.pop("meta")))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise NettrainError(
            f"Checkpoint '{path}' is corrupt or unreadable ({err}). It cannot be resumed; "
            f"start a new run, or --init-from the run's model.npz."
        ) from None
    return unflatten(flat), meta
