"""Caveats read off a card: weaker subgroups, shown beside a patient's prediction.

Pure functions of the card (no numpy, no model), cheap enough for every prediction.

Example:
    >>> card = {"subject": "patient", "evaluation": {"metrics": {"auroc": {"value": 0.75}},
    ...     "subgroups": [{"factor": "er", "level": "negative", "n": 61, "weaker": True,
    ...                    "auroc": {"value": 0.58, "ci95": [0.42, 0.73]}}]},
    ...     "factors": {"evaluated": [{"name": "er", "input": "er", "label": "ER status"}]}}
    >>> subgroup_caveats(card, {"er": "negative"})
    ['Weaker for patients with ER status negative: AUROC 0.58 (95% CI 0.42–0.73, n = 61) against 0.75 overall.']
    >>> subgroup_caveats(card, {"er": "positive"})
    []
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def _overall_auroc(card: dict[str, Any]) -> float | None:
    metrics = card.get("evaluation", {}).get("metrics", {})
    m = metrics.get("auroc") or metrics.get("auroc_macro")
    return None if m is None else float(m["value"])


def factor_level(spec: dict[str, Any], value: Any) -> str | None:
    """The level of one factor for a row's raw value (bands for numbers), or ``None``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    bands = spec.get("bands")
    if bands:
        try:
            x = float(value)
        except (TypeError, ValueError):
            return None
        for band in bands:
            if "below" not in band or x < float(band["below"]):
                return str(band["level"])
        return None
    text = str(value).strip().lower()
    for level in spec.get("levels", []) or [text]:
        if str(level).strip().lower() == text:
            return str(level)
    return None


def weaker_subgroups(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The card's subgroups flagged by the weaker-subgroup rule."""
    return [s for s in card.get("evaluation", {}).get("subgroups", []) if s.get("weaker")]


def caveat_line(card: dict[str, Any], sub: dict[str, Any]) -> str:
    """``Weaker for patients with ER status negative: AUROC 0.58 (95% CI …, n = 61) against 0.75 overall.``"""
    specs = {f["name"]: f for f in card.get("factors", {}).get("evaluated", [])}
    label = specs.get(sub["factor"], {}).get("label", sub["factor"])
    subject = card.get("subject", "patient")
    auc = sub["auroc"]
    overall = _overall_auroc(card)
    against = f" against {overall:.2f} overall" if overall is not None else ""
    return (f"Weaker for {subject}s with {label} {sub['level']}: AUROC {auc['value']:.2f} "
            f"(95% CI {auc['ci95'][0]:.2f}–{auc['ci95'][1]:.2f}, n = {sub['n']}){against}.")


def subgroup_caveats(card: dict[str, Any], row_values: Mapping[str, Any]) -> list[str]:
    """Lines to show beside a prediction for a row that falls in a weaker subgroup.

    Args:
        card: the model card (its ``factors.evaluated`` say which input defines each factor).
        row_values: the row's raw input values by feature name.

    Returns:
        One sentence per weaker subgroup the row belongs to; empty if none.
    """
    specs = {f["name"]: f for f in card.get("factors", {}).get("evaluated", [])}
    lines: list[str] = []
    for sub in weaker_subgroups(card):
        spec = specs.get(sub["factor"])
        if spec is None or spec.get("input") not in row_values:
            continue
        if factor_level(spec, row_values[spec["input"]]) == sub["level"]:
            lines.append(caveat_line(card, sub))
    return lines
