"""The one array-module handle the core computes with.

The core writes `xp.matmul`, `xp.exp`, ... instead of importing NumPy directly, so an array
library with NumPy's interface (a GPU one, say) can be dropped in here later.
"""

import numpy as xp

__all__ = ["xp"]
