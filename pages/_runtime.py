"""Streamlit runtime settings that keep a many-user server fast.

After every script run Streamlit calls ``keras.backend.clear_session()`` if Keras is imported
(``_clean_problem_modules`` in its script runner), to free models that scripts rebuild on each
rerun. PreciMed never builds models in a script: bundles load once per process and are cached
(``precimed.registry``). The call is not free: it runs a full ``gc.collect()``, which with
TensorFlow, SHAP and pandas loaded takes about 0.4 s and holds the GIL, so every rerun of every
session stalled all the others (measured: half of a Genomics page upload run). It also resets
Keras' global state under models other sessions are using. So the Keras part is skipped; the
rest of Streamlit's clean-up (matplotlib figures) still runs.
"""

from __future__ import annotations

import sys
from typing import Any

_DONE = False


def _clean_problem_modules_but_keras() -> None:
    plt: Any = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        try:
            plt.close("all")
        except Exception:  # noqa: BLE001 - as Streamlit does: never fail a run over this
            pass


def keep_models_between_runs() -> None:
    """Replace Streamlit's post-run clean-up (idempotent; a no-op if Streamlit changes)."""
    global _DONE
    if _DONE:
        return
    try:
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:
        return
    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = _clean_problem_modules_but_keras  # type: ignore[attr-defined]
    _DONE = True
