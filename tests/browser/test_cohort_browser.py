"""Real browser: upload a labelled cohort on the Cohort page, see the metrics, download the
scores (CSV and Parquet) and check the downloaded files' rows."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "cohort"))
from cohort_data import cohort_frame  # noqa: E402

from precimed.registry import get_bundle  # noqa: E402

pytestmark = pytest.mark.browser
CYTOLOGY = "breast-cytology-wdbc"


def test_upload_cohort_and_download_scores(page, app_url, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    frame = cohort_frame(get_bundle(CYTOLOGY), 40, seed=3)
    frame.loc[7, "mean radius"] = "=1+2"  # invalid and hostile: must come back neutralised
    path = tmp_path / "cohort.csv"
    frame.to_csv(path, index=False)

    page.goto(f"{app_url}/cohort")
    model = page.locator('.st-key-cohort_model input[role="combobox"]')
    model.wait_for()
    model.click()  # the select itself: a click on its container may land on the label
    page.get_by_role("option", name="Breast mass cytology", exact=False).first.click()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(path))
    page.locator(".st-key-risk_histogram .js-plotly-plot").wait_for(state="visible")
    page.get_by_text("Not for clinical use").first.wait_for()
    page.locator(".st-key-confusion .js-plotly-plot").wait_for(state="visible")
    assert page.get_by_text("95% CI", exact=False).first.is_visible()

    with page.expect_download() as info:
        page.locator(".st-key-download_csv button").click()
    data = Path(info.value.path()).read_text("utf-8")
    rows = list(csv.DictReader(io.StringIO(data, newline="")))
    assert len(rows) == 40 and [int(r["row"]) for r in rows] == list(range(40))
    assert rows[7]["P(malignant)"] == "" and "is '=1+2', not a number" in rows[7]["error"]
    scored = [r for r in rows if r["prediction"]]
    assert len(scored) == 39 and all(r["top1_feature"] for r in scored)
    assert [r["patient_id"] for r in rows] == frame["patient_id"].tolist()

    with page.expect_download() as info:
        page.locator(".st-key-download_parquet button").click()
    table = pd.read_parquet(info.value.path())
    assert len(table) == 40 and table["P(malignant)"].notna().sum() == 39
    assert table["prediction"].dropna().isin(["benign", "malignant"]).all()
