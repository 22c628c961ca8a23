"""Load: concurrent Chromium sessions on a real server through upload → predict → explain on the
Genomics page; latency percentiles, server memory during and after, one model per process.
The uploads carry a PHI canary (patient names and IDs): afterwards neither the server's log nor
any file written meanwhile may hold it, and the audit log the server kept must verify.

Small for CI (3 sessions, one round); ``benchmarks/bench_load.py`` runs 1, 5 and 10 sessions in
several rounds. Most of this test's time is Chromium's first render of each session (plotly.js
parsing and software WebGL on a CPU-only machine); the server's part of an upload run is about
0.2 s.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "privacy"))

import phi_scan  # noqa: E402
from load_helpers import load_wave, running_app  # noqa: E402

from precimed.samples import sample_files  # noqa: E402

MODEL = "breast-cytology-wdbc"  # the page's default tabular model
SESSIONS = 3
TTL_S = 1


def _canary_table(folder: Path, token: str) -> Path:
    from precimed.tabular.io import read_table

    frame = read_table(sample_files(MODEL)[0])
    frame.insert(0, "patient_name", [f"CANARY{token}^PAT{k}" for k in range(len(frame))])
    frame.insert(0, "patient_id", [f"CNRY-{token}-{k}" for k in range(len(frame))])
    path = folder / "patients.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.browser
def test_concurrent_sessions_latency_memory_and_no_trace(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    token = secrets.token_hex(6).upper()
    table = _canary_table(tmp_path, token)
    log, audit_log = tmp_path / "server.log", tmp_path / "audit.jsonl"
    since = time.time() - 1
    with running_app(session_ttl_s=TTL_S, log=log, env={"PRECIMED_AUDIT_LOG": str(audit_log)}) as app:
        result = load_wave(app, table, SESSIONS, TTL_S, rounds=1, audit_log=audit_log)
    server = result.extra["server_latencies_s"]
    with capsys.disabled():
        print(f"\nload: {SESSIONS} concurrent sessions: upload→explanation p50 {result.p50:.2f} s, "
              f"p95 {result.p95:.2f} s (server side: max {max(server):.2f} s); server RSS "
              f"baseline {result.baseline_mb:.0f} MiB, peak {result.peak_mb:.0f}, "
              f"after {result.after_mb:.0f}")
    assert len(result.latencies_s) == SESSIONS
    # every session's upload was explained by the server (found in the audit log by fingerprint)
    assert len(server) == SESSIONS and all(0 < s < result.p95 + 1 for s in server)
    # Generous for a shared 2-core CI machine running Chromium too; the benchmark reports
    # the real figures against the 3 s target for 10 sessions.
    assert result.p95 < 15.0
    # A session costs its page state, not a model: the peak stays near the baseline.
    assert result.peak_mb - result.baseline_mb < 150, (result.baseline_mb, result.peak_mb)
    # Memory returns near the baseline once the sessions are gone.
    assert result.after_mb - result.baseline_mb < 60, (result.baseline_mb, result.after_mb)
    # No trace of the patients: not in the server's log, not in any file written meanwhile.
    assert log.is_file()
    inputs = {table, *table.parent.glob("sessions-*/*.csv")}  # the users' own files
    found = phi_scan.leaks(token, since, inputs)
    assert not found, f"the canary leaked into {found}"
    # The server kept one audit chain across the concurrent sessions, without identifiers.
    from precimed import audit

    assert audit.verify(audit_log).ok
    lines = [json.loads(x) for x in audit_log.read_text().splitlines()]
    users = [x for x in lines if x["who"] != "warm-up"]  # the server's own start-up predictions
    assert sum(x["action"] == "explain" for x in users) >= SESSIONS
    assert {x["who"] for x in users} == {"anonymous"}
    assert {x["action"] for x in lines if x["who"] == "warm-up"} <= {"predict", "explain"}


def test_models_are_loaded_once_per_process() -> None:
    """Two independent page sessions share one Keras model and one explainer."""
    from streamlit.testing.v1 import AppTest

    from precimed import registry
    from precimed.explain import tabular

    registry.clear_cache()
    page = str(HERE.parents[1] / "pages" / "1_genomics.py")
    for _ in range(2):
        at = AppTest.from_file(page, default_timeout=120)
        at.run()
        assert not at.exception and any('data-chart="waterfall"' in m.value for m in at.markdown)
    loaded = [k for k in registry._MODEL_CACHE if MODEL in k[0]]
    assert len(loaded) == 1
    explainers = [k for k in tabular._BACKENDS if k[0] == MODEL]
    assert len(explainers) == 1
