"""Shared fixtures: repository paths, a clean Streamlit cache, the CLI runner."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

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
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.code = code
        self.stdout = stdout
        self.stderr = stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(*args: str, timeout: float = 180, env: dict[str, str] | None = None,
            process: bool = False) -> CliResult:
    """Run ``precimed`` with ``args``: exit code, stdout, stderr.

    By default in this process, with ``env`` set for the call only: a subprocess imports
    TensorFlow and loads the model again, about 6 s a command, and the suite runs some 60 of
    them. ``process=True`` runs it as a user would, ``python -m precimed.cli.main`` in a
    subprocess, for the tests of the entry point itself (exit status, nothing else on stderr);
    ``timeout`` (seconds) applies to the subprocess only.
    """
    if process:
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.run([sys.executable, "-m", "precimed.cli.main", *args], capture_output=True,
                              text=True, timeout=timeout, cwd=ROOT, env=full_env)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)
    from precimed.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, env or {}), contextlib.chdir(ROOT), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse: a usage error (2) or --help (0)
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli() -> Any:
    return run_cli


@pytest.fixture
def cli_process() -> Any:
    """``precimed`` as a subprocess: what a user's shell sees, C++ and warning output included."""
    return functools.partial(run_cli, process=True)
