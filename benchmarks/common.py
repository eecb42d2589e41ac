"""Shared pieces of the benchmark scripts: data, the nettrain model, BLAS thread control."""

import contextlib
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "datasets" / "mnist"

MNIST_LAYERS = [
    {"type": "dense", "units": 256, "activation": "relu"},
    {"type": "dense", "units": 128, "activation": "relu"},
    {"type": "dense", "units": 10},
]
TABULAR_LAYERS = [
    {"type": "dense", "units": 64, "activation": "relu"},
    {"type": "dense", "units": 64, "activation": "relu"},
    {"type": "dense", "units": 2},
]


def mnist_data(n=60000, seed=0, real=True):
    """(X float32 (n, 784) in [0, 1], y int64 (n,), source): real MNIST when it is beside the repo."""
    images = SHARED_MNIST / "train-images-idx3-ubyte.gz"
    if real and images.is_file():
        from nettrain.data.downloads import read_idx

        X = read_idx(images).reshape(-1, 784)[:n].astype(np.float32) / 255
        y = read_idx(SHARED_MNIST / "train-labels-idx1-ubyte.gz")[:n].astype(np.int64)
        return X, y, f"real MNIST ({len(X):,} training images)"
    rng = np.random.default_rng(seed)
    X = rng.random((n, 784), dtype=np.float32)
    return X, rng.integers(0, 10, n), f"random MNIST-shaped data ({n:,} x 784)"


def tabular_data(n=60000, seed=0, real=True):
    """A 30-feature, 2-class problem with a noisy linear boundary (breast-cancer shaped)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 30), dtype=np.float32)
    w = rng.standard_normal(30)
    y = (X @ w + rng.standard_normal(n) > 0).astype(np.int64)
    return X, y, f"random tabular data ({n:,} x 30, 2 classes)"


@contextlib.contextmanager
def blas_threads(n):
    """Limit NumPy's BLAS to n threads inside the block (no-op without threadpoolctl or n=None)."""
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(n, user_api="blas"):
        yield


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(values):
    return statistics.median(values) if values else float("nan")
