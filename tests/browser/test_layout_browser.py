"""Issue 16, item 6: no metric cut off with an ellipsis, at a wide viewport and at 1280×720.

Each page is driven to the state where its metrics show (Genomics: a binary prediction with
its published reference, and the 3-class DILI one, once cut to "73.…"; Imaging: a heatmap;
What-if: an edit of a binary and of the 3-class model, and the image model; Cohort: a scored,
labelled 3-class cohort), then, at each viewport, every metric value and label is checked: its
text must fit its box (no element inside it with ``scrollWidth > clientWidth``) and hold no
"…". Any other text of the main area that CSS cuts with an ellipsis fails too (a checkbox
label once read "Only rows that coul…"). Screenshots of what the user sees and of the main
area are saved under the test's ``tmp_path``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from browser_ui import TRUNCATED_JS, assert_clean, choose, edit_number, settle

from precimed.registry import get_bundle, list_bundles

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "cohort"))
from cohort_data import cohort_frame  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWPORTS = [(1920, 1080), (1280, 720)]
DILI = "dili-hepatic-injury-qsar"
LESION = "lesion-cnn-synthetic"
GENOMIC = "breast-metastasis-gse7390"  # binary, paired with a published reference (two more metrics)
MAX_SHOT_PX = 4000
NEXT_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def label(model_id: str) -> str:
    b = get_bundle(model_id)
    return f"{b.name} — v{b.version}"


def check_layout(page: Any, tmp_path: Path, state: str, min_metrics: int) -> None:
    """At every viewport: metrics that fit, no traceback; screenshots of the view and main area."""
    assert page.locator('[data-testid="stMetricValue"]').count() >= min_metrics, f"{state}: metrics missing"
    for width, height in VIEWPORTS:
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate(NEXT_FRAMES)  # the new layout is drawn
        where = f"{state} at {width}×{height}"
        cut = page.evaluate(TRUNCATED_JS)
        page.screenshot(path=tmp_path / f"{state}-{width}x{height}-view.png")
        # Streamlit scrolls inside its own container: to see the main area, make the viewport
        # as tall as it (same width, so the same line breaks and truncation; capped, the Model
        # cards page is several metres long).
        tall = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
        page.set_viewport_size({"width": width, "height": min(max(tall, height), MAX_SHOT_PX)})
        page.evaluate(NEXT_FRAMES)
        page.screenshot(path=tmp_path / f"{state}-{width}x{height}-main.png")
        cut += page.evaluate(TRUNCATED_JS)
        assert not cut, f"{where}: cut off: {cut}"
        assert_clean(page, where)


def home(page: Any, url: str, tmp_path: Path) -> None:
    page.goto(url)
    settle(page, '[class*="st-key-catalogue-"]')
    assert page.locator('[class*="st-key-catalogue-"]').count() == len(list_bundles())
    check_layout(page, tmp_path, "home", 0)


def genomics(page: Any, url: str, tmp_path: Path) -> None:
    page.goto(f"{url}/genomics")
    settle(page, ".st-key-tabular_model")
    choose(page, ".st-key-tabular_model", label(GENOMIC))
    settle(page, f'[class*="st-key-row__{GENOMIC}__"]', ".st-key-gx_probs_0 [data-testid=stMetricValue]")
    check_layout(page, tmp_path, "genomics-binary", 3)
    choose(page, ".st-key-tabular_model", label(DILI))
    settle(page, f'[class*="st-key-row__{DILI}__"]', ".st-key-gx_probs_2 [data-testid=stMetricValue]")
    check_layout(page, tmp_path, "genomics-dili", 3)
    # The check can fail: squeeze one probability and it must be reported.
    page.locator(".st-key-gx_probs_0 [data-testid=stMetricValue]").evaluate("e => e.style.width = '24px'")
    assert page.evaluate(TRUNCATED_JS), "a squeezed metric value was not reported as cut off"


def imaging(page: Any, url: str, tmp_path: Path) -> None:
    page.goto(f"{url}/imaging")
    settle(page, '[class*="st-key-imaging_sample__"]')
    choose(page, '[class*="st-key-imaging_sample__"]', "ct_abdomen_heldout_simulated-lesion.dcm")
    settle(page, ".st-key-imaging_overlay .js-plotly-plot", ".st-key-imaging_probs_0 [data-testid=stMetricValue]")
    check_layout(page, tmp_path, "imaging-heatmap", 1)


def _edit(page: Any, model_id: str, metric: str) -> None:
    """Edit the first editable number and wait for the probabilities' change (a delta)."""
    settle(page, f'[class*="st-key-wi_row__{model_id}__"]', ".st-key-wi_waterfall_after svg")
    field = page.locator(f'[class*="st-key-edit_"][class*="__{model_id}__"] input:not([disabled])').first
    edit_number(field)
    field.press("Enter")
    settle(page, f"{metric} [data-testid=stMetricDelta]")


def what_if(page: Any, url: str, tmp_path: Path) -> None:
    page.goto(f"{url}/what_if")
    first = list_bundles()[0].id
    _edit(page, first, ".st-key-wi_probs_0")
    check_layout(page, tmp_path, f"what-if-{first}", 2)
    choose(page, ".st-key-wi_model", label(DILI))
    _edit(page, DILI, ".st-key-wi_probs_0")
    check_layout(page, tmp_path, "what-if-dili", 3)
    choose(page, ".st-key-wi_model", label(LESION))
    settle(page, f".st-key-wi_img_class__{LESION}", ".st-key-wi_occ_shap .js-plotly-plot")
    check_layout(page, tmp_path, "what-if-image", 2)


def cohort(page: Any, url: str, tmp_path: Path) -> None:
    path = tmp_path / "dili-cohort.csv"
    cohort_frame(get_bundle(DILI), 60, seed=5).to_csv(path, index=False)
    page.goto(f"{url}/cohort")
    settle(page, ".st-key-cohort_model")
    choose(page, ".st-key-cohort_model", label(DILI))
    settle(page, ".st-key-cohort_upload")
    page.locator('.st-key-cohort_upload input[type="file"]').set_input_files(str(path))
    settle(page, ".st-key-confusion .js-plotly-plot", ".st-key-risk_histogram .js-plotly-plot")
    check_layout(page, tmp_path, "cohort-dili", 7)


def model_cards(page: Any, url: str, tmp_path: Path) -> None:
    page.goto(f"{url}/model_cards")
    settle(page, *(f".st-key-card-{b.id}" for b in list_bundles()))
    check_layout(page, tmp_path, "model-cards", 0)


def admin(page: Any, url: str, tmp_path: Path) -> None:
    page.goto(f"{url}/admin")
    settle(page, ".st-key-bundle_upload")
    check_layout(page, tmp_path, "admin", 0)


PAGES: dict[str, Callable[[Any, str, Path], None]] = {
    "home": home, "genomics": genomics, "imaging": imaging, "what_if": what_if, "cohort": cohort,
    "model_cards": model_cards, "admin": admin}


@pytest.mark.parametrize("name", list(PAGES))
def test_no_metric_cut_off(page: Any, app_url: str, tmp_path: Path, name: str) -> None:
    PAGES[name](page, app_url, tmp_path)
