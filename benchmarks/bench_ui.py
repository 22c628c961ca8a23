"""UI latency in a real browser: what the user waits for, beside the engine time of the same step.

Starts the app (``python app.py``, as ``make run``: server plus warm-up thread) and drives
Debian's Chromium through each interaction; a timing runs from the user's action (click, key,
upload) to the updated element (the test id of the chart or metric, polled on every animation
frame), p50 and p95 over ``--repeats``. Beside each, the engine time of the same step, measured
in this process in the same run (median), and the issue-16 target.

Interactions: what-if edit → prediction and waterfalls (genomic, DILI); Genomics row switch and
model switch; Imaging upload → heatmap (warm), window preset change; Cohort of 10,000 rows →
table; the first explanation on a fresh server (``--fresh`` servers: the home page, then the
first Genomics explanation once the warm-up is done, and the same from the moment the server
answers); and Streamlit's floor: an empty fragment's rerun round trip (benchmarks/_floor_app.py).

``ours_ms`` is the browser p50; ``baseline`` is the engine time of the same step, so ``ratio``
(engine / browser) says how much of the wait is the model. Record the load beside the figures
(``machine.load``: ``uptime``).

Usage::

    python benchmarks/bench_ui.py --json
    python benchmarks/bench_ui.py --repeats 10 --fresh 10
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import figure, machine  # noqa: E402

CHROMIUM = os.environ.get("PRECIMED_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
WDBC, GSE, DILI, LESION = ("breast-cytology-wdbc", "breast-metastasis-gse7390",
                           "dili-hepatic-injury-qsar", "lesion-cnn-synthetic")
TARGETS = {"what-if edit": 150, "row switch": 400, "model switch": 400, "preset": 200,
           "upload": 1500, "first explanation": 2000, "home": 1500}


def med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(script: str = "app.py") -> Iterator[tuple[str, float, Path]]:
    """(url, start time, log path) of a fresh server on a free port."""
    port = _free_port()
    log = Path(tempfile.mkstemp(prefix="precimed-bench-ui-", suffix=".log")[1])
    out = open(log, "wb")  # noqa: SIM115 - closed below
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
    t0 = time.perf_counter()
    cmd = [sys.executable, script] if script == "app.py" else [sys.executable, "-m", "streamlit", "run", script]
    proc = subprocess.Popen(cmd + ["--server.port", str(port), "--server.address", "127.0.0.1",
                                   "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 120:
                    raise RuntimeError("server did not start: " + log.read_text()[-2000:]) from None
                time.sleep(0.05)
        yield url, t0, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.close()
        log.unlink(missing_ok=True)


ARM_JS = """() => {
  if (!window.__pmArmed) {  // the user's action: the first input event after arming
    const mark = () => { if (window.__pmT0 === null) window.__pmT0 = performance.now(); };
    for (const ev of ["pointerdown", "keydown", "change"]) document.addEventListener(ev, mark, true);
    window.__pmArmed = true;
  }
  window.__pmT0 = null; window.__pmT1 = null;
}"""


def timed(page: Any, action: Callable[[], None], done_js: str, arg: Any = None,
          prepare: Callable[[], None] | None = None) -> float:
    """ms from the user's input event (pointer, key or file change, as the page sees it) to the
    first animation frame where ``done_js(arg)`` holds: what the user waits for, without
    Playwright's own actionability checks. ``prepare`` (e.g. opening a dropdown) is not timed."""
    if prepare is not None:
        prepare()
    page.evaluate(ARM_JS)
    action()
    page.wait_for_function(f"arg => {{ if (({done_js})(arg)) {{ window.__pmT1 = performance.now(); return true; }} "
                           "return false; }", arg=arg, polling="raf", timeout=180_000)
    return float(page.evaluate("() => window.__pmT1 - window.__pmT0"))


def plot_sig(selector: str) -> str:
    """JS: a signature of the chart (changes when it is redrawn): an SVG chart's markup
    (``precimed.charts``), else the plotly chart's data and title."""
    return (f"(() => {{ const svg = document.querySelector('{selector} svg[data-chart]'); "
            "if (svg) return svg.outerHTML; "
            f"const el = document.querySelector('{selector} .js-plotly-plot'); "
            "if (!el || !el.data) return null; const t = el.layout && el.layout.title; "
            "return JSON.stringify([el.data.map(d => [d.y, d.x, d.z && d.z.length, d.source && d.source.length]), "
            "t && (t.text || t)]); })()")


