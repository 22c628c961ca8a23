"""Property-based fuzzing of every loader, in a child process with a capped address space.

``PRECIMED_FUZZ_EXAMPLES`` sets the cases per target (default 100, about 30 s for all);
``benchmarks/bench_fuzz.py`` runs 10,000 per target.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TARGETS = ["table_bytes", "table_validate", "card", "dicom_file", "dicom_zip", "bundle_zip"]
EXAMPLES = int(os.environ.get("PRECIMED_FUZZ_EXAMPLES", "100"))


def run_target(target: str, examples: int, cap_mb: int = 2048) -> dict:  # type: ignore[type-arg]
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", str(HERE / "fuzz_targets.py"), "--target", target,
         "--examples", str(examples), "--cap-mb", str(cap_mb), "--json"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={**os.environ, "RUST_BACKTRACE": "0"})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"{target}: no result (exit {proc.returncode})\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1])


@pytest.mark.parametrize("target", TARGETS)
def test_loader_ends_cleanly_on_fuzzed_input(target: str) -> None:
    result = run_target(target, EXAMPLES)
    assert result["failures"] == [], "\n\n".join(result["failures"])
    assert result["cases"] >= EXAMPLES  # hypothesis ran them all (shrinking adds, never removes)


def test_every_loader_has_a_target() -> None:
    """A new loader target in fuzz_targets.py must be listed here too, so CI runs it."""
    sys.path.insert(0, str(HERE))
    import fuzz_targets

    assert sorted(fuzz_targets.TARGETS) == sorted(TARGETS)
