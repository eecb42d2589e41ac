"""The backend: the array module the core computes with (`xp`) and the BLAS thread count.

Everything on the training path (layers, losses, optimizers, the trainer) reaches arrays
through `from nettrain.backend import xp` and the helpers here, never through NumPy itself,
so an array library with NumPy's interface (a GPU one, say) can be dropped in later.
`arrays` holds `xp` and the array helpers; `threads` reads the BLAS thread-count environment
variables without importing NumPy. The names of `arrays` are loaded on first use, so
importing `nettrain.backend.threads` does not import NumPy.
"""

import os


def __getattr__(name):
    if name.startswith("__") or os.path.exists(os.path.join(__path__[0], f"{name}.py")):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")  # a submodule
    from nettrain.backend import arrays

    try:
        return getattr(arrays, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
