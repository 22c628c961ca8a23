"""AppTest of the Genomics page: sample, upload, flagged cells, errors, charts."""

from __future__ import annotations

from pathlib import Path

import pytest
from page_keys import svg_chart, widget
from streamlit.testing.v1 import AppTest

from precimed.registry import get_bundle
from precimed.samples import sample_files

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "1_genomics.py")
GENOMIC = "breast-metastasis-gse7390"


def _page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    return at


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [w.value for w in at.warning] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def test_sample_patient_shows_prediction_banner_and_waterfall() -> None:
    at = _page()
    assert not at.exception and not at.error
    at.selectbox(key="tabular_model").set_value(GENOMIC).run()
    assert "Not for clinical use" in _text(at)
    assert f"version {get_bundle(GENOMIC).card['version']}" in _text(at)
    metric = at.metric[0]
    assert metric.label == "P(metastasis)" and metric.value.endswith("%")
    title, bars = svg_chart(at, "waterfall")
    assert title.startswith("Why P(metastasis) = ")
    assert [b["kind"] for b in (bars[0], bars[-1])] == ["total", "base"]
    total = sum(float(b["value"]) for b in bars[1:])  # base value + every push
    assert total == pytest.approx(float(metric.value.lstrip("<> ").rstrip("%")) / 100, abs=6e-4)
    assert float(bars[0]["value"]) == pytest.approx(total, abs=1e-5)
    assert len(bars) == 2 + 12 + 1  # output, 12 features, the rest folded, base
    assert any(b["label"].startswith("er = ") or "other features" in b["label"] for b in bars)
    _, probs = svg_chart(at, "probabilities")
    assert [b["label"] for b in probs] == get_bundle(GENOMIC).card["classes"]
    # a few dots: SVG, no Plotly script to load; one row of dots per feature, 6 dots each
    title, features = svg_chart(at, "beeswarm")
    assert title == "Cohort SHAP summary for P(metastasis)" and len(features) == 15
    assert not [c for c in at.get("plotly_chart") if "beeswarm" in c.proto.id]
    assert len(at.dataframe) >= 1
    # The card summary beside the prediction carries the evaluation evidence (issue 11).
    from precimed.report.evidence_text import evidence_lines

    for heading, line in evidence_lines(get_bundle(GENOMIC).card):
        assert f"**{heading}.** {line}" in _text(at)


def test_upload_with_flagged_cells() -> None:
    at = _page()
    at.selectbox(key="tabular_model").set_value(GENOMIC).run()
    at.radio(key="source").set_value("Upload").run()
    lines = Path(sample_files(GENOMIC)[0]).read_text().splitlines()
    header = lines[0].split(",")
    row1 = lines[2].split(",")
    row1[header.index("size")] = "huge"
    row2 = lines[3].split(",")
    row2[header.index("age")] = ""
    data = "\n".join([lines[0].upper(), lines[1], ",".join(row1), ",".join(row2)]).encode()
    at.file_uploader(key="upload").set_value(("patients.csv", data, "text/csv")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("ignoring case" in i.value for i in at.info)
    expander_labels = [e.label for e in at.expander]
    assert any("2 flagged cell(s), 1 making a row unusable" in label for label in expander_labels)
    names = [lines[1].split(",")[0], lines[3].split(",")[0]]
    assert widget(at.selectbox, "row").options == [f"row 0 · {names[0]}", f"row 2 · {names[1]}"]
    [preds] = [d.value for d in at.dataframe if "prediction" in d.value.columns]
    assert preds.loc[1, "error"] == "'size' is 'huge', not a number"
    # The row with an imputed age: flagged next to its prediction, and on its waterfall bar.
    widget(at.selectbox, "row").set_value(2).run()
    assert any(w.value.startswith("⚠ Imputed input") and "'age'" in w.value for w in at.warning)
    labels = [b["label"] for b in svg_chart(at, "waterfall")[1]]
    median = next(i["median"] for i in get_bundle(GENOMIC).card["inputs"] if i["name"] == "age")
    assert any(f"age = {median:g} ⚠ imputed" in label for label in labels)  # the median, marked


def test_wrong_file_gives_error_not_traceback() -> None:
    at = _page()
    at.radio(key="source").set_value("Upload").run()
    at.file_uploader(key="upload").set_value(("x.csv", b"foo,bar\n1,2\n", "text/csv")).run()
    assert not at.exception
    [err] = at.error
    assert "required column(s) missing" in err.value and "expected" in err.value


def test_cytology_model_works_too() -> None:
    at = _page()
    at.selectbox(key="tabular_model").set_value("breast-cytology-wdbc").run()
    assert not at.exception and not at.error
    assert at.metric[0].label == "P(malignant)"


def test_one_click_report_button() -> None:
    at = _page()
    buttons = at.get("download_button")
    labels = [b.proto.label for b in buttons]
    assert "Download patient report (PDF)" in labels
