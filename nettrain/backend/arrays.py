"""The one array-module handle the core computes with, and its BLAS thread count.

The core writes `xp.matmul`, `xp.exp`, ... instead of importing NumPy directly, so an array
library with NumPy's interface (a GPU one, say) can be dropped in here later.
"""

import contextlib

import numpy as xp

from nettrain.backend.threads import user_set_threads

__all__ = ["xp", "blas_threads", "one_blas_thread", "take_rows", "quiet_overflow", "is_array",
           "default_rng"]

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


_CONTROLLER = []  # one threadpoolctl controller, made on first use (a limit then costs ~10 us)


@contextlib.contextmanager
def one_blas_thread():
    """Within the block, BLAS uses one thread, unless the user set a thread count.

    For loops of many small products (a recurrent layer's time steps: (batch, units) by
    (units, G*units), one after the other), where waking a second thread for each product
    costs more than it saves, and on a busy machine a descheduled thread stalls every step.
    """
    if user_set_threads():
        yield
        return
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    with _CONTROLLER[0].limit(limits=1, user_api="blas"):
        yield


# ---------------------------------------------------------------- helpers the core calls
# NumPy-specific tricks live here, behind names another array module can implement.


def take_rows(array, index, out):
    """`array[index]` written into `out` (a preallocated batch buffer), no new allocation.

    NumPy: `take(..., mode="clip")`; the indices are a permutation, always in range, and the
    default mode="raise" copies through a temporary buffer (3 times slower at batch 512).
    """
    return xp.take(array, index, axis=0, out=out, mode="clip")


def quiet_overflow():
    """A context in which overflow and invalid-value warnings stay silent (the divergence
    checks explain non-finite values themselves)."""
    return xp.errstate(over="ignore", invalid="ignore", divide="ignore")


def is_array(value):
    """Whether `value` is an array or an array scalar of the backend."""
    return isinstance(value, (xp.ndarray, xp.generic))


def default_rng(seed=None):
    """The random Generator of the backend (seeded; a Generator passes through)."""
    return seed if isinstance(seed, xp.random.Generator) else xp.random.default_rng(seed)
