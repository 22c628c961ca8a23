"""Drive a real PreciMed server with concurrent Chromium sessions and watch its memory.

Shared by ``tests/load/test_load.py``, ``benchmarks/bench_load.py`` and the PHI canary test.
Each session is its own browser context (its own Streamlit session): it opens the Genomics page
(the sample renders with its prediction and SHAP waterfall), switches the source to Upload,
uploads a table and waits for the new waterfall. The upload-to-waterfall time is the
explanation latency a user waits for: upload, validation, prediction, SHAP, rendering.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PRECIMED_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-dev-shm-usage"]
WATERFALL = ".st-key-waterfall svg[data-chart=waterfall]"
UPLOADER = '[data-testid="stFileUploader"] input[type="file"]'


@dataclass
class App:
    url: str
    pid: int
    proc: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_app(*, log: Path | None = None, session_ttl_s: int | None = None,
                env: dict[str, str] | None = None) -> Iterator[App]:
    """``streamlit run app.py`` on a free loopback port (its output to ``log`` if given)."""
    port = _free_port()
    args = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
            "--server.address", "127.0.0.1", "--server.headless", "true",
            "--browser.gatherUsageStats", "false"]
    if session_ttl_s is not None:
        args += ["--server.disconnectedSessionTTL", str(session_ttl_s)]
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0",
                **(env or {})}
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(args, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("streamlit did not start") from None
                time.sleep(0.3)
        yield App(url, proc.pid, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]


def rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / 2**20


class PeakRss:
    """Samples a process's RSS every 50 ms in a thread; ``.peak`` in MiB."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, rss_mb(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _session(browser: Any, url: str, table: Path, timeout_ms: int) -> dict[str, Any]:
    context = await browser.new_context(viewport={"width": 1400, "height": 2000})
    try:
        page = await context.new_page()
        page.set_default_timeout(timeout_ms)
        start = time.perf_counter()
        await page.goto(f"{url}/genomics")
        await page.locator(WATERFALL).first.wait_for(state="visible")  # the sample, explained
        first = time.perf_counter() - start
        await page.get_by_text("Upload", exact=True).click()
        await page.locator(WATERFALL).first.wait_for(state="detached")
        start, wall = time.perf_counter(), time.time()
        await page.locator(UPLOADER).set_input_files(str(table))
        await page.locator(WATERFALL).first.wait_for(state="visible")
        upload = time.perf_counter() - start
        text = await page.locator('[data-testid="stMetricValue"]').first.inner_text()
        assert text.endswith("%"), text
        return {"first_render_s": first, "upload_explain_s": upload, "upload_wall": wall}
    finally:
        await context.close()


async def run_sessions(url: str, table: Path, n: int, *, timeout_ms: int = 120_000
                       ) -> list[dict[str, float]]:
    """``n`` concurrent sessions in one Chromium; their timings."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                           headless=True)
        try:
            return list(await asyncio.gather(*(_session(browser, url, table, timeout_ms)
                                               for _ in range(n))))
        finally:
            await browser.close()


def run_async(coro: Any) -> Any:
    """``asyncio.run`` in a thread of its own. In a full test run the browser tests' sync
    Playwright keeps an event loop running in the main thread, where ``asyncio.run`` refuses
    to start."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def genomics_session(url: str, table: Path, model_label: str | None = None) -> float:
    """One session (synchronous); the upload-to-waterfall seconds."""
    del model_label  # the page's default tabular model is used
    [result] = run_async(run_sessions(url, table, 1))
    return result["upload_explain_s"]


def session_tables(table: Path, n: int, folder: Path) -> list[Path]:
    """``n`` copies of ``table`` whose first rows differ slightly (distinct model inputs), so
    that each session's explanation can be found in the audit log by its input fingerprint."""
    import pandas as pd

    frame = pd.read_csv(table)
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])][0]
    out = []
    for k in range(n):
        copy = frame.copy()
        copy.loc[0, numeric] = copy.loc[0, numeric] * (1 + 1e-4 * (k + 1))
        path = folder / f"session{k:03d}.csv"
        copy.to_csv(path, index=False)
        out.append(path)
    return out


