"""Choices and filters behind the cohort page (plain functions, so they are tested without a
browser): which columns can be labels or subgroups, which rows a filter keeps."""

from __future__ import annotations

from typing import Any

import pandas as pd

from precimed.cohort.metrics import MAX_SUBGROUPS, label_indices
from precimed.cohort.score import prob_column, result_schema

LABEL_NAMES = ("label", "outcome", "class", "target", "diagnosis", "y", "truth")


def passthrough_columns(columns: list[str], card: dict[str, Any], *, explain: bool) -> list[str]:
    """Upload columns that are not model inputs (kept beside the scores: ids, labels, groups)."""
    inputs = {i["name"].strip().lower() for i in card["inputs"]}
    taken = set(result_schema(card, explain=explain).names)
    return [c for c in columns if c.strip().lower() not in inputs and c not in taken]


def label_candidates(results: pd.DataFrame, columns: list[str], card: dict[str, Any]) -> list[str]:
    """Pass-through columns in which most non-empty values name a class (best first)."""
    scored: list[tuple[float, str]] = []
    for col in columns:
        values = results[col].dropna()
        if values.empty:
            continue
        share = float((label_indices(values, card) >= 0).mean())
        if share >= 0.5:
            named = col.strip().lower() in LABEL_NAMES
            scored.append((share + named, col))
    return [c for _, c in sorted(scored, key=lambda t: -t[0])]


def subgroup_candidates(results: pd.DataFrame, columns: list[str], *, exclude: str | None) -> list[str]:
    """Pass-through columns with between 2 and MAX_SUBGROUPS distinct values."""
    out = []
    for col in columns:
        if col == exclude:
            continue
        n = results[col].nunique(dropna=True)
        if 2 <= n <= MAX_SUBGROUPS and n < max(len(results), 3):
            out.append(col)
    return out


def filter_results(results: pd.DataFrame, *, predictions: list[str] | None = None,
                   class_name: str | None = None, prob_range: tuple[float, float] = (0.0, 1.0),
                   errors_only: bool = False, include_unscored: bool = True) -> pd.DataFrame:
    """Rows whose prediction is among ``predictions`` and whose P(class_name) is in range, plus
    (``include_unscored``) the rows that could not be scored; with ``errors_only``, just those."""
    unscored = results["error"].notna()
    if errors_only:
        return results[unscored]
    keep = ~unscored
    if predictions is not None:
        keep &= results["prediction"].isin(predictions)
    if class_name is not None:
        p = results[prob_column(class_name)]
        keep &= p.between(prob_range[0], prob_range[1])
    return results[keep | (unscored & include_unscored)]


def focus_class(card: dict[str, Any]) -> str:
    """The class whose probability the page charts by default."""
    return str(card.get("positive_class") or card["classes"][-1])
