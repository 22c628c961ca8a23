"""Scenarios (plain data, compared in one table) and the editor's choice of features."""

from __future__ import annotations

import json

import pytest

from precimed.cards import FeatureSpec, feature_specs
from precimed.errors import PrecimedInputError
from precimed.registry import Bundle
from precimed.tabular.validate import ValidatedTable
from precimed.whatif.analysis import evaluate_edits
from precimed.whatif.editor import visible_features, widget_bounds
from precimed.whatif.edits import row_values
from precimed.whatif.scenarios import Scenario, check_name, compare_scenarios


def test_scenarios_compare_side_by_side(genomic: Bundle, genomic_table: ValidatedTable) -> None:
    row = row_values(genomic_table, 3)
    scenarios = [Scenario("lower X221916_at", {"X221916_at": 2.5}),
                 Scenario("two genes", {"X221916_at": 2.5, "X203391_at": 6.0}),
                 Scenario("extrapolated", {"X221916_at": 20.0})]
    records = compare_scenarios(genomic, row, scenarios)
    assert [r["scenario"] for r in records] == ["original"] + [s.name for s in scenarios]
    assert records[0]["changes"] == 0 and records[0]["Δ P(metastasis)"] == 0.0
    for rec, s in zip(records[1:], scenarios, strict=True):
        w = evaluate_edits(genomic, row, s.edits)
        assert rec["P(metastasis)"] == pytest.approx(w.after.probabilities["metastasis"], abs=1e-6)
        assert rec["prediction"] == w.after.prediction and rec["changes"] == len(w.changed)
        assert rec["Δ P(metastasis)"] == pytest.approx(w.delta_probabilities()["metastasis"],
                                                      abs=1e-6)
    assert records[3]["extrapolation"] == "X221916_at" and records[1]["extrapolation"] == "—"
    json.dumps(records)  # plain data


def test_a_bad_scenario_is_named(genomic: Bundle, genomic_table: ValidatedTable) -> None:
    row = row_values(genomic_table, 0)
    with pytest.raises(PrecimedInputError, match="scenario 'older': 'age' is fixed"):
        compare_scenarios(genomic, row, [Scenario("older", {"age": row["age"] + 10})])


def test_scenario_records_round_trip_and_names() -> None:
    s = Scenario("a", {"x": 1.0, "grade": "intermediate"})
    assert Scenario.from_json(json.loads(json.dumps(s.to_json()))) == s
    with pytest.raises(PrecimedInputError, match="needs a name"):
        Scenario.from_json({"edits": {}})
    assert check_name("  b ", [s]) == "b"
    for bad in ("A", "original", "   "):
        with pytest.raises(PrecimedInputError):
            check_name(bad, [s])


def test_visible_features_for_a_wide_model(genomic: Bundle) -> None:
    specs = feature_specs(genomic.card)
    shap = {s.name: float(k) for k, s in enumerate(specs)}  # the last feature has most effect
    shown = visible_features(specs, shap, top=5)
    assert shown == [s.name for s in specs[::-1][:5]]
    shown = visible_features(specs, shap, top=3, search="GRADE", edited=["X200726_at"])
    assert set(shown) == set([s.name for s in specs[::-1][:3]] + ["grade", "X200726_at"])
    assert len(visible_features(specs, shap, top=0, search="x2")) == 30  # capped
    assert visible_features(specs, shap, top=0, search="oestrogen") == ["er"]  # descriptions


def test_widget_bounds() -> None:
    spec = FeatureSpec("g", "float", min=2.0, max=8.0)
    assert widget_bounds(spec, 5.0) == (2.0, 8.0, 0.01)
    assert widget_bounds(spec, 9.5)[:2] == (2.0, 9.5)  # the row's own value stays reachable
    assert widget_bounds(spec, 5.0, extrapolate=True)[:2] == (None, None)
    assert widget_bounds(FeatureSpec("n", "int", min=0, max=1), 1.0) == (0.0, 1.0, 1.0)