def explained_fingerprint(table: Path, model: str) -> str:
    """The audit fingerprint of the Genomics page's default explanation (row 0) of ``table``."""
    from precimed import audit
    from precimed.registry import get_bundle
    from precimed.tabular.io import read_table
    from precimed.tabular.validate import encode, validate_table

    card = get_bundle(model).card
    frame = validate_table(read_table(table), card).frame
    return audit.fingerprint(encode(frame.iloc[[0]], card))


def server_latencies(audit_log: Path, starts: dict[str, float]) -> list[float]:
    """Seconds from each upload (browser clock) to the server's audit line for its explanation
    (same machine, same clock): the server's upload → validate → predict → explain time,
    without the browser's rendering."""
    import json
    from datetime import datetime

    done: dict[str, float] = {}
    for line in audit_log.read_text().splitlines():
        entry = json.loads(line)
        fp = entry["input"]["fingerprint"]
        if entry["action"] == "explain" and fp in starts and fp not in done:
            when = datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()
            if when >= starts[fp]:
                done[fp] = when - starts[fp]
    return [done[fp] for fp in starts if fp in done]


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), q in [0, 100]."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class LoadResult:
    sessions: int
    latencies_s: list[float]
    first_render_s: list[float]
    baseline_mb: float
    peak_mb: float
    after_mb: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_s)

    @property
    def p95(self) -> float:
        return percentile(self.latencies_s, 95)


async def _settle(browser: Any, app: App, ttl_s: int) -> float:
    """Wait out the disconnected-session TTL, then open and close the home page: Streamlit
    evicts expired sessions when the next one is stored. Returns the server's RSS in MiB."""
    await asyncio.sleep(ttl_s + 1)
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{app.url}/home")
    await page.get_by_text("Model catalogue").first.wait_for()
    await context.close()
    await asyncio.sleep(1.0)
    return rss_mb(app.pid)


# More patience on an overloaded machine (bench_load.py --timeout-s): a figure, not a failure.
_SLACK_MS = int(float(os.environ.get("PRECIMED_LOAD_TIMEOUT_S", "0")) * 1000)


async def _measure(app: App, table: Path, n: int, ttl_s: int, rounds: int,
                   audit_log: Path | None, model: str) -> LoadResult:
    import tempfile

    from playwright.async_api import async_playwright

    folder = Path(tempfile.mkdtemp(prefix="sessions-", dir=table.parent))  # the user's files
    tables = session_tables(table, n * rounds, folder) if audit_log else [table] * (n * rounds)
    prints = {t: explained_fingerprint(t, model) for t in tables} if audit_log else {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                           headless=True)
        try:
            await _session(browser, app.url, table, max(120_000, _SLACK_MS))  # warm-up: TF, model
            baseline = await _settle(browser, app, ttl_s)
            latencies: list[float] = []
            firsts: list[float] = []
            waves: list[float] = []
            starts: dict[str, float] = {}
            with PeakRss(app.pid) as peak:
                for r in range(rounds):
                    mine = tables[r * n:(r + 1) * n]
                    got = await asyncio.gather(*(_session(browser, app.url, t, max(180_000, _SLACK_MS))
                                                 for t in mine))
                    latencies += [g["upload_explain_s"] for g in got]
                    firsts += [g["first_render_s"] for g in got]
                    if audit_log:
                        starts.update({prints[t]: g["upload_wall"]
                                       for t, g in zip(mine, got, strict=True)})
                    waves.append(rss_mb(app.pid))
            after = await _settle(browser, app, ttl_s)
        finally:
            await browser.close()
    extra: dict[str, Any] = {"rss_after_each_round_mb": waves}
    if audit_log:
        extra["server_latencies_s"] = server_latencies(audit_log, starts)
    return LoadResult(n, latencies, firsts, baseline, peak.peak, after, extra=extra)


def load_wave(app: App, table: Path, n: int, ttl_s: int, rounds: int = 1, *,
              audit_log: Path | None = None, model: str = "breast-cytology-wdbc") -> LoadResult:
    """After a warm-up session, ``rounds`` waves of ``n`` concurrent sessions. The baseline
    is the server's RSS with the models loaded and the warm-up session gone; ``after_mb`` the
    RSS once the waves' sessions are gone too. With the server's ``audit_log`` (it must run
    with ``PRECIMED_AUDIT_LOG``), ``extra["server_latencies_s"]`` has each upload's server-side
    time to its explanation."""
    return run_async(_measure(app, table, n, ttl_s, rounds, audit_log, model))