def changed_js(selector: str) -> str:
    return f"prev => {{ const s = {plot_sig(selector)}; return s !== null && s !== prev; }}"


def idle_js() -> str:
    """JS: Streamlit's run has ended (no element marked stale, no running status)."""
    return ("() => !document.querySelector('[data-stale=\"true\"]') && "
            "!document.querySelector('[data-testid=\"stStatusWidget\"] [data-testid=\"stStatusWidgetRunningIcon\"]')")


def open_picker(page: Any, picker_selector: str) -> None:
    page.locator(f'{picker_selector} input[role="combobox"]').click()


def pick(page: Any, option: str) -> None:
    page.locator('[role="option"]', has_text=option).first.click()


def choose(page: Any, picker_selector: str, option: str) -> None:
    open_picker(page, picker_selector)
    pick(page, option)


def summary(name: str, times: list[float], engine_ms: float | None, engine_what: str, target: float | None,
            **extra: Any) -> dict[str, Any]:
    if not times:
        return {"name": name, "ours_ms": None, "baseline": engine_what, "baseline_ms": engine_ms,
                "ratio": None, "target_ms": target, "failed": True}
    return figure(name, statistics.median(times), engine_what, engine_ms, target,
                  browser_p50_ms=round(statistics.median(times), 1), browser_p95_ms=round(pct(times, 0.95), 1),
                  repeats=len(times), **extra)


# ---- engine timings (this process, same run) ---------------------------------------------------
def engine_ms(fn: Callable[[], Any], repeats: int = 10) -> float:
    fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def engine_figures() -> dict[str, float]:
    import numpy as np

    from precimed.cohort.reader import CohortSource
    from precimed.cohort.score import score_cohort
    from precimed.dicom import load_bytes, render, window_choices
    from precimed.explain.tabular import explain_rows
    from precimed.imaging import explain_image, frame_image
    from precimed.imaging.service import score_frames
    from precimed.predict import predict_table
    from precimed.registry import get_bundle
    from precimed.samples import sample_files
    from precimed.tabular.io import read_table
    from precimed.tabular.validate import validate_table
    from precimed.whatif.analysis import evaluate_edits
    from precimed.whatif.edits import row_values

    out: dict[str, float] = {}
    for mid in (GSE, DILI):
        b = get_bundle(mid)
        table = validate_table(read_table(sample_files(mid)[0]), b.card)
        row = row_values(table, 0)
        feature = next(s["name"] for s in b.card["inputs"] if s.get("dtype") == "float" and not s.get("fixed"))
        out[f"whatif {mid}"] = engine_ms(lambda b=b, row=row, f=feature: evaluate_edits(
            b, row, {f: float(row[f]) + 0.5}, allow_extrapolation=True))
    b = get_bundle(GSE)
    table = validate_table(read_table(sample_files(GSE)[0]), b.card)
    out["row switch"] = engine_ms(lambda: explain_rows(b, table, [3]))
    w = get_bundle(WDBC)
    out["model switch"] = engine_ms(lambda: (lambda t: (predict_table(w, t), explain_rows(w, t, [0])))(
        validate_table(read_table(sample_files(WDBC)[0]), w.card)))
    lesion = get_bundle(LESION)
    ct = next(p for p in sample_files(LESION) if p.name == "ct_abdomen_heldout_simulated-lesion.dcm")
    data = ct.read_bytes()

    def upload() -> None:
        frames = load_bytes(data, ct.name).frames
        score_frames(lesion, frames)
        explain_image(lesion, frame_image(frames[0]))

    out["upload"] = engine_ms(upload, repeats=5)
    frame = load_bytes(data, ct.name).frames[0]
    windows = [w for w in window_choices(frame).values() if w is not None]
    out["preset"] = engine_ms(lambda: render(frame, windows[0]))
    cohort = cohort_csv(10_000, 0)
    out["cohort"] = engine_ms(lambda: score_cohort(w, CohortSource.of(cohort, "cohort.csv"), chunk_rows=500,
                                                   explain=True), repeats=3)
    del np
    return out


def cohort_csv(n: int, seed: int) -> bytes:
    import pandas as pd

    from precimed.samples import sample_files

    base = pd.read_csv(sample_files(WDBC)[0])
    frame = base.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    frame.iloc[0, 1] = float(frame.iloc[0, 1]) + seed * 1e-3  # a different file each repeat
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


