"""Counterfactuals: each one really reaches the target on its own, changes only non-fixed
features, stays inside the plausible ranges, and the set is diverse."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tiny_bundle import direct_probs

from precimed.errors import PrecimedInputError
from precimed.registry import Bundle
from precimed.tabular.validate import ValidatedTable
from precimed.whatif.counterfactual import METHOD, CounterfactualSet, find_counterfactuals
from precimed.whatif.edits import row_values


def check_valid(bundle: Bundle, row: dict[str, Any], found: CounterfactualSet,
                max_changes: int) -> None:
    card = bundle.card
    specs = {i["name"]: i for i in card["inputs"]}
    for cf in found.counterfactuals:
        assert 1 <= cf.n_changes <= max_changes
        edited = {**row, **cf.changes}
        out = direct_probs(bundle, edited)
        if card["task"] == "binary":
            p = float(out[0])
            reached = (card["positive_class"] if p >= card["threshold"]
                       else next(c for c in card["classes"] if c != card["positive_class"]))
            assert cf.probabilities[card["positive_class"]] == pytest.approx(p, abs=1e-6)
        else:
            reached = card["classes"][int(np.argmax(out))]
        assert reached == found.target == cf.prediction
        for feature, value in cf.changes.items():
            spec = specs[feature]
            assert not spec.get("fixed"), f"fixed feature {feature} changed"
            assert value != row[feature]
            if spec["dtype"] == "category":
                assert value in spec["levels"]
            else:
                assert spec["min"] <= value <= spec["max"], (feature, value)
                if spec["dtype"] == "int":
                    assert value == round(value)
        assert cf.distance > 0
    sets = [frozenset(cf.changes) for cf in found.counterfactuals]
    assert len(set(sets)) == len(sets), "counterfactuals repeat the same features"


@pytest.mark.parametrize("r", range(6))
def test_genomic_counterfactuals_cross_the_threshold(genomic: Bundle,
                                                     genomic_table: ValidatedTable, r: int) -> None:
    row = row_values(genomic_table, r)
    found = find_counterfactuals(genomic, row, n=3)  # the default: at most 5 changes, then 10, 20
    assert found.method == METHOD
    assert found.target != found.original_prediction
    assert len(found.counterfactuals) == 3, found.note
    # the highest-risk patient (P = 0.70 against a threshold of 0.19) needs more than 5 changes
    # for three distinct counterfactuals; row 1 needs 4 (found only since the search explores
    # past the cap before pruning)
    assert found.max_changes == (10 if r == 0 else 5)
    check_valid(genomic, row, found, found.max_changes)
    # Sorted nearest first; the first is no farther than any other.
    assert [c.distance for c in found.counterfactuals] == sorted(c.distance
                                                                for c in found.counterfactuals)
    # Just past the boundary: the line search pulls the change back toward the original.
    p = found.counterfactuals[0].probabilities["metastasis"]
    assert abs(p - genomic.card["threshold"]) < 0.02
    json = found.to_json()
    assert json["counterfactuals"][0]["changes"] and "probabilities" in json["counterfactuals"][0]


def test_fewer_changes_allowed_means_sparser(genomic: Bundle,
                                             genomic_table: ValidatedTable) -> None:
    row = row_values(genomic_table, 0)
    found = find_counterfactuals(genomic, row, n=2, max_changes=3)
    check_valid(genomic, row, found, 3)


@pytest.mark.parametrize(("r", "target"), [(0, "high"), (0, "medium"), (3, "low"), (6, "high")])
def test_multiclass_counterfactuals_reach_the_target(tiny: Bundle, tiny_table: ValidatedTable,
                                                     r: int, target: str) -> None:
    row = row_values(tiny_table, r)
    predicted = tiny.classes[int(np.argmax(direct_probs(tiny, row)))]
    if predicted == target:
        with pytest.raises(PrecimedInputError, match="already predicted"):
            find_counterfactuals(tiny, row, target=target)
        return
    found = find_counterfactuals(tiny, row, target=target, n=3, max_changes=4)
    assert found.target == target and found.counterfactuals, found.note
    check_valid(tiny, row, found, 4)
    for cf in found.counterfactuals:
        assert "batch_year" not in cf.changes and "constant" not in cf.changes


def test_default_target_is_the_runner_up(tiny: Bundle, tiny_table: ValidatedTable) -> None:
    row = row_values(tiny_table, 2)
    probs = direct_probs(tiny, row)
    found = find_counterfactuals(tiny, row, n=1)
    assert found.target == tiny.classes[int(np.argsort(-probs)[1])]


def test_bad_targets(genomic: Bundle, genomic_table: ValidatedTable) -> None:
    row = row_values(genomic_table, 0)
    with pytest.raises(PrecimedInputError, match="unknown class 'maybe'"):
        find_counterfactuals(genomic, row, target="maybe")
    current = genomic.classes[int(direct_probs(genomic, row)[0] >= genomic.card["threshold"])]
    with pytest.raises(PrecimedInputError, match="already predicted"):
        find_counterfactuals(genomic, row, target=current)
    with pytest.raises(PrecimedInputError, match="≥ 1"):
        find_counterfactuals(genomic, row, n=0)
