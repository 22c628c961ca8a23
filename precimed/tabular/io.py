"""Read CSV, TSV and Parquet tables from bytes or a path, with clear errors.

CSV handling is pandas' own; this module only picks the separator (comma, semicolon or tab,
counted in the header line), the encoding (UTF-8 with or without a byte-order mark, UTF-16 and
UTF-32, else Latin-1) and enforces size limits, because user files come in all these shapes. A
workbook, PDF, image or other binary file under a table's name is named by its real type
(:mod:`precimed.tabular.sniff`) instead of failing later with a misleading message.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from precimed.errors import PrecimedInputError
from precimed.tabular.sniff import decode_text, describe

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")
MAX_COLUMNS = 5000
MAX_BYTES = 512 * 1024 * 1024


def _decode(data: bytes, name: str) -> str:
    return decode_text(data, name)


_OTHER_SUFFIXES = {".xlsx": "Excel workbooks", ".xlsm": "Excel workbooks",
                   ".xls": "Excel workbooks", ".ods": "OpenDocument spreadsheets",
                   ".pdf": "PDF documents", ".json": "JSON files"}


def _count_outside_quotes(line: str, sep: str) -> int:
    count, quoted = 0, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            count += 1
    return count


def sniff_separator(text: str, suffix: str) -> str:
    """Separator of a delimited text: tab for .tsv, else the one of ``, ; \t`` found most often
    (outside double quotes) in the header line, ties broken by consistency over the next lines.

    ``csv.Sniffer`` is not used: its quote-detecting regular expressions take quadratic time,
    and a crafted 64 KiB upload kept it busy for minutes (tests/fuzz found it).

    Example:
        >>> sniff_separator('id;"a, b";c\n1;2,5;3\n', ".csv")
        ';'
    """
    if suffix == ".tsv":
        return "\t"
    lines = [ln for ln in text[: 64 * 1024].splitlines()[:20] if ln.strip()]
    if not lines:
        return ","
    best, best_key = ",", (0, 0)
    for sep in (",", ";", "\t"):
        head = _count_outside_quotes(lines[0], sep)
        steady = sum(_count_outside_quotes(ln, sep) == head for ln in lines[1:])
        if head and (head, steady) > best_key:
            best, best_key = sep, (head, steady)
    return best


MAX_CELLS = 50_000_000


def _read_parquet_bounded(data: bytes, name: str) -> pd.DataFrame:
    """Read Parquet without letting a small file expand without bound (a "Parquet bomb": run-
    length or dictionary encoding lets a few KiB stand for GiBs). Rows × columns and the
    uncompressed size come from the footer before any data is read; text columns are read
    dictionary-encoded and their expanded size is computed before they are materialised."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    if meta.num_columns > MAX_COLUMNS:
        raise PrecimedInputError(f"{name}: {meta.num_columns} columns",
                                 expected=f"at most {MAX_COLUMNS}")
    cells = meta.num_rows * meta.num_columns
    raw = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if cells > MAX_CELLS or raw > MAX_BYTES:
        raise PrecimedInputError(f"{name}: {meta.num_rows:,} rows × {meta.num_columns} columns "
                                 f"({raw:,} bytes uncompressed)",
                                 expected=f"at most {MAX_CELLS:,} cells and {MAX_BYTES >> 20} MiB")
    schema = pq.read_schema(io.BytesIO(data))
    kinds = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary,
             pa.types.is_large_binary)
    text = [f.name for f in schema if any(k(f.type) for k in kinds)]
    table = pq.read_table(io.BytesIO(data), read_dictionary=text)
    expanded = 0
    for col in text:
        for chunk in table.column(col).chunks:
            if pa.types.is_dictionary(chunk.type):
                lengths = pc.binary_length(chunk.dictionary).fill_null(0)
                expanded += pc.sum(pc.take(lengths, chunk.indices.fill_null(0))).as_py() or 0
    if expanded > MAX_BYTES:
        raise PrecimedInputError(f"{name}: its text cells expand to {expanded:,} bytes",
                                 expected=f"at most {MAX_BYTES >> 20} MiB of text")
    frame = table.to_pandas()
    for col in text:  # back from the dictionary (categorical) to the dtype read_parquet gives
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].astype(frame[col].cat.categories.dtype)
    return frame


def read_table(source: bytes | str | Path, name: str | None = None) -> pd.DataFrame:
    """Read a table; every text cell stays text so that validation can flag it per cell.

    Args:
        source: file bytes (an upload) or a path.
        name: the file name, for the format and for messages (defaults to the path's name).

    Returns:
        The table with text columns as strings (Parquet keeps its types).

    Raises:
        PrecimedInputError: unsupported format, unreadable or empty file, too many columns.

    Example:
        >>> read_table(b"age;size\\n50;2.1\\n", "p.csv").shape
        (1, 2)
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = name or path.name
        if not path.is_file():
            raise PrecimedInputError(f"{name}: no such file", expected="a CSV, TSV or Parquet file")
        if path.stat().st_size > MAX_BYTES:
            raise PrecimedInputError(f"{name}: file is larger than {MAX_BYTES >> 20} MiB",
                                     expected="a smaller file, or `precimed score` for cohorts")
        data = path.read_bytes()
    else:
        data = source
        name = name or "upload"
    suffix = Path(name).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        kind = _OTHER_SUFFIXES.get(suffix)
        what = f"{kind} ({suffix}) are not read here" if kind else \
            f"unsupported file type '{suffix or '(none)'}'"
        raise PrecimedInputError(f"{name}: {what}",
                                 expected="a .csv, .tsv or .parquet file" + (
                                     "; save the sheet as CSV" if kind and "Excel" in kind else ""))
    if not data:
        raise PrecimedInputError(f"{name}: the file is empty", expected="a header row and data rows")
    if suffix in (".parquet", ".pq") and data[:4] != b"PAR1":
        found = describe(data)
        if found is not None:
            raise PrecimedInputError(f"{name}: this is {found[0]}, not a Parquet file",
                                     expected=found[1])
    if suffix in (".parquet", ".pq"):
        try:
            frame = _read_parquet_bounded(data, name)
        except PrecimedInputError:
            raise
        except Exception as exc:  # pyarrow raises many types for corrupt files
            raise PrecimedInputError(f"{name}: not a readable Parquet file ({type(exc).__name__})",
                                     expected="a Parquet file") from None
    else:
        text = _decode(data, name)
        sep = sniff_separator(text, suffix)
        header = text[: text.find("\n") if "\n" in text else len(text)]
        if _count_outside_quotes(header, sep) >= MAX_COLUMNS:  # refuse before pandas builds them
            raise PrecimedInputError(f"{name}: {_count_outside_quotes(header, sep) + 1} columns",
                                     expected=f"at most {MAX_COLUMNS}")
        try:
            frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                                skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise PrecimedInputError(f"{name}: cannot parse as a table ({first})",
                                     expected="a delimited text file with one header row") from None
    if frame.shape[1] > MAX_COLUMNS:
        raise PrecimedInputError(f"{name}: {frame.shape[1]} columns", expected=f"at most {MAX_COLUMNS}")
    if frame.shape[0] == 0:
        raise PrecimedInputError(f"{name}: no data rows", expected="at least one row under the header")
    frame.columns = [str(c) for c in frame.columns]
    return frame
