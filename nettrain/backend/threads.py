"""The environment variables that set BLAS thread counts: read without importing NumPy."""

import contextlib
import os

# The thread-count variables of OpenMP, OpenBLAS, MKL, Accelerate and numexpr.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def user_set_threads():
    """Whether the user chose a thread count in the environment (then nettrain keeps it)."""
    return any(os.environ.get(name) for name in THREAD_VARIABLES)


@contextlib.contextmanager
def single_thread_blas():
    """Set the thread-count variables to 1 in os.environ while the block runs.

    BLAS libraries read them once, when they load: a NumPy imported in the block (or by a
    process spawned in it, which inherits the environment) keeps one thread.
    """
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: "1" for name in THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
