"""The SVG waterfall and probability bars (precimed/charts.py): numbers, geometry, escaping."""

from __future__ import annotations

import doctest
import re
import xml.etree.ElementTree as ET

import pytest

import precimed.charts as charts
from precimed.charts import AWAY, NEUTRAL, TOWARD, probability_svg, read_svg_bars, waterfall, waterfall_svg

NS = "{http://www.w3.org/2000/svg}"


def _svg(markup: str) -> ET.Element:
    return ET.fromstring(markup[markup.index("<svg"):markup.rindex("</svg>") + 6])


def _rects(markup: str) -> list[tuple[float, float, str]]:
    """(x, width, fill) of each bar's rectangle, top to bottom."""
    return [(float(r.get("x", 0)), float(r.get("width", 0)), r.get("fill", ""))
            for g in _svg(markup).iter(f"{NS}g") for r in g.iter(f"{NS}rect")]


def test_docstring_examples() -> None:
    assert doctest.testmod(charts).failed == 0


def test_waterfall_bars_accumulate_from_the_base_to_the_output() -> None:
    values = {"a": 0.30, "b": -0.10, "c": 0.05, "d": 0.01, "e": -0.002}
    wf = waterfall(0.2, values, {"a": 1.5, "b": "yes"}, output=0.458, class_name="event", max_features=3)
    labels = [b.label for b in wf.bars]
    assert labels == ["P(event)", "a = 1.5", "b = yes", "c", "2 other features", "base value (average over background)"]
    assert wf.title == "Why P(event) = 0.458" and wf.axis_title == "probability of 'event'"
    other = wf.bars[4]
    assert other.value == pytest.approx(0.008) and (other.start, other.end) == pytest.approx((0.2, 0.208))
    for upper, lower in zip(wf.bars[1:-2], wf.bars[2:-1], strict=True):
        assert upper.start == pytest.approx(lower.end)
    assert wf.bars[1].end == pytest.approx(0.458)
    assert [b.kind for b in wf.bars] == ["total", "toward", "away", "toward", "toward", "base"]
    assert [b.text for b in wf.bars] == ["0.458", "+0.300", "-0.100", "+0.050", "+0.008", "0.200"]


def test_waterfall_geometry_matches_the_numbers() -> None:
    """Bar widths are proportional to the pushes, on one scale; colours follow the convention."""
    wf = waterfall(0.1, {"a": 0.4, "b": -0.2}, {}, output=0.3, class_name="x")
    markup = waterfall_svg(wf)
    rects = _rects(markup)
    assert [fill for _, _, fill in rects] == [NEUTRAL, TOWARD, AWAY, NEUTRAL]
    px_per_unit = rects[0][1] / 0.3  # the output bar spans 0 -> 0.3
    for (_, width, _), bar in zip(rects, wf.bars, strict=True):
        assert width == pytest.approx(abs(bar.end - bar.start) * px_per_unit, abs=0.2)
    # the "a" bar starts where "b" ended (0.1 - 0.2 = -0.1), left of zero, which the output bar starts at
    zero = rects[0][0]
    assert rects[1][0] == pytest.approx(zero - 0.1 * px_per_unit, abs=0.2)
    assert rects[2][0] == pytest.approx(zero - 0.1 * px_per_unit, abs=0.2)  # b spans -0.1 .. 0.1


def test_markup_is_escaped_and_one_html_block() -> None:
    """Labels come from cards and uploads: escaped, and the markup stays one Markdown HTML block."""
    hostile = '<script>alert("x")</script>'
    wf = waterfall(0.5, {hostile: 0.1, "b&c": -0.05}, {hostile: '"><img src=x onerror=alert(1)>'},
                   output=0.55, class_name="a<b", flagged={hostile: "extrapolated"})
    markup = waterfall_svg(wf)
    assert "<script" not in markup and "<img" not in markup
    assert markup.startswith('<div class="pm-chart"><svg') and markup.endswith("</svg></div>")
    assert "\n" not in markup  # a blank line would end Markdown's HTML block
    bars = read_svg_bars(markup)  # well-formed XML, and the text survives escaping intact
    assert bars[1]["label"] == f'{hostile} = "><img src=x onerror=alert(1)> ⚠ extrapolated'
    assert bars[1]["flag"] == "extrapolated" and bars[2]["label"] == "b&c"
    assert _svg(markup).get("aria-label") == "Why P(a<b) = 0.550"


