"""The one array-module handle the core computes with, and its BLAS thread count.

The core writes `xp.matmul`, `xp.exp`, ... instead of importing NumPy directly, so an array
library with NumPy's interface (a GPU one, say) can be dropped in here later.
"""

import contextlib

import numpy as xp

from nettrain.backend.threads import user_set_threads

__all__ = ["xp", "blas_threads"]

# Below this batch size one BLAS thread trains about as fast as two on an idle 2-core
# machine (MNIST MLP, batch 32: 1.52-1.58 s vs 1.52-1.66 s an epoch) and much faster on a
# busy one, where a descheduled BLAS thread stalls every product; from batch 64 up, two
# threads win (64: 0.93-0.95 s vs 0.98-1.00 s; 96: 0.69 s vs 0.82 s). benchmarks/ measures it.
ONE_THREAD_BELOW = 64


@contextlib.contextmanager
def blas_threads(batch_size):
    """Within the block, the BLAS thread count that trains fastest at `batch_size`.

    One thread below ONE_THREAD_BELOW, the library's default otherwise. A thread count the
    user set in the environment (OMP_NUM_THREADS, ...) is left alone.
    """
    if batch_size >= ONE_THREAD_BELOW or user_set_threads():
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield
