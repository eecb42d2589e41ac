"""Peak memory (RSS) of `nettrain fit` on a generated numeric CSV of 1,000,000 rows x 100 columns.

Writes the CSV once (99 float features with 3 decimals and a 0/1 target, about 650 MB)
and a config beside it, then runs `nettrain fit` for one epoch in a child process and
reports the child's peak resident set size (getrusage), with the wall time. Run from the
repository root:

    python benchmarks/bench_memory.py                       # in a temporary folder
    python benchmarks/bench_memory.py --dir /tmp/nt-mem --keep   # reuse the CSV next time
"""

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHUNK_ROWS = 50_000
CONFIG = """\
name: memory-1m
seed: 0
data:
  path: big.csv
  target: y
  split: {{train: 0.8, val: 0.1, test: 0.1, stratify: false}}
model:
  layers:
    - {{type: dense, units: 64, activation: relu}}
    - {{type: dense, units: 2}}
optimizer: {{name: adam, lr: 0.001}}
training: {{epochs: {epochs}, batch_size: 512}}
metrics: [accuracy]
output: runs
"""


def write_csv(path, rows, cols, seed=0):
    """A header f0..f{cols-2},y and `rows` rows: normal features, y from a linear rule."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(cols - 1)
    with open(path, "w") as fh:
        fh.write(",".join([f"f{i}" for i in range(cols - 1)] + ["y"]) + "\n")
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            X = np.round(rng.standard_normal((n, cols - 1)), 3)
            y = (X @ w > 0).astype(np.int64)
            np.savetxt(fh, np.column_stack([X, y]), fmt=["%.3f"] * (cols - 1) + ["%d"], delimiter=",")


def nettrain_executable():
    here = Path(sys.executable).parent / "nettrain"
    return str(here) if here.exists() else shutil.which("nettrain")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the CSV and runs for another time")
    args = parser.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="nettrain-memory-"))
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "big.csv"
    try:
        marker = folder / f"big.csv.{args.rows}x{args.cols}"
        if not (csv.is_file() and marker.is_file()):
            started = time.perf_counter()
            write_csv(csv, args.rows, args.cols)
            marker.touch()
            print(f"wrote {csv} ({csv.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s")
        config = folder / "memory.yaml"
        config.write_text(CONFIG.format(epochs=args.epochs))
        started = time.perf_counter()
        result = subprocess.run([nettrain_executable(), "fit", str(config), "--quiet"],
                                capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"nettrain fit failed ({result.returncode}):\n{result.stderr}")
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
        data_mib = args.rows * (args.cols - 1) * 4 / 2**20
        print(f"nettrain fit, {args.rows:,} x {args.cols} CSV, {args.epochs} epoch(s): "
              f"peak RSS {peak_kib / 2**20:.2f} GiB ({peak_kib / 1024:.0f} MiB; the float32 "
              f"features alone are {data_mib:.0f} MiB), {elapsed:.0f} s")
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
