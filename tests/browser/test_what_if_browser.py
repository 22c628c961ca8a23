"""Real browser: on the What-if page, change a gene's value and see the probability move."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_editing_a_feature_moves_the_probability(page, app_url) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{app_url}/what_if")
    page.locator('.st-key-wi_model input[role="combobox"]').click()
    page.locator('[role="option"]', has_text=re.compile("distant metastasis")).click()
    page.get_by_text("Not for clinical use").first.wait_for()
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="P(metastasis)")
    value = metric.locator('[data-testid="stMetricValue"]')
    value.wait_for()
    before = value.inner_text()
    assert before.endswith("%")
    field = page.locator('[class*="st-key-edit_X"] input').first
    field.wait_for()
    current = float(field.input_value())
    field.fill(f"{current + 2:.2f}")
    field.press("Enter")
    # The page reruns on the server; wait for the metric to show a change against the original.
    metric.locator('[data-testid="stMetricDelta"]').wait_for()
    after = value.inner_text()
    assert after != before and after.endswith("%")
    page.locator(".st-key-wi_waterfall_after svg[data-chart=waterfall]").first.wait_for()
    page.locator(".st-key-wi_reset button").click()
    expect(value).to_have_text(before, timeout=90_000)
    expect(metric.locator('[data-testid="stMetricDelta"]')).to_have_count(0, timeout=90_000)
