"""The server's own settings that the product relies on (issue 16)."""

from __future__ import annotations

import tomllib
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml"


def test_no_error_details_reach_the_browser() -> None:
    """Even an error no page caught shows no traceback to a user (the server log keeps it)."""
    config = tomllib.loads(CONFIG.read_text())
    assert config["client"]["showErrorDetails"] == "none"
    assert config["browser"]["gatherUsageStats"] is False


def test_no_forced_garbage_collection_after_each_run() -> None:
    """Streamlit's post-run gc.collect() held the GIL 60-120 ms per interaction once TensorFlow
    was loaded (bench_ui.py: empty-fragment round trip 86 -> 28 ms without it)."""
    config = tomllib.loads(CONFIG.read_text())
    assert config["runner"]["postScriptGC"] is False
