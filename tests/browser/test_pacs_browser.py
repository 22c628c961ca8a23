"""Real browser: the Imaging page's PACS source against a real Orthanc — search, open a series,
see the prediction and heatmap, send the results back after confirming."""

from __future__ import annotations

from collections.abc import Iterator

import pydicom
import pytest

from precimed.pacs import PacsClient, pacs_config
from precimed.pacs.local_orthanc import LocalOrthanc

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def orthanc() -> Iterator[tuple[LocalOrthanc, pydicom.Dataset]]:
    from pydicom.data import get_testdata_file

    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    with LocalOrthanc() as server:
        PacsClient(pacs_config({"url": server.url, "user": server.user, "password": server.password},
                               env={})).store([ct])
        yield server, ct


def test_pacs_search_open_predict_send(page, app_url, orthanc) -> None:  # type: ignore[no-untyped-def]
    server, ct = orthanc
    page.goto(f"{app_url}/imaging")
    page.get_by_text("PACS", exact=True).click()
    page.get_by_label("PACS DICOMweb URL").fill(server.url)
    page.get_by_label("User (empty: the configured login)").fill(server.user)
    page.get_by_label("Password", exact=True).fill(server.password)
    page.get_by_label("Patient ID").fill("1CT1")
    page.get_by_role("button", name="Search the PACS").click()
    page.get_by_text("Study (1 found)").wait_for()
    page.locator(".st-key-pacs_open button").click()
    overlay = page.locator(".st-key-imaging_overlay .js-plotly-plot")
    overlay.wait_for(state="visible")
    assert overlay.evaluate("el => el.data.map(t => t.type)") == ["image", "heatmap"]
    assert page.locator('[data-testid="stMetricValue"]').first.inner_text().endswith("%")
    page.get_by_text("Not for clinical use").first.wait_for()
    page.locator(".st-key-pacs_download_sr button").wait_for()
    page.locator(".st-key-pacs_send button").click()
    page.get_by_text("Send 2 object(s)").first.wait_for()
    page.locator(".st-key-pacs_confirm_send button").click()
    page.get_by_text("Stored in the PACS").first.wait_for()
    assert page.get_by_text("Traceback").count() == 0
    client = PacsClient(pacs_config({"url": server.url, "user": server.user, "password": server.password}, env={}))
    mods = sorted(s.modality for s in client.list_series(str(ct.StudyInstanceUID)))
    assert mods == ["CT", "OT", "SR"]  # the source, the Parametric Map, the report
