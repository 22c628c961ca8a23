"""Playwright in Debian's Chromium against a real ``streamlit run app.py`` server.

Never ``playwright install``: the browser is /usr/bin/chromium, installed by ``make browser``.
These tests must run in CI; they fail (not skip) if Chromium is missing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_ui import WATERFALL

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PRECIMED_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def app_url(browser: Any) -> Iterator[str]:
    """Start the app on a free loopback port, warm it up, yield its URL; stop it afterwards.

    The warm-up visits the home page and one prediction in a throw-away session, so that the
    first test does not race the server's one-off work (TensorFlow import, model loading, the
    switch to app.py's navigation) with its clicks.
    """
    for url in start_app():
        context = browser.new_context(viewport={"width": 1400, "height": 1400})
        warm = context.new_page()
        warm.set_default_timeout(180_000)
        warm.goto(url)
        warm.get_by_text("Model catalogue").first.wait_for()
        warm.goto(f"{url}/genomics")
        warm.locator(WATERFALL).first.wait_for()
        context.close()
        yield url


@pytest.fixture
def fresh_app_url() -> Iterator[str]:
    """A server of its own, for tests about what the first request to a process sees."""
    yield from start_app()


def start_app() -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
    # The server's output goes to an anonymous temporary file: a pipe nobody reads fills up
    # after 64 KiB of log lines and then blocks the server mid-request.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        # `python app.py` is what `make run` does: the server plus its warm-up thread.
        [sys.executable, "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 240  # generous: under `nice -n 19` on a busy machine, 90 s was once too short
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        log.seek(0)
        raise RuntimeError("streamlit did not start: " + log.read().decode(errors="replace")[-2000:])
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make browser` (Debian chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, app_url: str) -> Iterator[Any]:
    """A fresh browser context (its own Streamlit session) with a tall viewport."""
    with tempfile.TemporaryDirectory():
        context = browser.new_context(viewport={"width": 1400, "height": 2200})
        pg = context.new_page()
        pg.set_default_timeout(90_000)
        yield pg
        try:
            assert_no_traceback(pg)
        finally:
            context.close()


TRACEBACK_TEXT = ("Traceback (most recent call last)", 'File "/', "KeyError:", "st.session_state has no key")


def assert_no_traceback(pg: Any) -> None:
    """Issue 16: whatever flow a browser test drove, its page ends without a traceback, without
    Streamlit's exception element and without exception text (checked after every test that
    uses the ``page`` fixture)."""
    if pg.is_closed():
        return
    assert pg.locator('[data-testid="stException"]').count() == 0, "an exception is on the page"
    body = pg.locator("body").inner_text()
    shown = [t for t in TRACEBACK_TEXT if t in body]
    assert not shown, f"traceback text on the page: {shown}"
