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
METRICS_FILE = "metrics.json"
CHECKPOINT = "checkpoint.npz"
DIAGNOSTICS = "diagnostics.csv"


# ---------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def atomic_open(path, mode="w"):
    """Open a temporary file next to `path`; on success it replaces `path` in one rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; files follow the umask
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


def current_umask():
    """The process's umask (read without changing it where /proc tells it)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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


def write_table(path, table):
    """Write a pandas DataFrame as a CSV file, without its index."""
    with atomic_open(path, "w") as f:
        table.to_csv(f, index=False)


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


# ---------------------------------------------------------------- one writer per run directory

LOCK = ".lock"


class RunLock:
    """An exclusive lock on a run directory, held while one process writes into it.

    The lock is `fcntl.flock` on RUN/.lock, which holds the holder's PID. The kernel drops it
    when its process ends, however it ends, so the file of a killed process is stale: the next
    writer takes it over (its `stale_pid` names the dead holder). A second writer while the
    holder lives is refused with a NettrainError (exit 2) naming the PID. `release()` deletes
    the file. Where flock is not available, a live PID in the file stands for the lock.
    """

    def __init__(self, run_dir):
        self.path = Path(run_dir) / LOCK
        self.fd = None
        self.stale_pid = None

    def acquire(self):
        for _ in range(100):  # the holder may delete the file between our open and our lock
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                previous = _read_pid(fd)
                if not _lock(fd, previous):
                    raise NettrainError(
                        f"Run directory '{self.path.parent}' is in use: process {previous or '?'} "
                        f"is writing into it (it holds {self.path}). Wait for that run to finish "
                        "or stop it, then try again; two processes must never train one run "
                        "directory.")
                if not _same_file(fd, self.path):
                    os.close(fd)
                    continue
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            except BaseException:
                os.close(fd)
                raise
            self.fd = fd
            self.stale_pid = previous if previous not in (None, os.getpid()) else None
            return self
        raise NettrainError(f"Could not lock '{self.path}': it keeps being replaced.")

    def release(self):
        if self.fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self.fd)
        self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _read_pid(fd):
    try:
        return int(os.pread(fd, 32, 0).decode("ascii").strip())
    except (ValueError, UnicodeDecodeError):
        return None


def _lock(fd, previous):
    """Take the lock on `fd` without waiting; False when another process holds it."""
    try:
        import fcntl
    except ImportError:  # no flock: a live process named in the file holds it
        return previous in (None, os.getpid()) or not pid_alive(previous)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a file system without flock
        return previous in (None, os.getpid()) or not pid_alive(previous)
    return True


def _same_file(fd, path):
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def pid_alive(pid):
    """Whether a process with this PID exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def lock_run_dir(path):
    """A held RunLock on `path` (see RunLock)."""
    return RunLock(path).acquire()


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
