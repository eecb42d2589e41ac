"""Small, simple CSV files read without pandas, as the DataFrame data.read_table would give."""

import re
from itertools import compress

import numpy as np

# pandas' default na_values (pandas._libs.parsers.STR_NA_VALUES); a test keeps them in step
NA_VALUES = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                       "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a",
                       "nan", "null"})
MAX_BYTES = 4 << 20  # larger files go to pandas, whose chunked reader bounds memory
MAX_ROWS = 100_000  # pandas reads one chunk (data.CSV_CHUNK_ROWS) or more beyond this
# A cell of at most 15 characters from [0-9.+-] has at most 15 digits and no exponent, so
# NumPy and pandas' parser both round it correctly: the same float, bit for bit.
MAX_NUMBER_CHARS = 15
NOT_NUMBER = re.compile(r"[^0-9.+\-\n]")
# cells that pandas could read as a number or a boolean: such a text column goes to pandas
NUMBER_LIKE = re.compile(r"^[+-]?\.?\d|^[+-]?(inf|infinity|nan)$|^(true|false)$", re.I | re.M)
EDGE_SPACE = re.compile(r"^[^\S\n]|[^\S\n]$", re.M)


class Column:
    """One column, with the few Series methods data preparation calls.

    `values` is a numeric array (NaN where missing), or for text an object array of str
    with float NaN where missing, none of them a number; `missing` marks the missing cells.
    """

    def __init__(self, values, missing):
        self.values, self.missing = values, missing
        self.dtype = values.dtype

    def __len__(self):
        return len(self.values)

    @property
    def iloc(self):
        return self.values

    def to_numpy(self, dtype=None):
        return self.values if dtype is None else np.asarray(self.values, dtype=dtype)

    def notna(self):
        return ~self.missing

    def dropna(self):
        kept = ~self.missing
        return Column(self.values[kept], self.missing[kept])

    def nunique(self):
        return len(unique(self.values[~self.missing]))

    def numbers(self):
        """pd.to_numeric(column, errors="coerce"): text columns hold no numbers, so all NaN."""
        if is_number_dtype(self.dtype):
            return self
        return Column(np.full(len(self), np.nan), np.ones(len(self), dtype=bool))


class Table:
    """Named columns of equal length: what data preparation uses of a DataFrame."""

    def __init__(self, columns):
        self._columns = dict(columns)
        self.columns = list(self._columns)
        self.attrs = {}  # as DataFrame.attrs: facts a reader attaches (e.g. a sample shape)

    def __getitem__(self, name):
        return self._columns[name]

    def __len__(self):
        return len(next(iter(self._columns.values())))


def read_simple_csv(path, targets=(), dtype="float32", sample_rows=1000):
    """`path` as a Table with the columns, dtypes and values data.read_table gives, or None.

    None means "not simple, ask pandas": a .gz, large or undecodable file, quotes, a BOM,
    blank or ragged lines, unnamed or repeated columns, booleans, numbers pandas might
    parse differently (exponents, more than 15 characters, spaces), or text cells that
    look like numbers. Numeric columns other than `targets` become `dtype` (the first
    `sample_rows` rows decide that, as in data.read_table); other numeric columns int64 when
    whole and complete, else float64.
    """
    cells = _split_cells(path)
    if cells is None:
        return None
    header, flat = cells
    columns = {}
    for j, name in enumerate(header):
        hint = None if name in targets else np.dtype(dtype)
        column = _parse_column(flat[j::len(header)], hint, sample_rows)
        if column is None:
            return None
        columns[name] = column
    return Table(columns)