def test_probability_bars_never_claim_certainty_and_mark_the_threshold() -> None:
    markup = probability_svg({"malignant": 0.99996, "benign": 0.00004}, threshold=0.35,
                             positive_class="malignant")
    texts = [t.text for t in _svg(markup).iter(f"{NS}text")]
    assert "> 99.9%" in texts and "< 0.1%" in texts and "100.0%" not in texts
    assert "threshold 0.35" in texts
    rects = _rects(markup)
    assert [fill for _, _, fill in rects] == [TOWARD, NEUTRAL]
    full = rects[0][1] / 0.99996  # px for probability 1
    line = next(e for e in _svg(markup).iter(f"{NS}line") if e.get("data-threshold"))
    assert float(line.get("x1", 0)) == pytest.approx(rects[0][0] + 0.35 * full, abs=0.2)
    assert [b["label"] for b in read_svg_bars(markup)] == ["malignant", "benign"]


def test_multiclass_probabilities_are_drawn_in_full() -> None:
    """Every class label and value is drawn whole (no "73.…"): the label column fits the longest."""
    probs = {"none": 0.2, "mild": 0.07, "severe drug-induced liver injury": 0.73}
    markup = probability_svg(probs, threshold=None, positive_class=None)
    texts = [t.text for t in _svg(markup).iter(f"{NS}text")]
    assert {"73.0%", "7.0%", "20.0%", "severe drug-induced liver injury"} <= set(texts)
    assert not any("…" in (t or "") for t in texts)
    width = float(re.search(r'viewBox="0 0 (\d+)', markup).group(1))  # type: ignore[union-attr]
    assert min(x for x, _, _ in _rects(markup)) >= len("severe drug-induced liver injury") * charts.CHAR_PX
    assert width >= min(x for x, _, _ in _rects(markup)) + charts.PROB_PX  # the whole 0-1 scale


def test_beeswarm_rows_dots_and_colours() -> None:
    """Features sorted by mean |SHAP| (largest on top), one dot per row, low values blue and
    high vermillion, text columns grey; every label escaped."""
    import numpy as np

    from precimed.charts import beeswarm_svg

    rng = np.random.default_rng(1)
    values = rng.normal(0, 0.01, (30, 4))
    values[:, 2] *= 20  # the strongest feature
    feature_values = np.column_stack([np.arange(30.0), rng.normal(size=30), np.arange(30.0)[::-1],
                                      np.array(["a"] * 30, dtype=object)]).astype(object)
    markup = beeswarm_svg(values, feature_values, ["low_to_high", "noise", "<b>strong</b>", "text"],
                          class_name="event", max_features=3)
    rows = read_svg_bars(markup)
    assert [r["label"] for r in rows][0] == "<b>strong</b>" and len(rows) == 3  # max_features
    assert "<b>strong" not in markup  # escaped
    groups = [g for g in _svg(markup).iter(f"{NS}g") if g.get("data-kind") == "feature"]
    dots = [[c for c in g.iter(f"{NS}circle")] for g in groups]
    assert [len(d) for d in dots] == [30, 30, 30]
    strong = dots[0]  # values 29 .. 0: the first row is the highest, vermillion; the last blue
    assert strong[0].get("fill") == TOWARD and strong[-1].get("fill") == AWAY
    cx = [float(c.get("cx", 0)) for c in strong]
    order = np.argsort(cx)  # x follows the SHAP value
    assert list(order) == list(np.argsort(values[:, 2]))
    assert strong[0].find(f"{NS}title").text.startswith("<b>strong</b> = 29")  # type: ignore[union-attr]
    grey = beeswarm_svg(values, feature_values, ["a", "b", "c", "text"], class_name="x", max_features=4)
    text_row = next(g for g in _svg(grey).iter(f"{NS}g") if g.get("data-label") == "text")
    assert {c.get("fill") for c in text_row.iter(f"{NS}circle")} == {"#DDDDDD"}
