"""SIGINT and SIGTERM during a fit: the first asks the trainer to stop, a second stops at once."""

import contextlib
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals(request_stop):
    """While active, SIGINT and SIGTERM call `request_stop("interrupted", "interrupted by
    SIGINT")` (the trainer's) instead of killing the process.

    A second signal raises KeyboardInterrupt at once, for a user who will not wait. Handlers
    can only be installed from the main thread; elsewhere (a worker thread) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def handler(signum, frame):
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        request_stop("interrupted", f"interrupted by {signal.Signals(signum).name}")

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
