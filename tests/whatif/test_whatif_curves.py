"""ICE and PDP: the curve passes through the row's prediction; the PDP is the mean ICE curve;
each sweep is one batched model call."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import precimed.predict as predict_module
from precimed.cards import FeatureSpec
from precimed.errors import PrecimedInputError
from precimed.predict import predict_proba
from precimed.registry import Bundle
from precimed.tabular.validate import ValidatedTable, encode, validate_table
from precimed.whatif.curves import feature_grid, ice_curve, partial_dependence, sweep
from precimed.whatif.edits import row_values, rows_frame

GENE = "X221916_at"


def _predict(bundle: Bundle, row: dict[str, Any]) -> np.ndarray:
    return predict_proba(bundle, encode(rows_frame(bundle.card, [row]), bundle.card))[0]


@pytest.mark.parametrize("feature", [GENE, "grade", "age"])
def test_ice_passes_through_the_row(genomic: Bundle, genomic_table: ValidatedTable,
                                    feature: str) -> None:
    row = row_values(genomic_table, 1)
    ice = ice_curve(genomic, row, feature, points=25)
    assert ice.grid[ice.current_index] == row[feature]
    np.testing.assert_allclose(ice.probabilities[ice.current_index], _predict(genomic, row),
                               atol=1e-6)
    np.testing.assert_allclose(ice.probabilities.sum(axis=1), 1.0, atol=1e-6)
    spec = next(i for i in genomic.card["inputs"] if i["name"] == feature)
    if spec["dtype"] == "category":
        assert ice.grid == spec["levels"]
    else:
        assert ice.grid[0] <= spec["min"] and ice.grid[-1] >= spec["max"]
        assert ice.grid == sorted(ice.grid)
    assert ice.fixed == bool(spec.get("fixed"))
    # Every other point is the model on the row with only this feature changed.
    k = len(ice.grid) // 2
    moved = _predict(genomic, {**row, feature: ice.grid[k]})
    np.testing.assert_allclose(ice.probabilities[k], moved, atol=1e-6)


def test_ice_includes_an_out_of_range_current_value(genomic: Bundle,
                                                    genomic_table: ValidatedTable) -> None:
    row = {**row_values(genomic_table, 0), GENE: 9.9}
    ice = ice_curve(genomic, row, GENE, points=5)
    assert ice.grid[-1] == 9.9 and ice.current_index == len(ice.grid) - 1
    np.testing.assert_allclose(ice.probabilities[-1], _predict(genomic, row), atol=1e-6)


def test_pdp_is_the_mean_of_the_background_ice_curves(genomic: Bundle,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    background = validate_table(genomic.background(), genomic.card).frame
    calls: list[int] = []
    real = predict_module.raw_output
    monkeypatch.setattr(predict_module, "raw_output",
                        lambda model, x, batch=predict_module.BATCH: calls.append(len(x))
                        or real(model, x, batch))
    pdp = partial_dependence(genomic, None, GENE, points=11)
    assert calls == [len(background) * len(pdp.grid)], "one batched model call"
    assert pdp.rows == len(background) == 100 and "background" in pdp.source
    rows = [row_values(validate_table(background.iloc[[k]], genomic.card), 0) for k in (0, 37, 99)]
    for k, r in zip((0, 37, 99), rows, strict=True):
        own = sweep(genomic, [r], GENE, pdp.grid)[0]
        np.testing.assert_allclose(pdp.ice[k], own, atol=1e-6)
    np.testing.assert_allclose(pdp.mean, pdp.ice.mean(axis=0), atol=1e-12)


def test_pdp_over_an_uploaded_cohort_multiclass(tiny: Bundle, tiny_table: ValidatedTable) -> None:
    cohort = tiny_table.frame.iloc[tiny_table.valid_rows]
    pdp = partial_dependence(tiny, cohort, "route")
    assert pdp.grid == ["oral", "iv", "topical"] and pdp.rows == len(cohort)
    assert pdp.mean.shape == (3, 3) and "uploaded" in pdp.source
    for k in range(pdp.rows):
        row = row_values(tiny_table, tiny_table.valid_rows[k])
        ice = ice_curve(tiny, row, "route")
        np.testing.assert_allclose(pdp.ice[k], ice.probabilities, atol=1e-6)
    out = pdp.to_json()
    assert set(out["mean"]) == {"low", "medium", "high"}


def test_grid_rules() -> None:
    assert feature_grid(FeatureSpec("n", "int", min=0, max=1), points=41) == [0.0, 1.0]
    assert feature_grid(FeatureSpec("c", "float", min=1.5, max=1.5), points=9) == [1.5]
    with pytest.raises(PrecimedInputError, match="no range"):
        feature_grid(FeatureSpec("x", "float"))


def test_unknown_feature(genomic: Bundle, genomic_table: ValidatedTable) -> None:
    with pytest.raises(PrecimedInputError, match="no input 'nope'"):
        ice_curve(genomic, row_values(genomic_table, 0), "nope")
