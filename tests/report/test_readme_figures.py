"""Every figure the README prints for a tabular model is the current card's (issue 11).

The Models table's AUROC and Brier cells must start with the card's own value (one definition:
the card's ``value``, its ``ci95``), every decimal number in those cells must be one of the
card's evaluation figures, and the baselines table must be exactly what
``python -m precimed.report.models_table`` prints from the cards.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from precimed.registry import list_bundles
from precimed.report.evidence import ci_text
from precimed.report.models_table import baselines_markdown

README = Path(__file__).resolve().parents[2] / "README.md"
NUMBER = re.compile(r"(?<![\w.])\d+\.\d+")


def _cards() -> dict[str, dict[str, Any]]:
    return {b.id: b.card for b in list_bundles() if b.card["modality"] == "tabular"}


def _models_rows() -> dict[str, list[str]]:
    text = README.read_text("utf-8")
    start = text.index("| id | data | rows are | cross-validated AUROC")
    rows: dict[str, list[str]] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells
    return rows


def _figures(node: Any, out: set[str]) -> set[str]:
    """The card's numbers as a README may print them: 1-3 decimals, or a percentage."""
    if isinstance(node, dict):
        for v in node.values():
            _figures(v, out)
    elif isinstance(node, list):
        for v in node:
            _figures(v, out)
    elif isinstance(node, float):
        out.update(f"{abs(node):.{d}f}" for d in (1, 2, 3))
        out.add(f"{abs(node) * 100:.1f}")
    return out


@pytest.mark.parametrize("model_id", sorted(_cards()))
def test_models_table_row_is_the_cards(model_id: str) -> None:
    card = _cards()[model_id]
    rows = _models_rows()
    assert model_id in rows, f"README's Models table has no row for {model_id}"
    auroc_cell, brier_cell = rows[model_id][3], rows[model_id][4]
    key = "auroc" if card["task"] == "binary" else "auroc_macro"
    prefix = "" if key == "auroc" else "macro "
    assert auroc_cell.startswith(prefix + ci_text(card["evaluation"]["metrics"][key])), auroc_cell
    assert brier_cell.startswith(f"{card['evaluation']['metrics']['brier']['value']:.3f}"), brier_cell
    known = _figures(card["evaluation"], set())
    stale = [n for n in NUMBER.findall(auroc_cell + " " + brier_cell) if n not in known]
    assert not stale, f"{model_id}: README figures not on the card: {stale}"


def test_baselines_table_is_generated_from_the_cards() -> None:
    table = baselines_markdown([b.card for b in list_bundles()])
    assert table in README.read_text("utf-8")
