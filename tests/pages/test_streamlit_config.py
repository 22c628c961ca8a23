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


def test_no_source_watcher(monkeypatch: object) -> None:
    """Streamlit's default source watcher walks all of ``sys.modules`` on the server's event loop
    after every script run (thousands of modules once TensorFlow and SHAP are loaded): with it, a
    new Genomics tab showed its title at 2.0-2.8 s and its waterfall at 4.8-6.4 s; without it,
    1.2 s and 3.4-3.7 s (2 cores). Checked as Streamlit itself parses the file, so a misspelt
    key or value fails here rather than silently falling back to the watcher."""
    import pytest
    from streamlit import config

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.chdir(CONFIG.parents[1])
    config.get_config_options(force_reparse=True)
    try:
        assert config.get_option("server.fileWatcherType") == "none"
        assert config.get_option("runner.postScriptGC") is False
    finally:
        config.get_config_options(force_reparse=True)