# ---- browser timings -------------------------------------------------------------------------
def whatif_edits(page: Any, url: str, model: str, name: str, repeats: int) -> list[float]:
    page.goto(f"{url}/what_if")
    choose(page, ".st-key-wi_model", name)
    page.locator(".st-key-wi_waterfall_after svg[data-chart]").wait_for()
    # the strongest editable feature's +/- buttons: the widget's own step, inside the plausible
    # range (a typed value outside it is refused by the widget and nothing is redrawn)
    box = page.locator('[class*="st-key-edit_"]:has([data-testid="stNumberInputField"]:not([disabled]))').first
    box.wait_for()
    sel = ".st-key-wi_waterfall_after"
    times = []
    for k in range(repeats + 1):
        prev = page.evaluate(plot_sig(sel))
        button = box.locator('[data-testid="stNumberInputStepUp"]' if k % 2 == 0
                             else '[data-testid="stNumberInputStepDown"]')
        ms = timed(page, button.click, changed_js(sel), prev)
        page.wait_for_function(idle_js(), polling="raf")
        if k:  # the first edit is a warm-up
            times.append(ms)
    return times


def genomics_switches(page: Any, url: str, repeats: int) -> tuple[list[float], list[float]]:
    from precimed.registry import get_bundle

    page.goto(f"{url}/genomics")
    choose(page, ".st-key-tabular_model", get_bundle(GSE).card["name"][:40])
    sel = ".st-key-waterfall"
    page.locator(f"{sel} svg[data-chart]").wait_for()
    page.wait_for_function(idle_js(), polling="raf")
    # this model's row picker: the previous model's (another key) can linger while the page swaps
    picker = f'[class*="st-key-row__{GSE}__"]'
    rows = []
    for k in range(repeats + 1):
        prev = page.evaluate(plot_sig(sel))
        ms = timed(page, lambda k=k: pick(page, f"row {(k % 5) + 1} "), changed_js(sel), prev,  # 6 sample rows
                   prepare=lambda: open_picker(page, picker))
        page.wait_for_function(idle_js(), polling="raf")
        if k:
            rows.append(ms)
    models = []
    names = [get_bundle(m).card["name"][:40] for m in (WDBC, GSE)]
    for k in range(repeats + 1):
        prev = page.evaluate(plot_sig(sel))
        ms = timed(page, lambda k=k: pick(page, names[k % 2]), changed_js(sel), prev,
                   prepare=lambda: open_picker(page, ".st-key-tabular_model"))
        page.wait_for_function(idle_js(), polling="raf")
        if k:
            models.append(ms)
    return rows, models


def imaging(page: Any, url: str, repeats: int) -> tuple[list[float], list[float]]:
    from precimed.samples import sample_files

    files = [str(p) for p in sample_files(LESION) if p.name.startswith("ct_abdomen")]
    page.goto(f"{url}/imaging")
    page.locator(".st-key-imaging_source").get_by_text("Upload").click()
    uploader = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    sel = ".st-key-imaging_overlay"
    uploads = []
    for k in range(repeats + 1):
        prev = page.evaluate(plot_sig(sel))
        ms = timed(page, lambda k=k: uploader.set_input_files(files[k % 2]), changed_js(sel), prev)
        page.wait_for_function(idle_js(), polling="raf")
        if k:
            uploads.append(ms)
    presets = []
    for k in range(repeats + 1):
        prev = page.evaluate(plot_sig(sel))
        ms = timed(page, lambda k=k: pick(page, ["CT lung", "CT bone"][k % 2]), changed_js(sel), prev,
                   prepare=lambda: open_picker(page, ".st-key-imaging_preset"))
        page.wait_for_function(idle_js(), polling="raf")
        if k:
            presets.append(ms)
    return uploads, presets


