"""Can a second core share the optimizer update? Adam on one thread vs split over two.

The update of the MNIST MLP's 235,146 parameters is about ten NumPy passes per step; NumPy
runs each on one core. This times the same update (nettrain's Adam on a flat buffer) done
whole on the calling thread, and split in two halves of which a worker thread does one.
Caches are flushed between steps, as the products of a training step flush them. It also
times an empty hand-over to a worker thread, the fixed cost of any split. Run from the
repository root:

    python benchmarks/bench_threads.py
"""

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from nettrain.nn.model import ParamList  # noqa: E402
from nettrain.nn.optimizers import Adam  # noqa: E402

N_PARAMS = 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10


def flat_params(start, stop, params, grads):
    """A ParamList over params[start:stop], the form Model.named_params() hands optimizers."""
    p, g = params[start:stop], grads[start:stop]
    return ParamList([("p", p, g)], p, g)


def median_us(step, flush, steps):
    times = []
    for _ in range(steps):
        flush()
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    params = rng.standard_normal(N_PARAMS, dtype=np.float32)
    grads = rng.standard_normal(N_PARAMS, dtype=np.float32) * 1e-2
    half = N_PARAMS // 2
    whole, first, second = (flat_params(a, b, params, grads)
                            for a, b in ((0, N_PARAMS), (0, half), (half, N_PARAMS)))
    one, two_a, two_b = Adam(), Adam(), Adam()
    evict = np.zeros(64 << 20, np.uint8)  # larger than the caches

    def flush():
        evict[::64] += 1

    pool = ThreadPoolExecutor(1)

    def split():
        other = pool.submit(two_b.step, second)
        two_a.step(first)
        other.result()

    def handover():
        pool.submit(int).result()

    rows = [("Adam update, one thread", median_us(lambda: one.step(whole), flush, args.steps)),
            ("Adam update, halves on two threads", median_us(split, flush, args.steps)),
            ("empty hand-over to a worker thread", median_us(handover, lambda: None, args.steps))]
    pool.shutdown()
    print(f"{N_PARAMS:,} float32 parameters; medians of {args.steps} steps; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f}\n")
    print("| what | microseconds |\n| --- | --- |")
    for label, us in rows:
        print(f"| {label} | {us:.0f} |")


if __name__ == "__main__":
    main()
