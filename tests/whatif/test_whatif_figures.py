"""The ICE / PDP chart (SVG): its series carry the curves' own numbers, the marker sits at the
row's value and prediction, pixels follow the values, and text from a card or an upload is
escaped."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest

from precimed.charts import read_svg_bars
from precimed.registry import Bundle
from precimed.tabular.validate import ValidatedTable
from precimed.whatif.curves import IceCurve, PartialDependence, ice_curve, partial_dependence
from precimed.whatif.edits import row_values
from precimed.whatif.figures import ice_pdp_svg

GENE = "X221916_at"


def _points(series: dict[str, str]) -> list[tuple[Any, float]]:
    return [(x, float(y)) for x, y in json.loads(series["points"])]


@pytest.mark.parametrize("feature", [GENE, "grade"])
def test_series_carry_the_curves(genomic: Bundle, genomic_table: ValidatedTable, feature: str) -> None:
    row = row_values(genomic_table, 1)
    ice = ice_curve(genomic, row, feature)
    pdp = partial_dependence(genomic, None, feature, grid=ice.grid)
    svg = ice_pdp_svg(ice, pdp, "metastasis", threshold=0.19, cohort_curves=5)
    series = read_svg_bars(svg)
    kinds = [s["kind"] for s in series]
    assert kinds == ["threshold"] + ["cohort"] * 5 + ["pdp", "ice", "current"]
    by_kind = {s["kind"]: s for s in series}
    j = ice.classes.index("metastasis")
    np.testing.assert_allclose([y for _, y in _points(by_kind["ice"])], ice.probabilities[:, j])
    np.testing.assert_allclose([y for _, y in _points(by_kind["pdp"])], pdp.mean[:, j])
    assert [x for x, _ in _points(by_kind["ice"])] == ice.grid
    assert float(by_kind["current"]["value"]) == pytest.approx(ice.probabilities[ice.current_index, j])
    assert by_kind["pdp"]["label"] == f"PDP: average over {pdp.rows} rows"
    assert float(by_kind["threshold"]["value"]) == 0.19


def _ice(probs: list[float], grid: list[float] | list[str], current: int, feature: str = "f") -> IceCurve:
    p = np.array(probs)
    return IceCurve(feature, list(grid), np.column_stack([1 - p, p]), ["no", "yes"], grid[current], current)


def test_pixels_follow_the_values() -> None:
    """Higher probability is higher on screen (smaller y); larger x values lie further right;
    the diamond is drawn where the ICE curve passes the current value."""
    svg = ice_pdp_svg(_ice([0.1, 0.5, 0.9], [0.0, 1.0, 2.0], 1), None, "yes")
    ice_g = re.search(r'data-kind="ice".*?<polyline points="([^"]+)"', svg)
    assert ice_g is not None
    pts = [tuple(map(float, p.split(","))) for p in ice_g.group(1).split()]
    assert pts[0][0] < pts[1][0] < pts[2][0] and pts[0][1] > pts[1][1] > pts[2][1]
    diamond = re.search(r'data-kind="current".*?<polygon points="([^"]+)"', svg)
    assert diamond is not None
    corners = [tuple(map(float, p.split(","))) for p in diamond.group(1).split()]
    assert corners[0][0] == pytest.approx(pts[1][0], abs=0.1)  # top corner above the point
    assert (corners[0][1] + corners[2][1]) / 2 == pytest.approx(pts[1][1], abs=0.1)


def test_categorical_grid_keeps_the_card_order() -> None:
    svg = ice_pdp_svg(_ice([0.2, 0.4, 0.3], ["low", "high", "mid"], 2), None, "yes")
    ticks = re.findall(r'text-anchor="middle" fill="#555">([^<]+)</text>', svg)
    assert ticks == ["low", "high", "mid"]
    assert "current value (mid)" in svg


def test_text_is_escaped() -> None:
    hostile = '"><script>alert(1)</script>'
    ice = _ice([0.2, 0.4], ["a", hostile], 1, feature=f"<img src=x onerror=alert(1)>{hostile}")
    pdp = PartialDependence(ice.feature, ice.grid, ice.probabilities, ice.probabilities[np.newaxis],
                            ice.classes, "training sample")
    svg = ice_pdp_svg(ice, pdp, "yes", cohort_curves=1)
    assert "<script" not in svg and "<img" not in svg
    assert [s["kind"] for s in read_svg_bars(svg)] == ["cohort", "pdp", "ice", "current"]
