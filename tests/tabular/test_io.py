"""Reading tables in the shapes users send them."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from precimed.errors import PrecimedInputError
from precimed.tabular.io import read_table


@pytest.mark.parametrize("text", [
    "a,b\n1,2\n3,4\n",
    "a;b\n1;2\n3;4\n",
    "\ufeffa,b\n1,2\n3,4\n",
    "a\tb\n1\t2\n3\t4\n",
])
def test_separators_and_bom(text: str) -> None:
    frame = read_table(text.encode("utf-8"), "x.csv")
    assert list(frame.columns) == ["a", "b"]
    assert frame["b"].tolist() == ["2", "4"]


def test_latin1_text_is_read() -> None:
    frame = read_table("name,grade\nJosé,2\n".encode("latin-1"), "x.csv")
    assert frame["name"].iloc[0] == "José"


def test_tsv_by_suffix() -> None:
    assert read_table(b"a\tb\n1,5\t2\n", "x.tsv")["a"].iloc[0] == "1,5"


def test_parquet_round_trip() -> None:
    buf = io.BytesIO()
    pd.DataFrame({"a": [1.5, 2.5], "b": ["x", "y"]}).to_parquet(buf)
    frame = read_table(buf.getvalue(), "x.parquet")
    assert frame["a"].tolist() == [1.5, 2.5]


@pytest.mark.parametrize(("data", "name", "message"), [
    (b"a,b\n1,2\n", "x.xlsx", r"Excel workbooks \(.xlsx\) are not read here"),
    (b"", "x.csv", "empty"),
    (b"a,b\n", "x.csv", "no data rows"),
    (b"not parquet at all", "x.parquet", "not a readable Parquet file"),
    (b'a,b\n"1,2\n', "x.csv", "cannot parse"),
])
def test_bad_files_have_clear_messages(data: bytes, name: str, message: str) -> None:
    with pytest.raises(PrecimedInputError, match=message):
        read_table(data, name)


def test_too_many_columns() -> None:
    header = ",".join(f"c{i}" for i in range(6000))
    with pytest.raises(PrecimedInputError, match="6000 columns"):
        read_table((header + "\n" + ",".join("1" * 6000) + "\n").encode(), "wide.csv")