def _split_cells(path):
    """(header names, every data cell row by row), or None when the layout is not simple."""
    if path.name.lower().endswith(".gz") or path.stat().st_size > MAX_BYTES:
        return None
    data = path.read_bytes()
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if data.endswith(b"\n"):
        data = data[:-1]
    if any(c in data for c in (b"\r", b'"', b"\x00")) or data.startswith(b"\xef\xbb\xbf"):
        return None
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.append(np.flatnonzero(raw == ord("\n")), len(raw))
    commas = np.diff(np.searchsorted(np.flatnonzero(raw == ord(",")), ends), prepend=0)
    if len(ends) - 1 > MAX_ROWS or commas[0] < 1 or (commas != commas[0]).any():
        return None  # ragged or blank lines; one column is no table to learn from
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    head, _, body = text.partition("\n")
    header = head.split(",")
    if "" in header or len(set(header)) < len(header):
        return None  # pandas would rename them ("Unnamed: 0", "x.1")
    if not body:
        return None  # no data rows: pandas says so
    return header, body.replace("\n", ",").split(",")


def _parse_column(cells, hint, sample_rows):
    """A Column as pandas reads it (with `hint`, a float dtype, when it looks numeric)."""
    missing = np.fromiter(map(NA_VALUES.__contains__, cells), dtype=bool, count=len(cells))
    present = list(compress(cells, ~missing))
    joined = "\n".join(present)
    if not NOT_NUMBER.search(joined):
        return _numbers(present, missing, joined, hint)
    if NUMBER_LIKE.search(joined) or EDGE_SPACE.search(joined):
        return None
    if hint is not None and len(cells) > sample_rows and missing[:sample_rows].all():
        return None  # pandas guesses numeric from an empty sample, then rereads it all
    values = np.array(cells, dtype=object)
    values[missing] = np.nan
    return Column(values, missing)


def _numbers(present, missing, joined, hint):
    if present and max(map(len, present)) > MAX_NUMBER_CHARS:
        return None
    try:  # Python's float, correctly rounded like pandas on these short cells
        parsed = np.fromiter(map(float, present), dtype=np.float64, count=len(present))
    except ValueError:  # "-", "1.2.3": pandas keeps such a column as text
        return None
    if hint is None and not missing.any() and "." not in joined:
        return Column(parsed.astype(np.int64), missing)
    values = np.full(len(missing), np.nan, dtype=np.float64 if hint is None else hint)
    values[~missing] = parsed
    return Column(values, missing)


def is_number_dtype(dtype):
    """pandas' is_numeric_dtype(dtype) or is_bool_dtype(dtype), without pandas for NumPy's."""
    if isinstance(dtype, np.dtype):
        return dtype.kind in "biufc"
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return is_numeric_dtype(dtype) or is_bool_dtype(dtype)


def to_numeric(series):
    """pd.to_numeric(series, errors="coerce") for a Series or a Column."""
    if isinstance(series, Column):
        return series.numbers()
    import pandas as pd

    return pd.to_numeric(series, errors="coerce")


def isna(series, values):
    """pd.isna(values) for `values` taken from `series` (a Series or a Column)."""
    if isinstance(series, Column):
        return values != values  # NaN is the only missing value a Column holds
    import pandas as pd

    return pd.isna(values)


def index_of(levels, values):
    """pd.Index(levels, dtype=object).get_indexer(values): positions, -1 where absent.

    NumPy answers when that is exact (unique str levels for str values, or numbers that
    float64 holds exactly), pandas otherwise.
    """
    values = np.asarray(values)
    if not len(levels):
        return np.full(len(values), -1, dtype=np.intp)
    table = np.array(levels)
    exact = (table.tolist() == list(levels) and len(unique(table)) == len(table) and (
        (table.dtype.kind == "U" and values.dtype.kind == "U") or (
            table.dtype.kind in "iuf" and values.dtype.kind in "iuf"
            and np.abs(table).max() < 2 ** 53)))
    if not exact:
        import pandas as pd

        return pd.Index(list(levels), dtype=object).get_indexer(values)
    order = np.argsort(table, kind="stable")
    at = np.minimum(np.searchsorted(table[order], values), len(table) - 1)
    return np.where(table[order][at] == values, order[at], -1).astype(np.intp)


def unique(values):
    """np.unique(values) for a 1-d array without NaN.

    Sorting does it here: np.unique's plain call imports numpy.ma, several milliseconds of
    the time `nettrain validate` takes to start.
    """
    ordered = np.sort(values)
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    return ordered[first]
