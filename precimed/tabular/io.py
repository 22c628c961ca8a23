"""Read CSV, TSV and Parquet tables from bytes or a path, with clear errors.

CSV handling is pandas' own; this module only picks the separator (comma, semicolon or tab,
sniffed from the first 64 KiB), the encoding (UTF-8 with or without a byte-order mark, else
Latin-1) and enforces size limits, because user files come in all three shapes.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from precimed.errors import PrecimedInputError

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")
MAX_COLUMNS = 5000
MAX_BYTES = 512 * 1024 * 1024


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Latin-1 maps every byte, so it never fails: the usual encoding of spreadsheet exports.
        return data.decode("latin-1")


def sniff_separator(text: str, suffix: str) -> str:
    """Separator of a delimited text: tab for .tsv, else sniffed among ``, ; \\t``."""
    if suffix == ".tsv":
        return "\t"
    sample = text[: 64 * 1024]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


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
        raise PrecimedInputError(f"{name}: unsupported file type '{suffix or '(none)'}'",
                                 expected="a .csv, .tsv or .parquet file")
    if not data:
        raise PrecimedInputError(f"{name}: the file is empty", expected="a header row and data rows")
    if suffix in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises many types for corrupt files
            raise PrecimedInputError(f"{name}: not a readable Parquet file ({type(exc).__name__})",
                                     expected="a Parquet file") from None
    else:
        text = _decode(data, name)
        sep = sniff_separator(text, suffix)
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
