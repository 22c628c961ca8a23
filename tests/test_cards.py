"""The card schema: every rule the foundation issue lists is enforced."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from precimed.cards import feature_specs, validate_card
from precimed.errors import BundleError

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "assets" / "models" / "breast-metastasis-gse7390" / "card.json"


@pytest.fixture
def card() -> dict[str, Any]:
    return json.loads(CARD.read_text())


def test_shipped_card_is_valid(card: dict[str, Any]) -> None:
    assert validate_card(card) is card
    specs = feature_specs(card)
    assert len(specs) == 80
    by_name = {s.name: s for s in specs}
    assert {"age", "size", "grade", "er"} <= set(by_name)
    assert by_name["er"].levels == ("negative", "positive")
    assert by_name["age"].fixed and by_name["age"].unit == "years"
    assert sum(s.name.endswith("_at") for s in specs) == 76


REQUIRED = ["id", "name", "version", "task", "modality", "classes", "threshold", "inputs",
            "training_data", "evaluation", "explanation", "intended_use", "out_of_scope",
            "limitations", "not_for_clinical_use", "weights_sha256", "produced_by"]


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_required_field_is_refused(card: dict[str, Any], field: str) -> None:
    del card[field]
    with pytest.raises(BundleError, match=f"'{field}' is a required property"):
        validate_card(card)


def _mutated(card: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(card)
    node = out
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


@pytest.mark.parametrize(("path", "value", "message"), [
    (["task"], "regression", "task"),
    (["modality"], "video", "modality"),
    (["version"], "1.0", "version"),
    (["weights_sha256"], "abc", "weights_sha256"),
    (["threshold"], 1.5, "threshold"),
    (["classes"], ["only"], "classes"),
    (["positive_class"], KeyError, "positive_class"),
    (["positive_class"], "cancer", "positive_class 'cancer' is not one of the classes"),
    (["training_data", "label_definition"], KeyError, "label_definition"),
    (["training_data", "n"], 0, "training_data/n"),
    (["training_data", "class_counts"], {"a": 1, "b": 2}, "class_counts"),
    (["evaluation", "metrics", "auroc"], KeyError, "auroc"),
    (["evaluation", "metrics", "auroc", "ci95"], [0.5], "ci95"),
    (["evaluation", "calibration", "observed"], KeyError, "observed"),
    (["inputs", 0, "min"], KeyError, "min"),
    (["inputs", -3, "levels"], KeyError, "levels"),  # -3 is "er"
    (["inputs", 0, "dtype"], "complex", "dtype"),
    (["inputs", 0, "min"], 1e9, "min > max"),
    (["limitations"], [], "limitations"),
    (["not_for_clinical_use"], "yes", "not_for_clinical_use"),
])
def test_schema_rules(card: dict[str, Any], path: list[Any], value: Any, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        validate_card(_mutated(card, path, value))


def test_multiclass_needs_three_classes_and_macro_auroc(card: dict[str, Any]) -> None:
    card["task"] = "multiclass"
    with pytest.raises(BundleError):
        validate_card(card)
    card["classes"] = ["a", "b", "c"]
    card["training_data"]["class_counts"] = {"a": 1, "b": 1, "c": 1}
    del card["positive_class"]
    with pytest.raises(BundleError, match="auroc_macro"):
        validate_card(card)
    card["evaluation"]["metrics"]["auroc_macro"] = {"value": 0.7, "ci95": [0.6, 0.8]}
    assert validate_card(card)


def test_duplicate_input_names_refused(card: dict[str, Any]) -> None:
    card["inputs"].append(dict(card["inputs"][0], name=card["inputs"][0]["name"].upper()))
    with pytest.raises(BundleError, match="repeat"):
        validate_card(card)
