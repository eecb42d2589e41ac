"""BLAS thread choice: one thread for small batches, the default for large ones or when the user set it."""

from threadpoolctl import threadpool_info

from nettrain.backend import ONE_THREAD_BELOW, blas_threads
from nettrain.backend.threads import THREAD_VARIABLES


def blas_thread_counts():
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def clear_thread_variables(monkeypatch):
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_small_batches_use_one_blas_thread_and_restore_the_count(monkeypatch):
    clear_thread_variables(monkeypatch)
    before = blas_thread_counts()
    with blas_threads(ONE_THREAD_BELOW - 1):
        assert blas_thread_counts() == [1] * len(before)
    assert blas_thread_counts() == before


def test_large_batches_and_user_settings_keep_the_thread_count(monkeypatch):
    clear_thread_variables(monkeypatch)
    before = blas_thread_counts()
    with blas_threads(ONE_THREAD_BELOW):
        assert blas_thread_counts() == before
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    with blas_threads(8):
        assert blas_thread_counts() == before
