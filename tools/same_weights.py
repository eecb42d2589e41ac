"""Check that the shipped configs still train to the same weights, bit for bit.

Trains every config in configs/ whose data is in the repository (a few epochs each, through
the `nettrain` command as a user runs it), also once with --diagnose, and hashes each run's
model.npz arrays and its predictions on the test split. `--record` writes the digests to
tools/same_weights.json; without it the digests are compared with that file and every
config whose weights changed is listed (exit code 1).

Floating-point results depend on the machine's BLAS, so compare digests recorded on the
same machine:

    python tools/same_weights.py --record     # before a change
    python tools/same_weights.py              # after it: "same" for every config
"""

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DIGESTS = ROOT / "tools" / "same_weights.json"
EPOCHS = 4
# (config, extra arguments): --diagnose adds the gradient-health callbacks to the loop.
RUNS = [(path.name, ()) for path in sorted((ROOT / "configs").glob("*.yaml"))] + [
    ("iris.yaml", ("--diagnose",)), ("sunspots_lstm.yaml", ("--diagnose",))]


def data_in_repo(config):
    """True when every data file the config names is present (downloads are left out)."""
    import yaml

    text = yaml.safe_load(config.read_text(encoding="utf-8"))
    data = text.get("data", {})
    names = [data[k] for k in ("path", "train", "val", "test", "images") if data.get(k)]
    return all((config.parent / name).exists() for name in names)


def digest(arrays):
    h = hashlib.sha256()
    for key in sorted(arrays):
        value = np.ascontiguousarray(arrays[key])
        h.update(key.encode() + str(value.dtype).encode() + str(value.shape).encode())
        h.update(value.tobytes())
    return h.hexdigest()[:16]


def train(config, extra, out):
    subprocess.run(["nettrain", "fit", str(config), "--quiet", "--out", str(out),
                    "--set", f"training.epochs={EPOCHS}", *extra],
                   check=True, capture_output=True, text=True)
    run = next(p for p in Path(out).glob("*/*") if (p / "model.npz").exists())
    with np.load(run / "model.npz", allow_pickle=False) as archive:
        weights = {k: archive[k] for k in archive.files if k != "architecture"}
    predicted = subprocess.run(["nettrain", "evaluate", str(run), "--split", "test", "--json"],
                               capture_output=True, text=True)
    report = None
    if predicted.returncode == 0:  # the run's path changes from run to run: leave it out
        report = json.loads(predicted.stdout)
        report.pop("run")
        report = hashlib.sha256(json.dumps(report, sort_keys=True).encode()).hexdigest()[:16]
    return {"weights": digest(weights), "test_report": report}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help=f"write {DIGESTS.name}")
    args = parser.parse_args(argv)
    found = {}
    for name, extra in RUNS:
        config = ROOT / "configs" / name
        if not data_in_repo(config):
            continue
        key = " ".join([name, *extra])
        with tempfile.TemporaryDirectory() as out:
            found[key] = train(config, extra, out)
        print(f"{key:40s} {found[key]['weights']}", flush=True)
    if args.record:
        DIGESTS.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"recorded {len(found)} runs in {DIGESTS.relative_to(ROOT)}")
        return 0
    before = json.loads(DIGESTS.read_text(encoding="utf-8"))
    changed = [k for k in before if found.get(k, {}).get("weights") != before[k]["weights"]]
    reports = [k for k in before if found.get(k, {}).get("test_report") != before[k]["test_report"]]
    for key in before:
        state = "weights differ" if key in changed else (
            "test report differs" if key in reports else "same")
        print(f"{key:40s} {state}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
