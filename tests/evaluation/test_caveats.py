"""Weaker-subgroup rule and the caveat lines shown beside a prediction."""

from __future__ import annotations

from typing import Any

from precimed.evaluation import subgroup_caveats
from precimed.evaluation.caveats import factor_level
from precimed.evaluation.subgroups import is_weaker


def _card() -> dict[str, Any]:
    return {
        "subject": "patient",
        "evaluation": {"metrics": {"auroc": {"value": 0.75, "ci95": [0.67, 0.83]}}, "subgroups": [
            {"factor": "er", "level": "negative", "n": 61, "weaker": True,
             "auroc": {"value": 0.58, "ci95": [0.42, 0.73]}},
            {"factor": "er", "level": "positive", "n": 128, "weaker": False,
             "auroc": {"value": 0.82, "ci95": [0.73, 0.9]}},
            {"factor": "age band", "level": "under 40", "n": 20, "weaker": True,
             "auroc": {"value": 0.6, "ci95": [0.3, 0.8]}}]},
        "factors": {"evaluated": [
            {"name": "er", "input": "er", "label": "ER status", "levels": ["negative", "positive"]},
            {"name": "age band", "input": "age", "label": "age",
             "bands": [{"level": "under 40", "below": 40}, {"level": "40-49", "below": 50},
                       {"level": "50 and over"}]}]},
    }


def test_rule() -> None:
    assert is_weaker({"value": 0.65, "ci95": [0.5, 0.8]}, 0.75)  # 0.10 below
    assert is_weaker({"value": 0.70, "ci95": [0.6, 0.74]}, 0.75)  # CI entirely below
    assert not is_weaker({"value": 0.70, "ci95": [0.55, 0.85]}, 0.75)
    assert not is_weaker(None, 0.75)


def test_lines_for_a_patient_in_weaker_subgroups() -> None:
    card = _card()
    lines = subgroup_caveats(card, {"er": "Negative", "age": 35.0})
    assert lines == [
        "Weaker for patients with ER status negative: AUROC 0.58 (95% CI 0.42–0.73, n = 61) against 0.75 overall.",
        "Weaker for patients with age under 40: AUROC 0.60 (95% CI 0.30–0.80, n = 20) against 0.75 overall.",
    ]
    assert subgroup_caveats(card, {"er": "positive", "age": 55}) == []
    assert subgroup_caveats(card, {"er": None, "age": float("nan")}) == []
    assert subgroup_caveats(card, {}) == []
    assert subgroup_caveats({"evaluation": {}}, {"er": "negative"}) == []


def test_bands() -> None:
    spec = _card()["factors"]["evaluated"][1]
    assert [factor_level(spec, a) for a in (24, 39.9, 40, 49.5, 50, 60)] == [
        "under 40", "under 40", "40-49", "40-49", "50 and over", "50 and over"]
    assert factor_level(spec, "n/a") is None
