"""Wall time of `nettrain --help` and `nettrain validate` on a small config, as a user sees it.

Each command runs as a fresh process, the commands interleaved, and the table shows the
median and the fastest of the runs. `--imports` adds the slowest imports of each command
(python -X importtime), to see what a command pulls in; `--shipped` times `validate` on
every small shipped config. Run from the repository root:

    python benchmarks/bench_startup.py
    python benchmarks/bench_startup.py --runs 20 --imports
    python benchmarks/bench_startup.py --shipped

The commands run with Python's bytecode cache on, as for an installed package, even where
PYTHONDONTWRITEBYTECODE is set: the first, untimed run of each writes the .pyc files.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMALL_CONFIG = REPO / "configs" / "iris.yaml"
SHIPPED = ["iris", "wine", "penguins", "breast_cancer", "diabetes", "linnerud"]
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def nettrain_executable():
    """The `nettrain` script beside this Python (a venv's bin/), else the one on PATH."""
    here = Path(sys.executable).parent / "nettrain"
    return str(here) if here.exists() else shutil.which("nettrain")


def commands(configs):
    exe = nettrain_executable()
    return {"nettrain --help": [exe, "--help"],
            **{f"nettrain validate {os.path.relpath(c)}": [exe, "validate", str(c)]
               for c in configs}}


def run_once(argv):
    start = time.perf_counter()
    result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=ENV)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed with exit {result.returncode}:\n{result.stderr}")
    return elapsed


def slowest_imports(argv, top):
    """(cumulative ms, module) of the `top` slowest top-level imports of a command."""
    code = f"import sys; sys.argv = {argv!r}; from nettrain.cli import cli; cli()"
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", code], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, env=ENV).stderr
    rows = []
    for line in err.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            depth = (len(name) - len(name.lstrip())) // 2
            if depth <= 1:  # imported by the command itself, not by another package
                rows.append((int(parts[1]) / 1000, name.strip()))
    return sorted(rows, reverse=True)[:top]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--config", type=Path, default=SMALL_CONFIG)
    parser.add_argument("--shipped", action="store_true",
                        help="validate every small shipped config, not only --config")
    parser.add_argument("--imports", action="store_true", help="also list the slowest imports")
    args = parser.parse_args(argv)
    configs = [REPO / "configs" / f"{n}.yaml" for n in SHIPPED] if args.shipped else [args.config]
    cmds = commands(configs)
    load_before = os.getloadavg()[0]
    times = {name: [] for name in cmds}
    for argv_ in cmds.values():  # warm the file cache and .pyc files
        run_once(argv_)
    for _ in range(args.runs):
        for name, argv_ in cmds.items():
            times[name].append(run_once(argv_))
    print(f"{args.runs} runs each, interleaved; milliseconds of wall time per process; "
          f"{os.cpu_count()} CPUs, load average before/after: {load_before:.2f}/"
          f"{os.getloadavg()[0]:.2f}\n")
    print("| command | median | fastest |\n| --- | --- | --- |")
    for name, values in times.items():
        print(f"| `{name}` | {1000 * statistics.median(values):.0f} | {1000 * min(values):.0f} |")
    if args.imports:
        for name, argv_ in cmds.items():
            print(f"\nslowest imports of `{name}` (cumulative ms, -X importtime):")
            for ms, module in slowest_imports(["nettrain"] + argv_[1:], 8):
                print(f"  {ms:7.1f}  {module}")


if __name__ == "__main__":
    main()
