"""AppTest of the Cohort page: upload with labels and subgroups, scores, charts, metrics,
downloads, a report; image-less and broken uploads."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from page_keys import widget
from pypdf import PdfReader
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "cohort"))
from cohort_data import cohort_frame  # noqa: E402

from precimed.registry import get_bundle  # noqa: E402

PAGE = str(ROOT / "pages" / "4_cohort.py")
GENOMIC = "breast-metastasis-gse7390"


def _values(v: object) -> list[float]:
    """A plotly array from a chart spec: a list, or base64 'bdata' (plotly 6 typed arrays)."""
    if isinstance(v, dict) and "bdata" in v:
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)  # type: ignore[call-overload]


def _chart(at: AppTest, key: str) -> dict:  # type: ignore[type-arg]
    for chart in at.get("plotly_chart"):
        if key in chart.proto.id:
            return json.loads(chart.proto.spec)
    raise AssertionError(f"no chart {key}")


@pytest.fixture(scope="module")
def cohort_csv() -> bytes:
    frame = cohort_frame(get_bundle(GENOMIC), 80, seed=9)
    frame.loc[5, "size"] = "huge"
    return frame.to_csv(index=False).encode()


def test_upload_scores_charts_metrics_and_report(cohort_csv: bytes) -> None:
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    at.selectbox(key="cohort_model").set_value(GENOMIC).run()
    at.file_uploader(key="cohort_upload").set_value(("cohort.csv", cohort_csv, "text/csv")).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("Not for clinical use" in w.value for w in at.warning)
    assert any(f"version {get_bundle(GENOMIC).card['version']}" in c.value for c in at.caption)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows"] == "80" and metrics["Scored"] == "79" and metrics["Could not be scored"] == "1"
    [table] = [d.value for d in at.dataframe if "prediction" in d.value.columns]
    assert len(table) == 80 and (table["top1_feature"] != "").sum() == 79  # empty, not "None"
    hist = _chart(at, "risk_histogram")
    assert sum(len(_values(t["x"])) for t in hist["data"]) == 79
    imp = _chart(at, "importance")
    assert imp["data"][0]["type"] == "bar" and len(_values(imp["data"][0]["y"])) == 20
    # the label column is found by its values; AUROC with CI, calibration, confusion matrix
    assert widget(at.selectbox, "label_column").value == "outcome"
    assert "AUROC" in metrics or any(m.label == "AUROC" for m in at.metric)
    auroc = next(m for m in at.metric if m.label == "AUROC")
    assert 0 <= float(auroc.value) <= 1
    assert any(c.value.startswith("95% CI ") for c in at.caption)
    conf = _chart(at, "confusion")
    text = conf["data"][0]["text"]
    cells = _values(text) if isinstance(text, dict) else [c for r in text for c in _values(r)]
    assert sum(int(c) for c in cells) == 79
    assert _chart(at, "calibration")["data"][1]["name"] == "model"
    widget(at.selectbox, "subgroup_column").set_value("site").run()
    [groups] = [d.value for d in at.dataframe if "subgroup" in d.value.columns]
    assert groups["subgroup"].tolist()[0] == "all" and set(groups["subgroup"][1:]) == {
        "north", "south", "east"}
    assert groups["n"][1:].sum() == 79
    # filters
    at.checkbox(key="filter_errors").check().run()
    [only_errors] = [d.value for d in at.dataframe if "prediction" in d.value.columns]
    assert only_errors["row"].tolist() == [5]
    # downloads are on the page
    keys = " ".join(b.proto.id for b in at.get("download_button"))
    assert "download_csv" in keys and "download_parquet" in keys
    # a patient report for a chosen row
    widget(at.selectbox, "report_row").set_value(3).run()
    at.button(key="report_prepare").click().run()
    assert not at.error, [e.value for e in at.error]
    keys = " ".join(b.proto.id for b in at.get("download_button"))
    assert "report_download" in keys


def test_report_bytes_are_a_pseudonymised_pdf(cohort_csv: bytes) -> None:
    """The page's report path (read, validate one row, report_for_row) as plain calls."""
    from precimed.report import identifier_column, report_for_row
    from precimed.tabular.io import read_table
    from precimed.tabular.validate import validate_table

    bundle = get_bundle(GENOMIC)
    raw = read_table(cohort_csv, "cohort.csv")
    ident = str(raw.iloc[3][identifier_column(list(raw.columns))])
    pdf = report_for_row(bundle, validate_table(raw.iloc[[3]], bundle.card), 0, identifier=ident)
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert ident == "MRN-100003" and ident not in text and "PM-" in text


def test_bad_upload_shows_error() -> None:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    at.file_uploader(key="cohort_upload").set_value(("x.csv", b"foo,bar\n1,2\n", "text/csv")).run()
    assert not at.exception
    [err] = at.error
    assert "required column(s) missing" in err.value and "expected" in err.value


def test_sample_file_without_labels() -> None:
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    at.radio(key="cohort_source").set_value("Sample file").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [table] = [d.value for d in at.dataframe if "prediction" in d.value.columns]
    assert len(table) == 6 and isinstance(table, pd.DataFrame)
    assert widget(at.selectbox, "label_column").value == "(none)"


def test_image_model_scores_a_zip_of_dicom_files() -> None:
    import zipfile

    from precimed.registry import list_bundles
    from precimed.samples import sample_files

    image = next((b for b in list_bundles() if b.modality == "image" and sample_files(b.id)), None)
    if image is None:
        pytest.skip("no image bundle with DICOM samples is installed yet")
    dicoms = [p for p in sample_files(image.id) if p.suffix.lower() == ".dcm"][:3]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in dicoms:
            zf.write(p, p.name)
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    at.selectbox(key="cohort_model").set_value(image.id).run()
    at.file_uploader(key="cohort_zip").set_value(("series.zip", buf.getvalue(), "application/zip")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [table] = [d.value for d in at.dataframe if "prediction" in d.value.columns]
    assert set(table["source"]) >= {p.name for p in dicoms}
    assert table[[f"P({c})" for c in image.classes]].notna().all(axis=1).sum() >= len(dicoms)
    assert _chart(at, "risk_histogram")["data"]
    keys = " ".join(b.proto.id for b in at.get("download_button"))
    assert "download_csv" in keys and "download_parquet" in keys
