"""Read a cohort table (CSV, TSV or Parquet; a path or upload bytes) in chunks of rows.

Memory stays bounded by the chunk size whatever the file size or layout: Parquet is read one
record batch at a time with pyarrow (``iter_batches`` without pre-buffering, and a read buffer so
that a file written as one huge row group streams page by page instead of loading each column
chunk whole), delimited text with pandas' chunked reader. Cells of delimited text stay text (as
in :func:`precimed.tabular.io.read_table`) so that validation flags them per cell.

Example:
    >>> src = CohortSource.of(b"age,size\\n50,2.1\\n61,3.0\\n", "c.csv")
    >>> [len(c) for c in src.chunks(1)]
    [1, 1]
"""

from __future__ import annotations

import codecs
import contextlib
import io
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd

from precimed.errors import PrecimedInputError
from precimed.tabular.io import MAX_COLUMNS, sniff_separator

PARQUET_SUFFIXES = (".parquet", ".pq")
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
HEAD_BYTES = 64 * 1024
MAX_CHUNK_TEXT_BYTES = 256 * 1024 * 1024
# Parquet read buffer: without one (pyarrow's default), reading any part of a column chunk reads
# the whole chunk, so a 10^6-row single-row-group file cost GBs whatever the batch size.
PARQUET_BUFFER = 256 << 10


