"""Data kinds: one class per kind of data behind the `DataKind` interface (`base`).

`table` (CSV, TSV, Parquet rows), `npz` (arrays), `images` (a folder of class subfolders),
`window` (a time series cut into windows), `text` (a text column as token ids). Each module
registers its class with `@register_data_kind(name)`; importing this package imports every
module in it, so a kind written as a new module here is registered without editing any
other file.
"""

import importlib
import pkgutil

from nettrain.data.kinds.base import (
    DATA_KINDS,
    DataKind,
    data_kind_class,
    load_data_kind,
    register_data_kind,
)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["DATA_KINDS", "DataKind", "data_kind_class", "load_data_kind", "register_data_kind"]
