"""The honest-evaluation fields of a shipped tabular network card are required together."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from precimed.cards import validate_card
from precimed.errors import BundleError

CARD = Path(__file__).resolve().parents[2] / "assets" / "models" / "breast-cytology-wdbc" / "card.json"


def _drop(card: dict[str, Any], path: str) -> dict[str, Any]:
    out = copy.deepcopy(card)
    *head, last = path.split(".")
    node = out
    for k in head:
        node = node[k]
    node.pop(last)
    return out


@pytest.mark.parametrize("path", ["factors", "caveats", "ethical_considerations", "evaluation.subgroups",
                                  "evaluation.subgroup_rule", "evaluation.calibration.slope",
                                  "evaluation.calibration.intercept", "evaluation.calibration.calibrated"])
def test_missing_field_is_refused(path: str) -> None:
    card = json.loads(CARD.read_text("utf-8"))
    validate_card(card)
    with pytest.raises(BundleError):
        validate_card(_drop(card, path))


def test_two_baselines_at_least_and_user_cards_exempt() -> None:
    card = json.loads(CARD.read_text("utf-8"))
    one = copy.deepcopy(card)
    one["evaluation"]["baselines"] = one["evaluation"]["baselines"][:1]
    with pytest.raises(BundleError, match="baselines"):
        validate_card(one)
    user = _drop(card, "factors")
    user["user_supplied"] = True
    validate_card(user)
