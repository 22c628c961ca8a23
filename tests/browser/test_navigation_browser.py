"""A page URL opened first on a fresh server still runs inside app.py's navigation.

Streamlit's legacy router would otherwise run ``pages/1_genomics.py`` alone, listing helper
modules as pages and skipping whatever app.py applies to every page (layout, login gate).
"""

from __future__ import annotations

import pytest
from browser_ui import WATERFALL

pytestmark = pytest.mark.browser


def test_direct_page_url_goes_through_navigation(browser, fresh_app_url) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(f"{fresh_app_url}/genomics")
    page.locator(WATERFALL).first.wait_for()
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text().split("\n")
    names = [n.strip() for n in nav if n.strip()]
    assert "Home" in names and "Genomics" in names
    assert "ui" not in names and "app" not in names
    context.close()