@dataclass(frozen=True)
class CohortSource:
    """A cohort file: a path on disk or the bytes of an upload, with its name (for the format)."""

    name: str
    path: Path | None = None
    data: bytes | None = None

    @classmethod
    def of(cls, source: bytes | str | Path, name: str | None = None) -> CohortSource:
        """Wrap a path or bytes; check the format and that the file exists and is not empty."""
        if isinstance(source, (str, Path)):
            path = Path(source)
            src = cls(name=name or path.name, path=path)
            if not path.is_file():
                raise PrecimedInputError(f"{src.name}: no such file",
                                         expected="a CSV, TSV or Parquet file")
            empty = path.stat().st_size == 0
        else:
            src = cls(name=name or "upload", data=bytes(source))
            empty = not source
        if src.suffix not in PARQUET_SUFFIXES + TEXT_SUFFIXES:
            kind = src.suffix or "(none)"
            raise PrecimedInputError(f"{src.name}: unsupported file type '{kind}'",
                                     expected="a .csv, .tsv or .parquet file")
        if empty:
            raise PrecimedInputError(f"{src.name}: the file is empty",
                                     expected="a header row and data rows")
        return src

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix.lower()

    @property
    def is_parquet(self) -> bool:
        return self.suffix in PARQUET_SUFFIXES

    def _native(self) -> Any:
        """A pyarrow-native file (reads release the GIL, unlike a Python file object)."""
        import pyarrow as pa

        if self.data is not None:
            return pa.BufferReader(self.data)
        assert self.path is not None
        return pa.OSFile(str(self.path), "rb")

    def _open(self) -> IO[bytes]:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open(self.path, "rb")

    def _head(self) -> bytes:
        with self._open() as fh:
            return fh.read(HEAD_BYTES)

    def _text_format(self) -> tuple[str, str]:
        """(encoding, separator) of delimited text, judged on the first 64 KiB."""
        head = self._head()
        try:
            text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
            encoding = "utf-8-sig"
        except UnicodeDecodeError:
            # Latin-1 maps every byte: the usual encoding of spreadsheet exports.
            text, encoding = head.decode("latin-1"), "latin-1"
        return encoding, sniff_separator(text, self.suffix)

    def _parquet(self, read_dictionary: list[str] | None = None) -> Any:
        import pyarrow.parquet as pq

        try:
            # pre_buffer would keep every row group read so far: memory grew with the file size
            return pq.ParquetFile(self._native(), read_dictionary=read_dictionary,
                                  pre_buffer=False, buffer_size=PARQUET_BUFFER)
        except Exception as exc:  # pyarrow raises many types for corrupt files
            raise PrecimedInputError(
                f"{self.name}: not a readable Parquet file ({type(exc).__name__})",
                expected="a Parquet file") from None

    def columns(self) -> list[str]:
        """The header: column names as text."""
        if self.is_parquet:
            return [str(c) for c in self._parquet().schema_arrow.names]
        with contextlib.closing(self.chunks(1)) as chunks:
            first = next(chunks, None)
        if first is None:
            raise PrecimedInputError(f"{self.name}: no data rows",
                                     expected="at least one row under the header")
        return [str(c) for c in first.columns]

    def count_rows(self) -> int:
        """Rows in the file: exact for Parquet (metadata); for text, the line count less the
        header (a quoted line break makes it an over-estimate; it only drives progress bars)."""
        if self.is_parquet:
            return int(self._parquet().metadata.num_rows)
        lines, last = 0, b"\n"
        with self._open() as fh:
            while block := fh.read(1 << 22):
                lines += block.count(b"\n")
                last = block[-1:]
        return max(lines + (last != b"\n") - 1, 0)

    def _parquet_batches(self, rows: int) -> Generator[Any, None, None]:
        """Record batches of at most ``rows`` rows. Text columns are read dictionary-encoded and
        their expanded size checked before they are materialised: run-length and dictionary
        encoding let a few KiB of Parquet stand for GiBs of text (a "Parquet bomb")."""
        import pyarrow as pa
        import pyarrow.compute as pc

        meta = self._parquet().metadata
        if meta.num_columns > MAX_COLUMNS:
            raise PrecimedInputError(f"{self.name}: {meta.num_columns} columns",
                                     expected=f"at most {MAX_COLUMNS}")
        kinds = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary,
                 pa.types.is_large_binary)
        schema = self._parquet().schema_arrow
        text = [f.name for f in schema if any(k(f.type) for k in kinds)
                or (pa.types.is_dictionary(f.type) and any(k(f.type.value_type) for k in kinds))]
        # use_threads: Arrow decodes the columns of a batch in parallel (reading 10^6 genomic
        # rows: 0.69 -> 2.5 M rows/s, the same memory)
        for batch in self._parquet(read_dictionary=text or None).iter_batches(batch_size=rows,
                                                                      use_threads=True):
            if not batch.num_rows:
                continue
            expanded = 0
            for name in text:
                col = batch.column(name)
                if pa.types.is_dictionary(col.type):
                    lengths = pc.binary_length(col.dictionary).fill_null(0)
                    expanded += pc.sum(pc.take(lengths, col.indices.fill_null(0))).as_py() or 0
            if expanded > MAX_CHUNK_TEXT_BYTES:
                raise PrecimedInputError(
                    f"{self.name}: the text cells of {batch.num_rows:,} rows expand to "
                    f"{expanded:,} bytes", expected=f"at most {MAX_CHUNK_TEXT_BYTES >> 20} MiB per chunk")
            names = [str(c) for c in batch.schema.names]
            yield batch.rename_columns(names) if names != batch.schema.names else batch

    def _parquet_chunks(self, rows: int) -> Generator[pd.DataFrame, None, None]:
        import pyarrow as pa

        for batch in self._parquet_batches(rows):
            text = [f.name for f in batch.schema if pa.types.is_dictionary(f.type)]
            # split_blocks: no copy into one 2-D block; self_destruct: free Arrow memory early
            frame = batch.to_pandas(split_blocks=True, self_destruct=True)
            for name in text:  # back from the dictionary (categorical) to plain text
                if isinstance(frame[name].dtype, pd.CategoricalDtype):
                    frame[name] = frame[name].astype(frame[name].cat.categories.dtype)
            yield frame

    def batches(self, rows: int) -> Generator[Any, None, None]:
        """Consecutive chunks of at most ``rows`` rows as Arrow record batches (text cells of
        delimited files as strings)."""
        import pyarrow as pa

        if rows < 1:
            raise PrecimedInputError(f"chunk size {rows}", expected="at least 1 row")
        if self.is_parquet:
            yield from self._parquet_batches(rows)
            return
        for frame in self.chunks(rows):
            # pandas' parser returns text columns as Arrow arrays in many pieces (25 per 50,000
            # rows of a 376-column CSV), which RecordBatch.from_pandas refuses: one batch per chunk
            table = pa.Table.from_pandas(frame, preserve_index=False).combine_chunks()
            yield from table.to_batches()

    def chunks(self, rows: int) -> Generator[pd.DataFrame, None, None]:
        """Consecutive chunks of at most ``rows`` rows, each with a fresh 0-based index."""
        if rows < 1:
            raise PrecimedInputError(f"chunk size {rows}", expected="at least 1 row")
        if self.is_parquet:
            yield from self._parquet_chunks(rows)
            return
        encoding, sep = self._text_format()
        try:
            reader = pd.read_csv(self._open(), sep=sep, dtype=str, keep_default_na=False,
                                 skipinitialspace=True, chunksize=rows, encoding=encoding)
            with reader:
                for frame in reader:
                    if len(frame):  # a header-only file yields one empty chunk
                        frame.columns = [str(c) for c in frame.columns]
                        yield frame.reset_index(drop=True)
        except UnicodeDecodeError as exc:
            raise PrecimedInputError(
                f"{self.name}: not valid {encoding} text near byte {exc.start}",
                expected="one text encoding (UTF-8 or Latin-1) throughout") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise PrecimedInputError(f"{self.name}: cannot parse as a table ({first})",
                                     expected="a delimited text file with one header row") from None
