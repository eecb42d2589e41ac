"""Data: the data kinds (`kinds`: table, npz, images, window, text), reading data files by
format (`files`; small simple CSV files without pandas in `csvfast`), inferring the task,
preprocessing learned on the train split (`preprocess`), seeded row splits (`splits`) and the
shipped and downloadable datasets (`downloads`). `dataset.prepare_data(config)` turns a
config's data section into a `Dataset` of arrays.
"""

from nettrain.data.dataset import Dataset, prepare_data
from nettrain.data.files import read_table

__all__ = ["Dataset", "prepare_data", "read_table"]
