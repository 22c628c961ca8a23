"""AppTest of the Imaging page: upload, viewer, windowing, prediction, heatmap, metadata, errors."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from page_keys import svg_chart, widget
from streamlit.testing.v1 import AppTest

from precimed.registry import get_bundle
from precimed.samples import sample_files

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "2_imaging.py")
MODEL = "lesion-cnn-synthetic"


def _samples() -> dict[str, Path]:
    return {p.name: p for p in sample_files(MODEL)}


def _page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)  # the first run imports TensorFlow
    at.run()
    return at


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.radio(key="imaging_source").set_value("Upload").run()
    at.file_uploader(key="imaging_upload").set_value((name, data, "application/dicom")).run()
    return at


def _chart(at: AppTest, key: str) -> dict:  # type: ignore[type-arg]
    for chart in at.get("plotly_chart"):
        if key in chart.proto.id:
            return json.loads(chart.proto.spec)
    raise AssertionError(f"no chart {key}: {[c.proto.id for c in at.get('plotly_chart')]}")


def _array(value: object) -> np.ndarray:
    """A plotly array from the chart spec (plotly ≥ 6 sends numpy arrays as base64 typed arrays)."""
    if isinstance(value, dict) and "bdata" in value:
        import base64

        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = [int(n) for n in str(value.get("shape", len(arr))).split(",")]
        return arr.reshape(shape)
    return np.asarray(value)


def _metadata(at: AppTest):  # type: ignore[no-untyped-def]
    for df in at.dataframe:
        if "keyword" in df.value.columns:
            return df.value
    raise AssertionError("no metadata table")


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [w.value for w in at.warning] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def test_upload_a_dicom_shows_prediction_and_heatmap_overlay() -> None:
    path = _samples()["ct_abdomen_heldout_simulated-lesion.dcm"]
    at = _upload(_page(), path.name, path.read_bytes())
    assert not at.exception and not at.error, [e.value for e in at.error]
    spec = _chart(at, "imaging_overlay")
    types = [t["type"] for t in spec["data"]]
    assert types == ["image", "heatmap"]
    heat = spec["data"][1]
    z = _array(heat["z"])
    assert z.shape == (64, 64) and z.max() > 0 > z.min()
    assert heat["zmid"] == 0 and heat["x0"] > 0 and heat["dx"] == pytest.approx(8.0)
    assert spec["layout"]["shapes"], "strongest regions outlined"
    metric = at.metric[0]
    assert metric.label == "P(lesion)" and float(metric.value.lstrip("<> ").rstrip("%")) > 50
    text = _text(at)
    card = Path(__file__).resolve().parents[2] / "assets" / "models" / "lesion-cnn-synthetic" / "card.json"
    version = json.loads(card.read_text("utf-8"))["version"]
    assert "Not for clinical use" in text and f"version {version}" in text
    assert "Strongest regions" in text
    _, bars = svg_chart(at, "probabilities")
    assert [b["label"] for b in bars] == list(get_bundle(MODEL).card["classes"])
    # CT: presets offered; the default is the file's own window or soft tissue
    options = at.selectbox(key="imaging_preset").options
    assert {"CT lung", "CT mediastinum", "CT bone", "CT brain", "CT soft tissue"} <= set(options)


def test_window_preset_sets_centre_and_width_and_sliders_reuse_the_decoded_series() -> None:
    path = _samples()["ct_abdomen_heldout.dcm"]
    at = _upload(_page(), path.name, path.read_bytes())
    loaded = at.session_state["imaging_loaded"]["result"]
    at.selectbox(key="imaging_preset").set_value("CT lung").run()
    assert at.slider(key="imaging_wc").value == pytest.approx(-600)
    assert at.slider(key="imaging_ww").value == pytest.approx(1500)
    at.slider(key="imaging_ww").set_value(400.0).run()
    assert at.selectbox(key="imaging_preset").value == "custom"
    assert at.session_state["imaging_loaded"]["result"] is loaded  # not decoded again
    at.slider(key="imaging_zoom").set_value(2.0).run()
    spec = _chart(at, "imaging_overlay")
    lo, hi = spec["layout"]["xaxis"]["range"]
    assert hi - lo == pytest.approx(256, abs=1)
    assert not at.exception


def test_a_zipped_series_has_a_slice_slider_and_reports_bad_files() -> None:
    from pydicom.data import get_testdata_file

    s = _samples()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(s["ct_abdomen_heldout.dcm"], "a/ct.dcm")
        zf.write(s["ct_abdomen_heldout_simulated-lesion.dcm"], "a/ct_lesion.dcm")
        zf.write(get_testdata_file("rtplan.dcm", download=False), "a/plan.dcm")
    at = _upload(_page(), "study.zip", buf.getvalue())
    assert any("radiotherapy plan" in e.value for e in at.error)
    slider = at.slider(key="imaging_frame")
    assert slider.max == 1
    first = at.metric[0].value
    slider.set_value(1).run()
    assert at.metric[0].value != first
    assert len(at.dataframe) >= 1  # predictions for all images
    assert not at.exception


def test_metadata_is_masked_until_revealed_and_exports_are_offered() -> None:
    path = _samples()["mr_shoulder_heldout_J2K.dcm"]
    at = _upload(_page(), path.name, path.read_bytes())
    table = _metadata(at)
    row = table[table["keyword"] == "PatientName"].iloc[0]
    assert row["identifying"] and row["value"].startswith("••••")
    at.toggle(key="imaging_reveal").set_value(True).run()
    table = _metadata(at)
    assert not table[table["keyword"] == "PatientName"].iloc[0]["value"].startswith("••••")
    labels = [b.label for b in at.get("download_button")]
    assert "Download the displayed image (PNG)" in labels
    assert "Download this file de-identified (DICOM)" in labels


def test_bad_uploads_show_an_error_not_a_traceback() -> None:
    from pydicom.data import get_testdata_file

    at = _upload(_page(), "notes.dcm", b"just text")
    assert not at.exception
    assert any("notes.dcm: not a DICOM file" in e.value for e in at.error)
    sr = Path(get_testdata_file("test-SR.dcm", download=False)).read_bytes()
    at.file_uploader(key="imaging_upload").set_value(("report.dcm", sr, "application/dicom")).run()
    assert not at.exception
    assert any("structured report" in e.value for e in at.error)


def test_out_of_scope_images_get_no_prediction_unless_overridden() -> None:
    from pydicom.data import get_testdata_file

    us = Path(get_testdata_file("US1_UNCI.dcm", download=False)).read_bytes()
    at = _upload(_page(), "us.dcm", us)
    assert not at.exception
    [err] = [e.value for e in at.error]
    assert "Out of scope: no prediction" in err and "Modality US (expected: CR, CT, MR)" in err
    assert "photometric interpretation RGB" in err
    assert not [m for m in at.metric if m.label.startswith("P(")]  # 0 predictions shown
    assert _chart(at, "imaging_view")["data"][0]["type"] == "image"  # the viewer still works
    assert not [c for c in at.get("plotly_chart") if "imaging_overlay" in c.proto.id]
    at.toggle(key="imaging_allow_oos").set_value(True).run()
    assert not at.exception
    [banner] = [e.value for e in at.error]
    assert "Out of scope — shown only because you asked" in banner and "modality US" in banner
    assert [m for m in at.metric if m.label == "P(lesion)"]
    assert [t["type"] for t in _chart(at, "imaging_overlay")["data"]][:2] == ["image", "heatmap"]


def test_sample_picker_works_without_upload() -> None:
    at = _page()
    assert not at.exception
    names = widget(at.selectbox, "imaging_sample").options
    assert "ct_abdomen_heldout_simulated-lesion.dcm" in names
    widget(at.selectbox, "imaging_sample").set_value(
        next(p for p in sample_files(MODEL) if p.name == "mr_multiframe_training-background.dcm")).run()
    assert at.slider(key="imaging_frame").max == 9
    assert not at.exception and not at.error
