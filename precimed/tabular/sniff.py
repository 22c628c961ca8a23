"""What an uploaded "table" really is: UTF-16/UTF-32 text, or a workbook, PDF, image or other
binary file under a table's name.

Without this, a UTF-16 export (Excel's "Unicode text") or an ``.xlsx`` renamed ``.csv`` reached
the CSV parser as Latin-1 noise and failed with misleading messages ("80 required column(s)
missing", "no data rows"). File signatures ("magic numbers") are checked by hand: they are
fixed bytes at fixed offsets that the formats' specifications define (ZIP APPNOTE 4.3.7, PDF
ISO 32000 §7.5.2, PNG ISO 15948 §5.2, DICOM PS3.10 §7.1, ...), and a dependency such as
libmagic would add a C library for a dozen comparisons.

Example:
    >>> text_encoding("a,b\\n1,2\\n".encode("utf-16"))
    'utf-16'
    >>> real_type(b"%PDF-1.7 ...")
    'a PDF document'
"""

from __future__ import annotations

import io
import zipfile

from precimed.errors import PrecimedInputError

_SAMPLE = 64 * 1024
EXCEL_HINT = "a CSV file: in Excel, File › Save As › CSV UTF-8 (comma delimited)"

# (offset, signature, what it is, what to do instead)
# DICOM first: its 128-byte preamble may itself hold a TIFF header (PS3.10 §7.1).
_SIGNATURES: tuple[tuple[int, bytes, str, str], ...] = (
    (128, b"DICM", "a DICOM file", "a table here; DICOM images go to the Imaging page"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Microsoft Office file (an Excel .xls "
     "workbook or a Word .doc)", EXCEL_HINT),
    (0, b"%PDF-", "a PDF document", "the table itself as CSV, TSV or Parquet (a PDF's tables "
     "cannot be read reliably)"),
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image", "a CSV, TSV or Parquet table (images go to the "
     "Imaging page as DICOM)"),
    (0, b"\xff\xd8\xff", "a JPEG image", "a CSV, TSV or Parquet table"),
    (0, b"GIF87a", "a GIF image", "a CSV, TSV or Parquet table"),
    (0, b"GIF89a", "a GIF image", "a CSV, TSV or Parquet table"),
    (0, b"II*\x00", "a TIFF image", "a CSV, TSV or Parquet table"),
    (0, b"MM\x00*", "a TIFF image", "a CSV, TSV or Parquet table"),
    (0, b"PAR1", "a Parquet file", "the same file named .parquet"),
    (0, b"\x1f\x8b", "a gzip-compressed file", "the uncompressed CSV, TSV or Parquet file"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "the CSV, TSV or Parquet file itself"),
    (0, b"Rar!\x1a\x07", "a RAR archive", "the CSV, TSV or Parquet file itself"),
    (0, b"\xfd7zXZ\x00", "an xz-compressed file", "the uncompressed CSV, TSV or Parquet file"),
    (0, b"\x28\xb5\x2f\xfd", "a Zstandard-compressed file", "the uncompressed file"),
    (0, b"SQLite format 3\x00", "an SQLite database", "a table exported as CSV"),
    (0, b"\x89HDF\r\n\x1a\n", "an HDF5 file", "a table exported as CSV or Parquet"),
)
_ZIP_KINDS: tuple[tuple[str, str, str], ...] = (
    ("xl/", "an Excel workbook (.xlsx)", EXCEL_HINT),
    ("word/", "a Word document (.docx)", "the table as a CSV file"),
    ("ppt/", "a PowerPoint presentation (.pptx)", "the table as a CSV file"),
)


def _zip_kind(data: bytes) -> tuple[str, str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()[:2000]
            mimetype = zf.read("mimetype")[:100] if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, EOFError, NotImplementedError):
        return "a zip archive (damaged)", "the CSV, TSV or Parquet file itself"
    for prefix, what, instead in _ZIP_KINDS:
        if any(n.startswith(prefix) for n in names):
            return what, instead
    if b"opendocument.spreadsheet" in mimetype:
        return "an OpenDocument spreadsheet (.ods)", "a CSV file: File › Save As › Text CSV"
    return "a zip archive", "the CSV, TSV or Parquet file itself, not zipped"


def real_type(data: bytes) -> str | None:
    """The format a file's signature names, or ``None`` when it has none of those known."""
    found = describe(data)
    return found[0] if found else None


def describe(data: bytes) -> tuple[str, str] | None:
    """``(what the file is, what to give instead)`` from its signature, else ``None``."""
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _zip_kind(data)
    for offset, magic, what, instead in _SIGNATURES:
        if data[offset:offset + len(magic)] == magic:
            return what, instead
    return None


def text_encoding(data: bytes) -> str | None:
    """``utf-16``/``utf-32`` (with a byte-order mark), ``utf-16-le``/``-be`` (no mark, found by
    the NUL bytes that ASCII text has every other byte in UTF-16), else ``None``."""
    if data[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return "utf-32"
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    sample = data[:_SAMPLE]
    half = len(sample) // 2
    if half < 2:
        return None
    even = sample[0::2].count(0) / half
    odd = sample[1::2].count(0) / half
    if odd > 0.3 and even < 0.05:
        return "utf-16-le"
    if even > 0.3 and odd < 0.05:
        return "utf-16-be"
    return None


def looks_binary(data: bytes) -> bool:
    """NUL bytes, or many control characters, in the first 64 KiB: not a text file."""
    sample = data[:_SAMPLE]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return controls / len(sample) > 0.05


def decode_text(data: bytes, name: str) -> str:
    """The text of a delimited file, or a :class:`PrecimedInputError` naming what it is.

    UTF-16 and UTF-32 are decoded (with or without a byte-order mark); other text is UTF-8
    (with or without a mark), else Latin-1, the usual encoding of spreadsheet exports.
    """
    encoding = text_encoding(data)
    if encoding is not None:
        try:
            return data.decode(encoding).lstrip("\ufeff")
        except UnicodeDecodeError:
            raise PrecimedInputError(
                f"{name}: this looks like {encoding.upper()} text but cannot be decoded as such",
                expected="a CSV saved as UTF-8 (or intact UTF-16)") from None
    found = describe(data)
    if found is not None:
        what, instead = found
        raise PrecimedInputError(f"{name}: this is {what}, not a CSV or TSV table",
                                 expected=instead)
    if looks_binary(data):
        raise PrecimedInputError(f"{name}: this is a binary file, not a CSV or TSV table",
                                 expected="a text file with one header row (CSV, TSV) or Parquet")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Latin-1 maps every byte, so it never fails: the usual encoding of spreadsheet exports.
        return data.decode("latin-1")
