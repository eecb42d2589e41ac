"""TPE + ASHA against random search without pruning: the same trials, seed and space.

    python benchmarks/pruned_search.py [CONFIG] [--trials 20] [--epochs 60] [--folds K] [--out DIR]

Searches a 3-parameter space (learning rate, width, batch size) on the config's data (default
configs/breast_cancer.yaml) twice, in this process (workers=1, so the times compare): random
search training every trial to its last epoch, then TPE with Optuna's SuccessiveHalvingPruner.
Prints, for each, the epochs trained in all, the best val_loss and the wall time. With
`--folds K` every trial is scored by its mean over K folds (search.folds), ASHA pruning between
folds. Needs the `search` extra (Optuna).
"""

import argparse
import io
import json
import time
from pathlib import Path

from rich.console import Console

import nettrain

SPACE = {"optimizer.lr": {"log_uniform": [0.0001, 0.1]}, "model.layers.0.units": {"int": [4, 64]},
         "training.batch_size": [16, 32, 64]}


def epochs_trained(trial_dir):
    """The epochs a trial trained: its run's, or the sum over its folds' runs."""
    runs = sorted(trial_dir.glob("fold-*")) if (trial_dir / "cv.csv").exists() else [trial_dir]
    return sum(json.loads((run / "metrics.json").read_text())["epochs_run"] for run in runs)


def search(config, out, trials, epochs, method, pruner, folds=None):
    overrides = [f"search.method={method}", f"search.pruner={pruner}", f"search.trials={trials}",
                 f"search.space={json.dumps(SPACE)}", "search.metric=val_loss",
                 f"training.epochs={epochs}", "training.early_stopping=null",
                 f"search.folds={json.dumps(folds)}"]
    start = time.perf_counter()
    result = nettrain.grid_search(config, overrides=overrides, workers=1, out=out, quiet=True,
                                  console=Console(file=io.StringIO()))
    seconds = time.perf_counter() - start
    ids = result.results["id"].astype(str)
    epochs_run = sum(epochs_trained(result.path / i) for i in ids)
    return {"epochs": epochs_run, "best": float(result.results["val_loss"].iloc[0]), "seconds": seconds,
            "pruned": int((result.results["status"] == "pruned").sum())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(Path(__file__).parent.parent / "configs" /
                                                         "breast_cancer.yaml"))
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--folds", type=int, default=None, help="score each trial by K-fold cross-validation")
    parser.add_argument("--out", default="bench-search")
    args = parser.parse_args()
    out, trials, epochs, folds = Path(args.out), args.trials, args.epochs, args.folds
    rows = {"random, no pruning": search(args.config, out / "random", trials, epochs, "random", "none",
                                         folds),
            "tpe + asha": search(args.config, out / "tpe", trials, epochs, "tpe", "asha", folds)}
    each = f", each the mean over {folds} folds" if folds else ""
    print(f"{args.trials} trials of up to {args.epochs} epochs{each} on {args.config}")
    print(f"{'search':<20} {'epochs':>7} {'pruned':>7} {'best val_loss':>14} {'seconds':>8}")
    for name, row in rows.items():
        print(f"{name:<20} {row['epochs']:>7} {row['pruned']:>7} {row['best']:>14.4f} {row['seconds']:>8.1f}")
    base, tried = rows["random, no pruning"], rows["tpe + asha"]
    print(f"epochs: {tried['epochs'] / base['epochs']:.2f}x; best val_loss {tried['best']:.4f} vs "
          f"{base['best']:.4f} ({(tried['best'] - base['best']) / base['best']:+.1%})")


if __name__ == "__main__":
    main()
