"""Genomics page: the network beside the published reference, gene symbols, and the
extrapolation flag printed next to the prediction (issue 11, items 1 and 7)."""

from __future__ import annotations

from pathlib import Path

import pytest
from page_keys import svg_chart, widget
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "1_genomics.py")
SAMPLE = ROOT / "assets" / "samples" / "breast-metastasis-gse7390.csv"




@pytest.mark.slow
def test_network_beside_reference_with_flags_and_symbols() -> None:
    lines = SAMPLE.read_text().splitlines()
    header = lines[0].split(",")
    first = lines[1].split(",")
    first[header.index("size")] = "25"  # training range 0.6-5 cm
    data = "\n".join([lines[0], ",".join(first), *lines[2:]]).encode()
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    at.selectbox(key="tabular_model").set_value("breast-metastasis-gse7390").run()
    at.radio(key="source").set_value("Upload").run()
    at.file_uploader(key="upload").set_value(("patients.csv", data, "text/csv")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]

    # next to the prediction: the extrapolation, in words
    flags = [w.value for w in at.warning if "Extrapolated" in w.value]
    assert flags == ["⚠ Extrapolated input: 'size' = 25 is outside the training range [0.6, 5] (extrapolation). "
                     "The model never saw such values: read this prediction, and the flagged bars, with caution."]
    # the waterfall marks that bar and names probe sets by gene symbol
    labels = [b["label"] for b in svg_chart(at, "waterfall")[1]]
    assert any("size = 25 ⚠ extrapolated" in y for y in labels)
    assert any(y.startswith(("BUB1 (", "CCNE2 (", "PPP1CC (", "ESM1 (")) or " (X" in y for y in labels)
    # both calls, side by side, and whether they agree
    assert [s.value for s in at.success if s.value.startswith("Both call this patient high risk")]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Reference: 76-gene Relapse Score"] == "high risk"

    widget(at.selectbox, "row").set_value(4).run()  # metastasis-free: the network clears, the score does not
    assert not at.exception
    [disagree] = [w.value for w in at.warning if w.value.startswith("They disagree")]
    assert "the network calls this patient low risk" in disagree and "calls it high risk (score +55.8 ≥ 0)" in disagree
    assert not [w.value for w in at.warning if "Extrapolated" in w.value]  # row 4 has no flag
