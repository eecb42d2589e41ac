"""The Large Movie Review Dataset (Maas et al., 2011) as two CSV files of (text, label).

`nettrain datasets get imdb` fetches and verifies aclImdb_v1.tar.gz like the other downloads
(see `downloads`), then reads the labelled reviews straight from the archive,
`aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`, and writes `train.csv` and `test.csv`
with columns `text` and `label` (`neg` or `pos`), sorted by label and review id. The
unlabelled `train/unsup` reviews are left out.
"""

import csv
import os
import tarfile
import tempfile

from nettrain.errors import DataError

SPLITS = ("train", "test")
LABELS = ("neg", "pos")


def _review(name):
    """(split, label, id) for a labelled review's member name, else None."""
    parts = name.split("/")
    if len(parts) != 4 or parts[1] not in SPLITS or parts[2] not in LABELS:
        return None
    stem = parts[3][:-4] if parts[3].endswith(".txt") else None
    number = stem.split("_")[0] if stem else ""
    return (parts[1], parts[2], int(number)) if number.isdigit() else None


def read_reviews(archive):
    """{split: [(label, id, text)]} from the archive, in archive order."""
    found = {split: [] for split in SPLITS}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                key = _review(member.name) if member.isfile() else None
                if key is None:
                    continue
                text = tar.extractfile(member).read().decode("utf-8", errors="replace")
                found[key[0]].append((key[1], key[2], text))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(f"{archive}: not a readable .tar.gz archive ({err}).") from None
    empty = [split for split, rows in found.items() if not rows]
    if empty:
        raise DataError(f"{archive} holds no reviews under aclImdb/{empty[0]}/pos or /neg: it is "
                        "not the Large Movie Review Dataset archive.")
    return found


def write_csvs(folder, archive, report=print, publish=os.replace):
    """Write folder/train.csv and folder/test.csv (text, label), atomically; return their paths.

    `publish(tmp, dest)` moves a finished temporary file into place (downloads passes the one
    that also sets the usual permissions)."""
    written = []
    for split, rows in read_reviews(archive).items():
        rows.sort(key=lambda row: (row[0], row[1]))
        dest = folder / f"{split}.csv"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{split}.", suffix=".csv")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["text", "label"])
                writer.writerows((text, label) for label, _, text in rows)
            publish(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        counts = ", ".join(f"{sum(r[0] == label for r in rows):,} {label}" for label in LABELS)
        report(f"{dest}: {len(rows):,} reviews ({counts}), columns text, label")
        written.append(dest)
    return written
