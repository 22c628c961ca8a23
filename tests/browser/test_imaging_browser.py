"""Real browser: upload a DICOM file on the Imaging page and see the SHAP heatmap overlay."""

from __future__ import annotations

import pytest

from precimed.samples import sample_files

pytestmark = pytest.mark.browser
MODEL = "lesion-cnn-synthetic"


def _sample(name: str) -> str:
    return str(next(p for p in sample_files(MODEL) if p.name == name))


def test_upload_dicom_shows_heatmap_overlay(page, app_url) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{app_url}/imaging")
    page.get_by_text("Upload", exact=True).click()
    uploader = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    uploader.set_input_files(_sample("ct_abdomen_heldout_simulated-lesion.dcm"))
    overlay = page.locator(".st-key-imaging_overlay .js-plotly-plot")
    overlay.wait_for(state="visible")
    traces = overlay.evaluate("el => el.data.map(t => t.type)")
    assert traces == ["image", "heatmap"]
    # the heatmap layer is drawn (a colour bar titled SHAP) over the image
    page.locator(".st-key-imaging_overlay .colorbar").first.wait_for()
    page.get_by_text("Not for clinical use").first.wait_for()
    page.get_by_text("Strongest regions").first.wait_for()
    assert page.locator('[data-testid="stMetricValue"]').first.inner_text().endswith("%")
    # the opacity slider changes the drawn layer without reloading the file
    opacity = overlay.evaluate("el => el.data[1].opacity")
    assert 0 < opacity < 1


def test_bad_file_shows_an_error(page, app_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "notes.dcm"
    bad.write_text("not an image")
    page.goto(f"{app_url}/imaging")
    page.get_by_text("Upload", exact=True).click()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(bad))
    page.get_by_text("notes.dcm: not a DICOM file").first.wait_for()
    assert page.get_by_text("Traceback").count() == 0
