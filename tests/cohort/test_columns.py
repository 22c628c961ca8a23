"""The column-wise validator of cohort chunks refuses the same rows, with the same messages, and
encodes the same model input (bit for bit) as the per-cell reference, validate_table, on
hostile cells: odd spacing, missing tokens, overflow, non-ASCII digits and spaces, typed
Parquet columns with NaN/inf, and random 17-digit numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from precimed.cohort.columns import check_chunk
from precimed.registry import Bundle
from precimed.tabular.validate import encode, validate_table

NUMERIC_CELLS = [" 1.5 ", "1,5", "inf", "-inf", "nan", "NA", "n/a", "?", "None", "null", "",
                 "1e400", "1e39", "-1e39", "3.4e38", "\u0663", "\xa012\xa0", "\x1c3\x1c",
                 "\t7\n", "0x10", "1_000", "+5", "-0", "1.", ".5", "12345678901234567890",
                 "9007199254740993", "1e-320", "1E5", "5e+01", "--1", "1e", "e5", "12 3",
                 "\u00bd", "１２", "1.0000000000000000000001", "0.1000000000000000055511151231257827"]
CATEGORY_CELLS = ["positive", " NEGATIVE ", "Positive", "none", "None", "", "NA", "maybe",
                  "positivé", "\xa0positive", "pos itive", "nan", "?", "1"]


def _reference(frame: pd.DataFrame, card: dict) -> tuple[list[int], dict, dict, np.ndarray]:  # type: ignore[type-arg]
    ref = validate_table(frame, card)
    warnings: dict[int, list[str]] = {}
    for issue in ref.issues:
        if not issue.blocks_row:
            warnings.setdefault(issue.row, []).append(issue.message)
    x = encode(ref.frame.iloc[ref.valid_rows], card)
    return ref.valid_rows, ref.row_errors(), {r: "; ".join(m) for r, m in warnings.items()}, x


def _assert_same(frame: pd.DataFrame, chunk: object, card: dict) -> None:  # type: ignore[type-arg]
    valid, errors, warnings, x = _reference(frame, card)
    got = check_chunk(chunk, card)
    assert got.valid.tolist() == valid
    assert {r: e for r, e in enumerate(got.errors) if e is not None} == errors
    assert {r: w for r, w in enumerate(got.warnings) if w is not None} == warnings
    assert got.x is not None and got.x.dtype == np.float32
    assert np.array_equal(got.x, x)  # bit for bit


def _hostile_text(bundle: Bundle, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    bg = bundle.background()
    frame = bg.iloc[rng.integers(0, len(bg), n)].reset_index(drop=True)
    out = pd.DataFrame(index=frame.index)
    for spec in bundle.card["inputs"]:
        name = spec["name"]
        if spec["dtype"] == "category":
            col = frame[name].astype(str).to_numpy(dtype=object)
            hit = rng.random(n) < 0.15
            col[hit] = rng.choice(CATEGORY_CELLS, hit.sum())
        else:
            values = frame[name].to_numpy(dtype="float64") * (1 + rng.normal(0, 0.05, n))
            col = np.array([repr(float(v)) for v in values], dtype=object)  # 17 digits
            hit = rng.random(n) < 0.03
            col[hit] = rng.choice(NUMERIC_CELLS, hit.sum())
        out[name] = pd.Series(col, dtype="str")
    return out


def test_text_cells_as_read_from_csv(genomic: Bundle) -> None:
    frame = _hostile_text(genomic, 400, seed=3)
    batch = pa.RecordBatch.from_pandas(frame, preserve_index=False)
    _assert_same(frame, batch, genomic.card)
    _assert_same(frame, frame, genomic.card)  # a pandas frame takes the same path


def test_typed_parquet_columns(genomic: Bundle) -> None:
    rng = np.random.default_rng(5)
    frame = _hostile_text(genomic, 300, seed=5)
    numeric = [s["name"] for s in genomic.card["inputs"] if s["dtype"] != "category"]
    typed = frame.copy()
    for name in numeric:
        typed[name] = pd.to_numeric(frame[name], errors="coerce")
    typed.loc[rng.random(300) < 0.05, numeric[0]] = np.inf
    typed.loc[rng.random(300) < 0.05, numeric[1]] = 1e39
    age = typed["age"].where(np.isfinite(typed["age"]) & (typed["age"].abs() < 1e9))
    typed["age"] = age.round().astype("Int64")  # integers with nulls
    typed[numeric[2]] = typed[numeric[2]].astype("float32")
    typed["grade"] = typed["grade"].astype("category")  # dictionary-encoded in Arrow
    table = pa.Table.from_pandas(typed, preserve_index=False)
    reference = table.to_pandas()  # what the reference path reads back
    reference["grade"] = reference["grade"].astype(str).where(reference["grade"].notna(), None)
    _assert_same(reference, table.to_batches()[0], genomic.card)


def test_unusual_types_take_the_reference_path(genomic: Bundle) -> None:
    frame = genomic.background().iloc[:60].reset_index(drop=True)
    frame["size"] = pd.Series([1.5, "2.5", None, "x"] * 15, dtype=object)  # mixed objects
    frame["er"] = pd.Series(["positive", 1, "negative", None] * 15, dtype=object)
    _assert_same(frame, frame, genomic.card)
    flags = pd.DataFrame({"size": [True, False] * 30})  # booleans are not numbers
    got = check_chunk(frame.assign(size=flags["size"]), genomic.card)
    assert got.valid.size == 0 and got.errors[0].startswith("'size' is 'True', not a number")


def test_each_hostile_number_alone(genomic: Bundle) -> None:
    frame = genomic.background().iloc[:len(NUMERIC_CELLS)].astype(str).reset_index(drop=True)
    frame["size"] = pd.Series(NUMERIC_CELLS, dtype="str")  # one hostile cell per row
    _assert_same(frame, pa.RecordBatch.from_pandas(frame, preserve_index=False), genomic.card)


def test_clean_typed_columns_skip_the_cell_checks_with_the_same_result(genomic: Bundle) -> None:
    """Typed columns whose every cell is plainly valid take a shortcut (their minimum and
    maximum decide); the result must still be the reference's, bit for bit, beside columns
    that fail by one cell: a NaN, an infinity, a value outside the range, past float32."""
    bg = genomic.background()
    frame = bg.iloc[np.random.default_rng(9).integers(0, len(bg), 500)].reset_index(drop=True)
    specs = {s["name"]: s for s in genomic.card["inputs"] if s["dtype"] != "category"}
    numeric = list(specs)
    for name in numeric:  # typed, inside the training range
        frame[name] = pd.to_numeric(frame[name]).astype("float64")
    frame["age"] = frame["age"].round().astype("int64")  # integers, no nulls
    frame[numeric[3]] = frame[numeric[3]].astype("float32")
    frame.loc[7, numeric[4]] = np.nan
    frame.loc[11, numeric[5]] = np.inf
    frame.loc[13, numeric[6]] = float(specs[numeric[6]]["max"]) + 1.0  # extrapolated: a warning
    frame.loc[17, numeric[7]] = 1e39  # past float32: refused
    batch = pa.RecordBatch.from_pandas(frame, preserve_index=False)
    reference = batch.to_pandas()
    _assert_same(reference, batch, genomic.card)
    _assert_same(reference, frame, genomic.card)
    got = check_chunk(batch, genomic.card)
    assert got.valid.size == 498  # the infinity and 1e39 rows are refused
    assert "extrapolation" in got.warnings[13] and "training median" in got.warnings[7]


def test_clean_text_columns_take_the_shortcut_with_the_same_result(genomic: Bundle) -> None:
    """Text columns (as read from CSV) whose every cell is a plain decimal, padded with spaces
    or not, are parsed in one cast; beside them, columns with one missing token, one hostile
    number, one value outside the range: all as the reference reads them."""
    bg = genomic.background()
    rng = np.random.default_rng(21)
    frame = bg.iloc[rng.integers(0, len(bg), 400)].reset_index(drop=True)
    numeric = [s["name"] for s in genomic.card["inputs"] if s["dtype"] != "category"]
    text = pd.DataFrame(index=frame.index)
    for k, name in enumerate(genomic.card["inputs"]):
        col = frame[name["name"]]
        if name["dtype"] == "category":
            text[name["name"]] = col.astype(str)
            continue
        cells = [repr(float(v)) for v in col.to_numpy(dtype="float64")]  # up to 17 digits
        text[name["name"]] = [f" {c}\t" if k % 3 == 0 else c for c in cells]
    text = text.astype("str")
    text.loc[5, numeric[1]] = "NA"
    text.loc[6, numeric[2]] = "1,5"
    text.loc[8, numeric[3]] = "1e30"
    batch = pa.RecordBatch.from_pandas(text, preserve_index=False)
    _assert_same(text, batch, genomic.card)
    got = check_chunk(batch, genomic.card)
    assert got.valid.size == 399 and "not a number" in got.errors[6]
    assert "training median" in got.warnings[5] and "extrapolation" in got.warnings[8]


def test_no_missing_token_is_a_plain_decimal() -> None:
    """The text shortcut parses a column of plain decimals without looking for missing tokens:
    that holds only while no token (say a "-999" sentinel) is itself a plain decimal."""
    import re

    from precimed.cohort.columns import NUMBER
    from precimed.tabular.validate import _MISSING_TOKENS

    assert _MISSING_TOKENS and not [t for t in _MISSING_TOKENS if re.match(NUMBER, t)]
