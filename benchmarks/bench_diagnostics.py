"""The cost of `fit --diagnose`: seconds per epoch with and without the diagnostics callback.

Both contenders train the MNIST benchmark MLP (784-256-128-10, relu, Adam lr 0.001, batch
128, float32) with nettrain's own Trainer, one epoch per timing. Rounds alternate the order
of the two and the table shows medians, so a slow moment on a shared machine hits both.
Run from the repository root:

    python benchmarks/bench_diagnostics.py                 # 60,000 samples, 7 rounds
    python benchmarks/bench_diagnostics.py --samples 20000 --repeats 5 --threads 1
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MNIST_LAYERS, blas_threads, median, mnist_data, timed  # noqa: E402


class Contender:
    """A kept model and optimizer; `epoch()` runs one Trainer epoch, diagnosed or not."""

    def __init__(self, X, y, batch, diagnose):
        from nettrain.nn.losses import CrossEntropyLoss
        from nettrain.nn.model import Model
        from nettrain.nn.optimizers import Adam
        from nettrain.training.diagnostics import Diagnostics

        self.model = Model(MNIST_LAYERS, X.shape[1], dtype="float32", rng=0)
        self.loss, self.optimizer = CrossEntropyLoss(), Adam(lr=1e-3)
        self.rng, self.batch, self.data = np.random.default_rng(0), batch, (X, y)
        self.make_callbacks = (lambda: [Diagnostics()]) if diagnose else (lambda: [])

    def epoch(self):
        from nettrain.training.trainer import Trainer

        Trainer(self.model, self.loss, self.optimizer, epochs=1, batch_size=self.batch,
                shuffle=True, rng=self.rng, callbacks=self.make_callbacks()).train(self.data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all)")
    parser.add_argument("--random", action="store_true", help="random data even if MNIST is present")
    args = parser.parse_args()
    X, y, source = mnist_data(args.samples, real=not args.random)
    plain = Contender(X, y, args.batch, diagnose=False)
    diagnosed = Contender(X, y, args.batch, diagnose=True)
    times = {"without --diagnose": [], "with --diagnose": []}
    cpu = {label: [] for label in times}
    with blas_threads(args.threads):
        plain.epoch(), diagnosed.epoch()  # warm-up: allocation, page faults, BLAS start-up
        for r in range(args.repeats):
            pairs = [("without --diagnose", plain), ("with --diagnose", diagnosed)]
            for label, contender in pairs if r % 2 == 0 else pairs[::-1]:
                started = time.process_time()
                times[label].append(timed(contender.epoch))
                cpu[label].append(time.process_time() - started)
    base, diag = median(times["without --diagnose"]), median(times["with --diagnose"])
    print(f"784-256-128-10, Adam, batch {args.batch}, {source}, {args.repeats} rounds, "
          f"BLAS threads: {args.threads or 'all'}")
    for label, values in times.items():
        print(f"  {label:<20} median {median(values):.3f} s/epoch  "
              f"(min {min(values):.3f}, max {max(values):.3f}; CPU {median(cpu[label]):.3f} s)")
    fastest = min(times["with --diagnose"]) / min(times["without --diagnose"])
    print(f"  cost of --diagnose: {100 * (diag / base - 1):+.1f}% per epoch by medians, "
          f"{100 * (fastest - 1):+.1f}% by the fastest epochs, "
          f"{100 * (median(cpu['with --diagnose']) / median(cpu['without --diagnose']) - 1):+.1f}% "
          f"in CPU time (steadier on a busy machine with --threads 1)")


if __name__ == "__main__":
    main()
