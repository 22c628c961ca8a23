"""Misread files (precimed/tabular/sniff.py through read_table): UTF-16/UTF-32 tables are decoded;
a workbook, PDF, image, DICOM, zip or other binary file under a table's name is refused with a
message naming what it really is. Every file is a real one, written here by its own library."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from precimed.errors import PrecimedInputError
from precimed.tabular.io import read_table

FRAME = pd.DataFrame({"age": ["51", "63"], "size": ["2.1", "3.4"], "name": ["Ågot", "Zoë"]})


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_tables_are_decoded(encoding: str) -> None:
    data = FRAME.to_csv(index=False).encode(encoding)  # "utf-16": with a byte-order mark
    frame = read_table(data, "export.csv")
    assert list(frame.columns) == ["age", "size", "name"]
    assert frame.shape == (2, 3) and list(frame["name"]) == ["Ågot", "Zoë"]


def test_excel_unicode_text_export_is_read(tmp_path: Path) -> None:
    """Excel's "Unicode text" is tab-separated UTF-16 with a byte-order mark."""
    path = tmp_path / "sheet.txt"
    FRAME.to_csv(path, sep="\t", index=False, encoding="utf-16")
    assert read_table(path).shape == (2, 3)


def test_torn_utf16_is_refused_naming_the_encoding() -> None:
    data = FRAME.to_csv(index=False).encode("utf-16")[:-1]  # an odd byte count
    with pytest.raises(PrecimedInputError, match="UTF-16 text but cannot be decoded"):
        read_table(data, "torn.csv")


def _xlsx(tmp_path: Path) -> bytes:
    path = tmp_path / "book.xlsx"
    FRAME.to_excel(path, index=False)  # openpyxl
    return path.read_bytes()


def _pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="age,size")
    return bytes(pdf.output())


def _image(fmt: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), "uint8")).save(buf, format=fmt)
    return buf.getvalue()


def _dicom() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("CT_small.dcm", download=False)).read_bytes()


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("patients.csv", FRAME.to_csv(index=False))
    return buf.getvalue()


def _parquet() -> bytes:
    buf = io.BytesIO()
    FRAME.to_parquet(buf)
    return buf.getvalue()


@pytest.mark.parametrize(("make", "named"), [
    ("xlsx", r"this is an Excel workbook \(\.xlsx\), not a CSV or TSV table \(expected: a CSV file: "
             r"in Excel, File › Save As › CSV"),
    ("pdf", "this is a PDF document"),
    ("png", "this is a PNG image"),
    ("jpeg", "this is a JPEG image"),
    ("dicom", "this is a DICOM file.*Imaging page"),
    ("zip", "this is a zip archive"),
    ("parquet", r"this is a Parquet file.*named \.parquet"),
    ("binary", "this is a binary file"),
])
def test_binary_files_named_csv_are_named_by_their_real_type(make: str, named: str,
                                                             tmp_path: Path) -> None:
    data = {"xlsx": lambda: _xlsx(tmp_path), "pdf": _pdf, "png": lambda: _image("PNG"),
            "jpeg": lambda: _image("JPEG"), "dicom": _dicom, "zip": _zip, "parquet": _parquet,
            "binary": lambda: np.random.default_rng(0).bytes(4096)}[make]()
    with pytest.raises(PrecimedInputError, match=f"^renamed.csv: {named}"):
        read_table(data, "renamed.csv")


def test_workbook_named_parquet_or_xlsx_is_named(tmp_path: Path) -> None:
    data = _xlsx(tmp_path)
    with pytest.raises(PrecimedInputError, match="this is an Excel workbook.*not a Parquet file"):
        read_table(data, "cohort.parquet")
    with pytest.raises(PrecimedInputError,
                       match=r"Excel workbooks \(\.xlsx\) are not read here.*save the sheet as CSV"):
        read_table(data, "cohort.xlsx")