def cohort(page: Any, url: str, repeats: int, folder: Path) -> list[float]:
    from precimed.registry import get_bundle

    page.goto(f"{url}/cohort")
    choose(page, ".st-key-cohort_model", get_bundle(WDBC).card["name"][:40])
    uploader = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    uploader.wait_for(state="attached")
    done = ("() => { const c = [...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')]"
            ".find(e => e.innerText.startsWith('10,000 of 10,000 rows shown')); "
            "return !!c && !!document.querySelector('[data-testid=\"stDataFrame\"]') "
            "&& !document.querySelector('[data-stale=\"true\"]'); }")
    times = []
    for k in range(max(3, repeats // 2) + 1):
        path = folder / f"cohort{k}.csv"
        path.write_bytes(cohort_csv(10_000, k + 1))
        if k:
            page.locator('[data-testid="stFileChipDeleteBtn"] button').first.click()  # remove the file
            page.wait_for_function("() => !document.querySelector('[data-testid=\"stDataFrame\"]')", polling="raf")
        ms = timed(page, lambda p=path: uploader.set_input_files(str(p)), done)
        if k:
            times.append(ms)
    return times


def fresh_servers(browser: Any, n: int) -> tuple[list[float], ...]:
    """Per fresh server: home page; first explanation after the warm-up; the same for a later
    user (a new tab); first explanation when the user comes the moment the server answers (from
    the server's start); warm-up seconds. Each user is a new browser tab (context)."""
    home, after_warm, from_start, warm, later = [], [], [], [], []
    sel = ".st-key-waterfall svg[data-chart]"
    for k in range(n):
        for immediate in (False, True):
            with server() as (url, t0, log):
                ctx = browser.new_context(viewport={"width": 1400, "height": 1400})
                page = ctx.new_page()
                page.set_default_timeout(180_000)
                if immediate:
                    page.goto(f"{url}/genomics")
                    page.locator(sel).wait_for()
                    from_start.append((time.perf_counter() - t0) * 1000)
                else:
                    t = time.perf_counter()
                    page.goto(url)
                    page.get_by_text("Model catalogue").first.wait_for()
                    home.append((time.perf_counter() - t) * 1000)
                    deadline = time.perf_counter() + 180
                    while "warm-up done" not in log.read_text(errors="replace"):
                        if time.perf_counter() > deadline:
                            raise RuntimeError("warm-up did not finish: " + log.read_text()[-2000:])
                        time.sleep(0.1)
                    warm.append((time.perf_counter() - t0) * 1000)
                    ctx2 = browser.new_context(viewport={"width": 1400, "height": 1400})
                    p2 = ctx2.new_page()
                    p2.set_default_timeout(180_000)
                    t = time.perf_counter()
                    p2.goto(f"{url}/genomics")
                    p2.locator(sel).wait_for()
                    after_warm.append((time.perf_counter() - t) * 1000)
                    ctx2.close()
                    # a later user on the same, long-warm server: what the first one is held to
                    ctx3 = browser.new_context(viewport={"width": 1400, "height": 1400})
                    p3 = ctx3.new_page()
                    p3.set_default_timeout(180_000)
                    t = time.perf_counter()
                    p3.goto(f"{url}/genomics")
                    p3.locator(sel).wait_for()
                    later.append((time.perf_counter() - t) * 1000)
                    ctx3.close()
                ctx.close()
        print(f"fresh server {k + 1}/{n} done", file=sys.stderr, flush=True)
    return home, after_warm, from_start, warm, later


def floor(browser: Any, repeats: int) -> list[float]:
    """Streamlit's floor: click a button in an otherwise empty fragment until its counter moves."""
    with server(str(ROOT / "benchmarks" / "_floor_app.py")) as (url, _t0, _log):
        ctx = browser.new_context()
        page = ctx.new_page()
        page.goto(url)
        counter = page.locator(".st-key-floor_count")
        counter.wait_for()
        times = []
        for k in range(repeats * 2 + 1):
            before = counter.inner_text()
            ms = timed(page, lambda: page.locator(".st-key-floor_button button").click(),
                       "prev => { const e = document.querySelector('.st-key-floor_count'); "
                       "return e && e.innerText !== prev; }", before)
            if k:
                times.append(ms)
        ctx.close()
    return times


FAILED: dict[str, str] = {}
SHOTS = Path(tempfile.gettempdir()) / "precimed-bench-ui"
PAGES: list[Any] = []  # the page of the running section, for a screenshot when it fails


def attempt(name: str, fn: Callable[[], Any], parts: int = 1) -> Any:
    """Run one section; a failure is reported (``failed`` in the JSON), the others still run."""
    try:
        result = fn()
        print(f"{name}: done", file=sys.stderr, flush=True)
        return result
    except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not stop
        FAILED[name] = f"{type(exc).__name__}: {str(exc)[:300]}"
        with contextlib.suppress(Exception):
            SHOTS.mkdir(exist_ok=True)
            shot = SHOTS / f"{name.replace(' ', '_')}.png"
            PAGES[-1].screenshot(path=str(shot))
            FAILED[name] += f" (screenshot {shot})"
        print(f"{name}: FAILED {FAILED[name]}", file=sys.stderr, flush=True)
        return ([],) * parts if parts > 1 else []


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=10, help="timed repeats per interaction (>= 10)")
    p.add_argument("--fresh", type=int, default=10, help="fresh servers for the first-explanation figures")
    p.add_argument("--json", action="store_true")
    p.add_argument("--only", default="fresh,floor,whatif,genomics,imaging,cohort,engine",
                   help="comma-separated sections to run (for debugging one interaction)")
    args = p.parse_args()
    only = set(args.only.split(","))

    def section(name: str, fn: Callable[[], Any], parts: int = 1) -> Any:
        key = name.split()[0].replace("-", "")
        if key not in only:
            return ([],) * parts if parts > 1 else []
        return attempt(name, fn, parts)

    load_before = os.getloadavg()
    from playwright.sync_api import sync_playwright

    figures: list[dict[str, Any]] = []
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        home, after_warm, from_start, warm, later_tab = section("fresh servers",
                                                                lambda: fresh_servers(browser, args.fresh), 5)
        floor_times = section("floor", lambda: floor(browser, args.repeats))
        with server() as (url, _t0, log):
            deadline = time.perf_counter() + 180
            while "warm-up done" not in log.read_text(errors="replace") and time.perf_counter() < deadline:
                time.sleep(0.2)
            ctx = browser.new_context(viewport={"width": 1400, "height": 1400})
            page = ctx.new_page()
            page.set_default_timeout(180_000)
            PAGES.append(page)
            from precimed.registry import get_bundle

            wi = {m: section(f"what-if {m}", lambda m=m: whatif_edits(
                page, url, m, get_bundle(m).card["name"][:40], args.repeats)) for m in (GSE, DILI)}
            rows, models = section("genomics", lambda: genomics_switches(page, url, args.repeats), 2)
            uploads, presets = section("imaging", lambda: imaging(page, url, args.repeats), 2)
            cohort_times = section("cohort", lambda: cohort(page, url, args.repeats, Path(tmp)))
            ctx.close()
        browser.close()
    eng = section("engine", engine_figures) or {}
    load_after = os.getloadavg()
    for m, label in ((GSE, "genomic"), (DILI, "DILI")):
        figures.append(summary(f"what-if edit → prediction + waterfalls ({label}), browser",
                               wi[m], eng.get(f"whatif {m}"), "engine: evaluate_edits", TARGETS["what-if edit"],
                               target_p95_ms=300))
    figures.append(summary("Genomics row switch → explanation, browser", rows, eng.get("row switch"),
                           "engine: explain_rows (1 row)", TARGETS["row switch"]))
    figures.append(summary("Genomics model switch → explanation, browser", models, eng.get("model switch"),
                           "engine: read+validate+predict+explain", TARGETS["model switch"]))
    figures.append(summary("Imaging upload → heatmap (warm), browser", uploads, eng.get("upload"),
                           "engine: decode+score+explain_image", TARGETS["upload"]))
    figures.append(summary("Imaging window preset → redrawn image, browser", presets, eng.get("preset"),
                           "engine: render (window)", TARGETS["preset"]))
    figures.append(summary("Cohort 10,000 rows upload → table, browser", cohort_times, eng.get("cohort"),
                           "engine: score_cohort (10k, SHAP)", None))
    figures.append(summary("first explanation, fresh server, after warm-up, browser (new tab)", after_warm,
                           med(later_tab), "a later user's first explanation (new tab, same server, p50)",
                           TARGETS["first explanation"], warmup_done_after_start_ms=med(warm),
                           later_row_switch_ms=med(rows)))
    figures.append(summary("first explanation, user at server start (from start), browser", from_start,
                           med(warm), "warm-up finished after start", None))
    figures.append(summary("home page opened at server start (fresh server), browser", home, med(floor_times),
                           "Streamlit floor (empty fragment)", TARGETS["home"]))
    figures.append(summary("Streamlit floor: empty fragment rerun round trip, browser", floor_times,
                           med(floor_times), "itself", None))
    info = machine()
    info["load"] = {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in load_after],
                    "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}
    import json

    if args.json:
        print(json.dumps({"machine": info, "figures": figures, "failed": FAILED}))
    else:
        for f in figures:
            print(f"{f['name']:<72} p50 {f.get('browser_p50_ms', float('nan')):>8.0f}  "
                  f"p95 {f.get('browser_p95_ms', float('nan')):>8.0f}  "
                  f"engine {f['baseline_ms'] or 0:>8.1f}  target {f.get('target_ms') or '-'}")
        print("failed:", FAILED)
        print("load:", info["load"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
