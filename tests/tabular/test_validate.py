"""Validation against a card: columns, types, ranges, missing values, categories."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from precimed.errors import PrecimedInputError
from precimed.registry import get_bundle
from precimed.samples import sample_files
from precimed.tabular.io import read_table
from precimed.tabular.validate import aggregation_matrix, encode, encoded_columns, validate_table

GENOMIC = "breast-metastasis-gse7390"


@pytest.fixture(scope="module")
def card() -> dict[str, Any]:
    return get_bundle(GENOMIC).card


@pytest.fixture
def raw() -> pd.DataFrame:
    return read_table(sample_files(GENOMIC)[0])


def test_sample_is_clean(card: dict[str, Any], raw: pd.DataFrame) -> None:
    v = validate_table(raw, card)
    assert v.valid_rows == list(range(len(raw)))
    assert [i.kind for i in v.issues] == []
    assert any("Ignored 1 column" in n and "sample" in n for n in v.notes)
    assert list(v.frame.columns) == [i["name"] for i in card["inputs"]]


def test_missing_columns_are_named(card: dict[str, Any], raw: pd.DataFrame) -> None:
    with pytest.raises(PrecimedInputError, match=r"2 required column\(s\) missing: age, er"):
        validate_table(raw.drop(columns=["age", "er"]), card)


def test_case_and_whitespace_tolerated(card: dict[str, Any], raw: pd.DataFrame) -> None:
    renamed = raw.rename(columns={"age": " AGE ", "er": "Er"})
    v = validate_table(renamed, card)
    assert v.valid_rows == list(range(len(raw)))
    assert any("' AGE ' → 'age'" in n for n in v.notes)
    assert v.frame["age"].tolist() == raw["age"].astype(float).tolist()


def test_text_in_numeric_column_blocks_only_that_row(card: dict[str, Any], raw: pd.DataFrame) -> None:
    raw.loc[1, "size"] = "large"
    v = validate_table(raw, card)
    assert 1 not in v.valid_rows and 0 in v.valid_rows
    [issue] = [i for i in v.issues if i.kind == "type"]
    assert (issue.row, issue.column, issue.value) == (1, "size", "large")
    assert v.row_errors()[1] == "'size' is 'large', not a number"


def test_missing_value_is_imputed_and_flagged(card: dict[str, Any], raw: pd.DataFrame) -> None:
    raw.loc[0, "X200726_at"] = ""
    raw.loc[2, "grade"] = "NA"
    v = validate_table(raw, card)
    median = next(i["median"] for i in card["inputs"] if i["name"] == "X200726_at")
    assert v.frame.loc[0, "X200726_at"] == pytest.approx(median)
    assert v.frame.loc[2, "grade"] == next(i["median"] for i in card["inputs"] if i["name"] == "grade")
    assert {(i.row, i.column, i.kind) for i in v.issues} == {(0, "X200726_at", "missing"),
                                                            (2, "grade", "missing")}
    assert v.valid_rows == list(range(len(raw)))


def test_out_of_range_is_flagged_not_blocked(card: dict[str, Any], raw: pd.DataFrame) -> None:
    raw.loc[0, "age"] = "95"
    v = validate_table(raw, card)
    [issue] = v.issues
    assert issue.kind == "range" and "outside the training range" in issue.message
    assert 0 in v.valid_rows


def test_unknown_level_and_case_insensitive_levels(card: dict[str, Any], raw: pd.DataFrame) -> None:
    raw.loc[0, "er"] = "POSITIVE"
    raw.loc[1, "er"] = "maybe"
    v = validate_table(raw, card)
    assert v.frame.loc[0, "er"] == "positive"
    assert v.row_errors()[1].startswith("'er' is 'maybe', not one of negative, positive")


def test_infinite_and_all_bad(card: dict[str, Any], raw: pd.DataFrame) -> None:
    raw["size"] = "inf"
    with pytest.raises(PrecimedInputError, match="no row can be scored"):
        validate_table(raw, card)


def test_encoding_and_aggregation(card: dict[str, Any], raw: pd.DataFrame) -> None:
    v = validate_table(raw, card)
    x = encode(v.frame, card)
    enc = encoded_columns(card)
    assert x.shape == (len(raw), len(enc)) == (len(raw), 76 + 2 + 3 + 2)
    grade_cols = [j for j, (n, _) in enumerate(enc) if n == "grade"]
    assert np.all(x[:, grade_cols].sum(axis=1) == 1)
    agg = aggregation_matrix(card)
    names = [i["name"] for i in card["inputs"]]
    assert agg.shape == (83, 80)
    assert agg.sum(axis=0)[names.index("grade")] == 3 and agg.sum(axis=0)[names.index("er")] == 2
