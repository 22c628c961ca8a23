"""Shared fixtures: repository paths, a clean Streamlit cache, the CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# One audit key for the whole suite and the servers and CLIs it starts (they inherit it), so
# that no test writes a key file into the home folder; tests/audit covers the key file itself.
os.environ.setdefault("PRECIMED_AUDIT_KEY", "precimed-test-suite-audit-key-not-a-real-secret")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "assets" / "samples"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def _clear_streamlit_cache() -> None:
    """AppTest shares st.cache_resource across instances in one process: start each test clean."""
    if "streamlit" in sys.modules:
        import streamlit as st

        st.cache_resource.clear()
        st.cache_data.clear()


class CliResult:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(*args: str, timeout: float = 180, env: dict[str, str] | None = None) -> CliResult:
    """Run ``precimed`` as a user would (a subprocess), returning code, stdout, stderr."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "precimed.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=full_env)
    return CliResult(proc)


@pytest.fixture
def cli() -> Any:
    return run_cli
