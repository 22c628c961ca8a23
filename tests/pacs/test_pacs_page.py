"""AppTest of the Imaging page's PACS source against the real Orthanc: search, open, predict,
download the DICOM results, send them back after confirming; errors as st.error."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pacs_helpers import Pacs
from streamlit.testing.v1 import AppTest

from precimed.dicom.results import read_probabilities

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "2_imaging.py")


def _search(pacs: Pacs, password: str | None = None, **filters: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    at.radio(key="imaging_source").set_value("PACS").run()
    at.text_input(key="pacs_url").set_value(pacs.server.url)
    at.text_input(key="pacs_user").set_value(pacs.server.user)
    at.text_input(key="pacs_password").set_value(password or pacs.server.password)
    for key, value in filters.items():
        at.text_input(key=f"pacs_{key}").set_value(value)
    at.button[0].click().run()  # the form's submit button
    return at


@pytest.mark.slow
def test_search_open_predict_download_and_send(pacs: Pacs) -> None:
    ct = pacs.datasets["ct"]
    at = _search(pacs, patient_id="1CT1")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "2004-01-19" in at.selectbox(key="pacs_study").format_func(at.selectbox(key="pacs_study").value)
    at.button(key="pacs_open").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("P(lesion)" in m.label for m in at.metric)
    sr_bytes = next(b for b in at.get("download_button") if "pacs_download_sr" in b.proto.id)
    assert sr_bytes is not None
    # send: a confirmation first, naming what is sent and where
    at.button(key="pacs_send").click().run()
    warning = next(w.value for w in at.warning if "Send 2 object(s)" in w.value)
    assert "structured report (TID 1500)" in warning and "Parametric Map" in warning
    assert ct.StudyInstanceUID in warning
    before = len(pacs.client.list_series(ct.StudyInstanceUID))
    at.button(key="pacs_confirm_send").click().run()
    assert not at.error and any("Stored in the PACS" in s.value for s in at.success)
    series = pacs.client.list_series(ct.StudyInstanceUID)
    assert len(series) == before + 2
    sr_series = next(s for s in series if s.modality == "SR" and s.description.startswith("PreciMed"))
    [sr] = list(pacs.client._client.iter_series(ct.StudyInstanceUID, sr_series.series_uid))
    shown = float(next(m.value for m in at.metric if "P(lesion)" in m.label).rstrip("%")) / 100
    assert abs(read_probabilities(pydicom.dcmread(io.BytesIO(_bytes(sr))))["lesion"] - shown) < 0.0006


@pytest.mark.slow
def test_wrong_password_and_dead_server_are_st_errors(pacs: Pacs) -> None:
    at = _search(pacs, password="wrong")
    assert not at.exception
    assert any("refused the user and password (HTTP 401)" in e.value for e in at.error)
    at.text_input(key="pacs_url").set_value("http://127.0.0.1:9/dicom-web")
    at.button[0].click().run()
    assert any("is unreachable" in e.value for e in at.error) and not at.exception


def _bytes(ds: pydicom.Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
