"""Real browser: upload a sample file on the Genomics page and see the waterfall."""

from __future__ import annotations

import pytest
from browser_ui import WATERFALL

from precimed.samples import sample_files

pytestmark = pytest.mark.browser


def test_upload_sample_shows_waterfall(page, app_url) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{app_url}/genomics")
    page.get_by_text("Upload", exact=True).click()
    uploader = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    uploader.set_input_files(str(sample_files("breast-cytology-wdbc")[0]))
    # The default model is the first tabular one; pick by visible label if needed.
    waterfall = page.locator(WATERFALL).first
    waterfall.wait_for(state="visible")
    page.get_by_text("Not for clinical use").first.wait_for()
    page.locator("svg text", has_text="base value (average over background)").first.wait_for()
    assert page.locator('[data-testid="stMetricValue"]').first.inner_text().endswith("%")


def test_one_click_report_download(page, app_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pypdf import PdfReader

    page.goto(f"{app_url}/genomics")
    button = page.get_by_role("button", name="Download patient report (PDF)")
    button.wait_for()
    with page.expect_download() as info:
        button.click()
    path = tmp_path / "report.pdf"
    info.value.save_as(path)
    text = " ".join(p.extract_text() for p in PdfReader(path).pages)
    assert "not for clinical use" in text.lower()
    assert "1.0.0" in text
    first_sample = sample_files("breast-cytology-wdbc")[0].read_text().splitlines()[1].split(",")[0]
    assert first_sample not in text  # the identifier is pseudonymised
