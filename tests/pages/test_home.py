"""The home page lists the catalogue and renders without TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, *, timeout: int = 300, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter at the repository root; it must exit 0."""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout, env={**os.environ, **env})
    assert out.returncode == 0 and "Deadlock" not in out.stderr, out.stderr[-2000:]
    return out


def test_home_lists_models_and_disclaimer() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.run()
    assert not at.exception
    text = "\n".join(m.value for m in at.markdown)
    assert "Breast cancer 5-year distant metastasis" in text
    assert "Breast mass cytology" in text
    assert any("Not for clinical use" in w.value for w in at.warning)
    assert any("AUROC" in c.value for c in at.caption)


def test_home_does_not_import_tensorflow() -> None:
    """The home page's own code needs no TensorFlow. The server's warm-up thread imports it on
    purpose (precimed/warmup.py, tested below), so it is switched off here to see the page alone."""
    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file('app.py', default_timeout=30); at.run()\n"
        "assert not at.exception, at.exception\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'shap') if m in sys.modules))\n"
    )
    out = _python(code, timeout=120, PRECIMED_WARMUP="0")
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_warm_up_loads_predicts_and_explains_every_bundle_it_is_given() -> None:
    """What the server's start-up thread does, in a fresh process: TensorFlow and SHAP imported,
    each bundle loaded, predicted and explained once, a broken bundle reported, not fatal."""
    code = (
        "import json, sys\n"
        "from precimed import warmup\n"
        "from precimed.registry import get_bundle\n"
        "class Broken:\n"
        "    id = 'broken'; modality = 'tabular'\n"
        "    def model(self): raise RuntimeError('no weights')\n"
        "    background = model\n"
        "bs = [get_bundle('breast-cytology-wdbc'), get_bundle('lesion-cnn-synthetic'), Broken()]\n"
        "s = warmup.warm_all(bs)\n"
        "print(json.dumps({'state': s['state'], 'bundles': s['bundles'],\n"
        "                  'tf': 'tensorflow' in sys.modules, 'shap': 'shap' in sys.modules}))\n"
    )
    out = _python(code)
    status = json.loads(out.stdout.strip().splitlines()[-1])
    assert status["state"] == "done" and status["tf"] and status["shap"]
    assert status["bundles"]["breast-cytology-wdbc"]["ok"] and status["bundles"]["lesion-cnn-synthetic"]["ok"]
    assert status["bundles"]["broken"] == {"ok": False, "error": "RuntimeError: no weights"}
    assert "warm-up done" in out.stderr


def test_a_page_importing_tensorflow_during_the_warm_up_does_not_deadlock() -> None:
    """Regression: the warm-up thread importing TensorFlow while a page's thread imported Keras
    raised ``_DeadlockError`` in the page (every browser session of a fresh server failed)."""
    code = (
        "from precimed import warmup\n"
        "from precimed.registry import get_bundle\n"
        "assert warmup.start()\n"
        "get_bundle('breast-cytology-wdbc').model()\n"
        "assert warmup.wait(300)\n"
        "print(warmup.status()['state'])\n"
    )
    out = _python(code)
    assert out.stdout.strip().splitlines()[-1] == "done"


def test_a_deferred_warm_up_waits_for_the_first_page_then_runs() -> None:
    """``start(defer_s)`` (what the server does) holds the imports back until a page's first
    script run has ended, or ``defer_s`` has passed, so that page does not wait for them."""
    code = (
        "import sys, time\n"
        "from precimed import warmup\n"
        "assert warmup.start(defer_s=60)\n"
        "time.sleep(1.0)\n"
        "print(warmup.status()['state'], 'tensorflow' in sys.modules)\n"
        "warmup.first_run_done()\n"
        "assert warmup.wait(300)\n"
        "print(warmup.status()['state'], 'tensorflow' in sys.modules)\n"
    )
    out = _python(code)
    assert out.stdout.strip().splitlines()[-2:] == ["waiting for the first page False", "done True"]


def test_a_deferred_warm_up_starts_anyway_when_no_page_comes() -> None:
    code = (
        "import time\n"
        "from precimed import warmup\n"
        "t = time.perf_counter()\n"
        "assert warmup.start(defer_s=0.5)\n"
        "assert warmup.wait(300)\n"
        "print(warmup.status()['state'], time.perf_counter() - t > 0.5)\n"
    )
    out = _python(code)
    assert out.stdout.strip().splitlines()[-1] == "done True"
