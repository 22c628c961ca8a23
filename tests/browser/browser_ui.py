"""Helpers shared by the state and layout browser tests (issue 16): wait for Streamlit's own
render signals, pick an option, and read what the page shows.

Waits are on the page's signals (an element with a scoped key appears, then no element is
marked stale and the status widget is not running), never on fixed sleeps; the timeouts are
generous because the suite runs on a loaded 2-core machine.
"""

from __future__ import annotations

import re
from typing import Any

WAIT_MS = 180_000
# The explanation's waterfall (pages key "waterfall", charts.waterfall_svg); tests/load keeps
# its own copy, since the load helpers are imported from benchmarks/ without this folder.
WATERFALL = ".st-key-waterfall svg[data-chart=waterfall]"

# Streamlit's run has ended: the app says its script is not running (its own test attribute;
# the status widget is hidden in the minimal toolbar) and no element is still marked stale.
IDLE_JS = ("() => document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'"
           " && !document.querySelector('[data-stale=\"true\"]')")

# Text that must never be on a page: a traceback, Streamlit's generic box for an uncaught
# exception (client.showErrorDetails = "none"), and the pages' own message for an internal fault.
FORBIDDEN_TEXT = ("Traceback", 'File "/', "KeyError", "st.session_state has no key",
                  "This app has encountered an error", "Internal error (")


def settle(page: Any, *selectors: str) -> None:
    """Wait until every selector is visible, then until the script run has ended.

    Give a selector that only the new run can show: right after a click, before the server
    starts the rerun, the page still reads as idle."""
    for selector in selectors:
        page.locator(selector).first.wait_for(state="visible", timeout=WAIT_MS)
    page.wait_for_function(IDLE_JS, timeout=WAIT_MS)


def banner(model_id: str) -> str:
    """Selector of the model's name-and-version caption (pages._ui.model_banner): a model
    switch's render signal that does not depend on the widget keys under test."""
    return f'[data-testid="stCaptionContainer"]:has-text("id {model_id} ·")'


def choose(page: Any, container: str, option: str) -> None:
    """Pick ``option`` in the select box inside ``container``: type it (the list is virtual, so
    an option below the fold of a short viewport is not in the page) and click it."""
    box = page.locator(f'{container} input[role="combobox"]')
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option, exact=True).click()


def select_value(page: Any, container: str) -> str:
    """The text a select box shows (the label of its chosen option)."""
    value: str = page.locator(f'{container} input[role="combobox"]').input_value()
    return value


def keyed(page: Any, name: str) -> list[str]:
    """The ``st-key-<name>__...`` classes on the page (one per widget scoped under ``name``)."""
    found: list[str] = page.evaluate(
        "name => [...document.querySelectorAll(`[class*=\"st-key-${name}__\"]`)]"
        ".flatMap(e => [...e.classList].filter(c => c.startsWith(`st-key-${name}__`)))", name)
    return found


def edit_number(field: Any) -> str:
    """Type into a number input a value halfway between its own and a bound (so that it stays
    inside the card's range: the widget refuses values outside it); returns the new text."""
    value = float(field.input_value())
    lo, hi = (field.get_attribute(a) for a in ("min", "max"))
    hi_f = float(hi) if hi not in (None, "") else value + 2
    lo_f = float(lo) if lo not in (None, "") else value - 2
    new = value + (hi_f - value) / 2 if hi_f - value > value - lo_f else value - (value - lo_f) / 2
    whole = float(field.get_attribute("step") or 0.01).is_integer()  # an int feature's input
    text = f"{new:.0f}" if whole and round(new) != value else f"{new:.3f}"
    field.fill(text)
    return text


def metric_labels(page: Any, within: str = "") -> list[str]:
    """The metric labels on the page, or in the containers matching ``within``."""
    found = page.locator(f'{within} [data-testid="stMetricLabel"]'.strip()).all_inner_texts()
    return [t.strip() for t in found]


def assert_clean(page: Any, context: str = "") -> None:
    """No exception element and no traceback or error-box text anywhere on the page."""
    assert page.locator('[data-testid="stException"]').count() == 0, f"exception element on the page {context}"
    body = page.locator("body").inner_text()
    shown = [t for t in FORBIDDEN_TEXT if t in body]
    assert not shown, f"{shown} on the page {context}: " + body[max(0, body.find(shown[0]) - 300):][:800]


# JS: every metric value or label whose text does not fit (the element or a descendant is cut:
# scrollWidth > clientWidth) or that holds an ellipsis character, and any other text in the main
# area that CSS cuts with an ellipsis (widget labels); [kind, text, why].
TRUNCATED_JS = """() => {
  const out = [];
  for (const [kind, sel] of [["metric value", '[data-testid="stMetricValue"]'],
                             ["metric label", '[data-testid="stMetricLabel"]']]) {
    for (const el of document.querySelectorAll(sel)) {
      const text = el.textContent.trim();
      for (const e of [el, ...el.querySelectorAll("*")]) {
        if (e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1) {
          out.push([kind, text, `${e.scrollWidth} > ${e.clientWidth} px`]);
          break;
        }
      }
      if (text.includes("\u2026")) out.push([kind, text, "ellipsis character"]);
    }
  }
  for (const e of document.querySelectorAll('[data-testid="stMain"] *')) {
    if (e.closest('[data-testid="stMetric"]')) continue;
    if (e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1
        && getComputedStyle(e).textOverflow === "ellipsis") {
      out.push(["text", e.textContent.trim().slice(0, 80), `${e.scrollWidth} > ${e.clientWidth} px`]);
    }
  }
  return out;
}"""

ROWS_SHOWN = re.compile(r"([\d,]+) of ([\d,]+) rows shown")
