"""Run directories: their files written atomically, checkpoints (`rundir`), using a trained
run: loading it safely, predicting and evaluating (`inference`), and the runs under a folder
with their state (`listing`, `table`).

The package is also callable: `nettrain.runs("runs/")` is `nettrain.runs.table.runs`, the
Python form of `nettrain runs`.
"""

import sys
import types


class _CallableModule(types.ModuleType):
    def __call__(self, folder="runs", sort=None):
        """The runs under `folder` as a DataFrame (see `nettrain.runs.table.runs`)."""
        from nettrain.runs.table import runs

        return runs(folder, sort)


sys.modules[__name__].__class__ = _CallableModule
