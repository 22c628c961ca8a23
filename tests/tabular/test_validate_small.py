"""validate_table reads short text columns cell by cell in Python (``SMALL_TABLE``) and long ones
with pandas: both paths must give the same values (bit for bit), flags, messages and rows, on
hostile cells. The pandas path is the older reference; the cohort validator is compared with
validate_table in tests/cohort/test_columns.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from precimed.registry import get_bundle
from precimed.tabular import validate
from precimed.tabular.validate import validate_table

GENOMIC = "breast-metastasis-gse7390"
HOSTILE = [" 1.5 ", "1,5", "inf", "-inf", "nan", "NaN", "NA", "n/a", "?", "None", "null", "",
           "  ", "1e400", "1e39", "-1e39", "3.4e38", "3.5e38", "\u0663", "\xa012\xa0", "\x1c3\x1c",
           "\t7\n", "0x10", "1_000", "+5", "-0", "1.", ".5", "12345678901234567890",
           "9007199254740993", "1e-320", "1E5", "5e+01", "--1", "1e", "e5", "12 3", "\u00bd",
           "１２", "1.0000000000000000000001", "0.1000000000000000055511151231257827", "25", "-3"]


def _both(frame: pd.DataFrame, card: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    fast = validate_table(frame, card)
    with monkeypatch.context() as m:
        m.setattr(validate, "SMALL_TABLE", -1)  # every column through pandas
        slow = validate_table(frame, card)
    return fast, slow


def _assert_same(fast: Any, slow: Any) -> None:
    pd.testing.assert_frame_equal(fast.frame, slow.frame, check_exact=True)
    assert fast.issues == slow.issues
    assert fast.valid_rows == slow.valid_rows and fast.notes == slow.notes


def _text_frame(n: int, seed: int, dtype: str) -> pd.DataFrame:
    bundle = get_bundle(GENOMIC)
    rng = np.random.default_rng(seed)
    bg = bundle.background()
    rows = bg.iloc[rng.integers(0, len(bg), n)].reset_index(drop=True)
    out = pd.DataFrame(index=rows.index)
    for spec in bundle.card["inputs"]:
        name = spec["name"]
        if spec["dtype"] == "category":
            out[name] = rows[name].astype(str)
            continue
        values = rows[name].to_numpy(dtype="float64") * (1 + rng.normal(0, 0.05, n))
        col = np.array([repr(float(v)) for v in values], dtype=object)  # 17 digits: pandas path
        short = rng.random(n) < 0.5
        col[short] = [f"{v:.6g}" for v in values[short]]  # plain decimals: the Python path
        hit = rng.random(n) < 0.05
        col[hit] = rng.choice(HOSTILE, hit.sum())
        out[name] = pd.Series(col, dtype=dtype)
    return out


@pytest.mark.parametrize("dtype", ["str", "string", "object"])
def test_hostile_text_columns_give_the_same_result(dtype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _text_frame(300, seed=11, dtype=dtype)
    fast, slow = _both(frame, get_bundle(GENOMIC).card, monkeypatch)
    _assert_same(fast, slow)
    assert fast.issues and any(i.kind == "type" for i in fast.issues)  # the hostile cells were seen


def test_each_hostile_cell_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    card = get_bundle(GENOMIC).card
    frame = get_bundle(GENOMIC).background().iloc[:len(HOSTILE)].astype(str).reset_index(drop=True)
    frame["size"] = pd.Series(HOSTILE, dtype="str")  # one hostile cell per row
    fast, slow = _both(frame, card, monkeypatch)
    _assert_same(fast, slow)
    by_row = {i.row: i for i in fast.issues if i.column == "size"}
    assert by_row[HOSTILE.index("1e39")].message == "'size' is '1e39', not a number"  # past float32
    assert by_row[HOSTILE.index("25")].kind == "range"  # a plain decimal, out of the training range
    assert by_row[HOSTILE.index("NA")].kind == "missing"


def test_plain_columns_take_the_python_path_with_nulls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clean plain decimals with None / NaN / NA cells: read in Python, imputed like pandas does."""
    card = get_bundle(GENOMIC).card
    frame = get_bundle(GENOMIC).background().iloc[:4].astype(str).reset_index(drop=True)
    for dtype, empty in (("object", None), ("object", np.nan), ("string", pd.NA), ("str", None)):
        frame["size"] = pd.Series(["2.5", empty, " 1.25", "3"], dtype=dtype)
        assert validate._plain_text_numbers(frame["size"]) is not None, dtype  # the Python path
        fast, slow = _both(frame, card, monkeypatch)
        _assert_same(fast, slow)
        assert fast.frame["size"].tolist()[0::2] == [2.5, 1.25]
        assert [i.kind for i in fast.issues if i.column == "size"] == ["missing"]
