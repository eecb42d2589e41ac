"""Delimited text (.csv, .tsv) and Parquet files as DataFrames, with the checks a table needs.

The separator is `,` for .csv and a tab for .tsv/.tab unless `sep` says otherwise; text is
decoded with `encoding` (default utf-8). Parquet needs pyarrow (`pip install
"nettrain[parquet]"`). Repeated column names are an error here: pandas would silently
rename the second `price` to `price.1`.
"""

from nettrain.errors import DataError

CSV_CHUNK_ROWS = 100_000
SAMPLE_ROWS = 1000  # rows read first to find the numeric columns, which are then read as floats

def check_unique_columns(names, where):
    """DataError naming every repeated column name and its positions."""
    seen = {}
    for i, name in enumerate(names):
        seen.setdefault(str(name), []).append(i + 1)
    repeated = {n: at for n, at in seen.items() if len(at) > 1}
    if repeated:
        listed = "; ".join(f"{n!r} (columns {', '.join(map(str, at))})" for n, at in repeated.items())
        raise DataError(f"Data file {where} repeats column name(s): {listed}. Each column needs "
                        "its own name: rename the copies in the header row.")


def read_delimited(path, where, targets, dtype, sep=",", encoding="utf-8"):
    """A .csv/.tsv file as a DataFrame; numeric non-target columns come as `dtype` floats."""
    import pandas as pd

    kind = "TSV" if sep == "\t" else "CSV"
    options = {"sep": sep, "encoding": encoding}
    try:
        header = pd.read_csv(path, nrows=1, header=None, dtype=str, keep_default_na=False, **options)
        check_unique_columns(header.iloc[0].tolist(), where)
        sample = pd.read_csv(path, nrows=SAMPLE_ROWS, **options)
        hint = {c: dtype for c in sample.columns if c not in targets
                and pd.api.types.is_numeric_dtype(sample[c].dtype)
                and not pd.api.types.is_bool_dtype(sample[c].dtype)}
        try:
            frame = _read_chunks(path, hint, options)
        except ValueError:  # a later row holds text in a column that looked numeric
            frame = _read_chunks(path, None, options)
    except pd.errors.EmptyDataError:
        raise DataError(f"Data file {where} is empty: expected a header row of column "
                        "names and data rows.") from None
    except pd.errors.ParserError as err:
        what = "tab" if sep == "\t" else repr(sep)
        raise DataError(f"Data file {where} is not a well-formed {kind}: {str(err).strip()}. "
                        f"Each row needs as many {what}-separated fields as the header; quote "
                        "fields that contain the separator, or set data.sep.") from None
    except LookupError:
        raise DataError(f"data.encoding: {encoding!r} is not a text encoding Python knows; use "
                        "e.g. utf-8, latin-1 or cp1252.") from None
    except UnicodeDecodeError as err:
        raise DataError(f"Data file {where} is not {encoding} text ({err.reason} at byte "
                        f"{err.start}). Set data.encoding to the file's encoding, e.g. latin-1 "
                        "or cp1252.") from None
    except (OSError, EOFError) as err:
        raise DataError(f"Data file {where} cannot be read as {kind} text: {err}.") from None
    if len(frame) == 0:
        raise DataError(f"Data file {where} has a header but no data rows.")
    if frame.shape[1] == 1 and sep == "," and "\t" in str(frame.columns[0]):
        raise DataError(f"Data file {where} has a single column whose name holds tabs: it looks "
                        "tab-separated. Set data.sep: \"\\t\" or name the file .tsv.")
    return frame


def _read_chunks(path, hint, options):
    import pandas as pd

    # Chunks bound the parser's working memory: read whole, a 1e6 x 100 file peaks near
    # 4x the size of its float32 result; in chunks, near 2x.
    with pd.read_csv(path, dtype=hint, chunksize=CSV_CHUNK_ROWS, **options) as reader:
        chunks = list(reader)
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)


def read_parquet(path, where):
    """A .parquet file as a DataFrame (needs pyarrow)."""
    import pandas as pd

    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"Data file {where} is Parquet, which needs pyarrow: pip install "
                        "\"nettrain[parquet]\" (or pip install pyarrow), or save the table as "
                        ".csv.") from None
    try:
        names = pq.read_schema(path).names
        check_unique_columns(names, where)
        frame = pd.read_parquet(path, engine="pyarrow")
    except DataError:
        raise
    except Exception as err:  # pyarrow raises its own error types for a damaged file
        raise DataError(f"Data file {where} cannot be read as Parquet: {err}.") from None
    if len(frame) == 0:
        raise DataError(f"Data file {where} has no rows.")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def download_hint(path):
    """' Download it first: ...' when a missing file is where `nettrain datasets get` puts one."""
    from nettrain.data.downloads import DOWNLOADABLE, TEXT_ARCHIVES

    for folder in [path.parent.name.lower(), *(p.name.lower() for p in path.parents)][:3]:
        for name in DOWNLOADABLE:
            if folder in (name, name.replace("-", "_")):
                kind = "csv" if name in TEXT_ARCHIVES else "npz"
                return (f" It is a downloadable dataset: run `nettrain datasets get {name} --dir "
                        f"{path.parent}` first (it writes train.{kind} and test.{kind} there).")
    return ""
