"""Warm the shipped bundles before the first user needs them (issue 16).

A fresh server otherwise makes its first user wait for ``import tensorflow`` (5–6 s), ``import
shap`` (3 s), the model load, the first traced call and the explainer set-up: 5.3 s to the first
Genomics explanation against 1.6 s for the home page. :func:`start` runs :func:`warm_all` in a
daemon thread: it imports TensorFlow and SHAP, and for every bundle loads the model, predicts
once and explains once, through the same process-wide caches the pages use
(:meth:`precimed.registry.Bundle.model`, ``precimed.explain.tabular.backend_for``,
``precimed.imaging.explain``). Pages never wait for it: a page that needs a model before the
warm-up reached it loads it itself (the caches are lock-protected; whoever comes first builds).

Safe for the server process: tabular explanations go through ``backend_for``, which hands a model
to DeepExplainer only if every layer is on its allow-list (one DeepExplainer failure breaks every
later gradient in the process), and DeepExplainer calls hold the module's global lock. Inputs are
the bundles' own background rows and images; the audit trail records them under the actor
``warm-up``.

Example:
    >>> status = warm_all()  # doctest: +SKIP
    >>> status["bundles"]["breast-cytology-wdbc"]["ok"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from precimed import lazy

_STATUS: dict[str, Any] = {"state": "not started", "bundles": {}}
_THREAD: threading.Thread | None = None
_START_LOCK = threading.Lock()
_FIRST_RUN_DONE = threading.Event()
# How long a server's warm-up waits for the first page to finish rendering. Importing TensorFlow
# holds the GIL for up to 1.2 s at a time and takes a core for 6-7 s: a home page opened while
# it ran took 9.8 s instead of 2.1-2.7 s (bench_ui.py, 2 cores). A user who comes later finds
# the warm-up under way or done.
FIRST_RUN_WAIT_S = 10.0


def status() -> dict[str, Any]:
    """A copy of the warm-up's progress: state, seconds per step, per-bundle result."""
    return {**_STATUS, "bundles": dict(_STATUS["bundles"])}


def _warm_tabular(bundle: Any) -> None:
    from precimed.explain.tabular import background_matrix, explain_matrix
    from precimed.predict import raw_output

    x = background_matrix(bundle)[:1]
    raw_output(bundle.model(), x)
    explain_matrix(bundle, x)


def _warm_image(bundle: Any) -> None:
    from precimed.imaging.explain import background, explain_input
    from precimed.imaging.predict import predict_model_inputs

    x = background(bundle)[:1]
    predict_model_inputs(bundle, x)
    explain_input(bundle, x[0])


def warm_all(bundles: list[Any] | None = None) -> dict[str, Any]:
    """Import TensorFlow and SHAP, then load, predict and explain once for every bundle.

    A bundle that fails is recorded (``ok: False`` with the error) and the others still warm:
    the page that uses it shows its own error as before.
    """
    from precimed import audit

    audit.set_actor("warm-up")  # this thread's context only
    _STATUS["state"] = "running"
    t0 = time.perf_counter()
    lazy.tensorflow()  # the import is the work

    _STATUS["tensorflow_s"] = round(time.perf_counter() - t0, 3)
    t1 = time.perf_counter()
    lazy.shap()

    _STATUS["shap_s"] = round(time.perf_counter() - t1, 3)
    if bundles is None:
        from precimed.registry import list_bundles

        bundles = list_bundles()
    for bundle in bundles:
        t = time.perf_counter()
        try:
            (_warm_image if bundle.modality == "image" else _warm_tabular)(bundle)
            _STATUS["bundles"][bundle.id] = {"ok": True, "seconds": round(time.perf_counter() - t, 3)}
        except Exception as exc:  # noqa: BLE001 - a broken bundle must not stop the others
            _STATUS["bundles"][bundle.id] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    _STATUS["state"] = "done"
    _STATUS["seconds"] = round(time.perf_counter() - t0, 3)
    ok = sum(1 for b in _STATUS["bundles"].values() if b["ok"])
    print(f"precimed: warm-up done in {_STATUS['seconds']:.1f} s ({ok} of {len(bundles)} bundles)",
          file=sys.stderr, flush=True)  # an operator's line (and the UI benchmark's marker)
    return status()


def first_run_done() -> None:
    """Called when a page's script run ends: a deferred warm-up (see :func:`start`) may begin."""
    _FIRST_RUN_DONE.set()


def _after_first_run(wait_s: float) -> None:
    _STATUS["state"] = "waiting for the first page"
    _FIRST_RUN_DONE.wait(wait_s)
    warm_all()


def start(defer_s: float = 0.0) -> bool:
    """Start :func:`warm_all` in a daemon thread, once per process. True if this call started it.

    With ``defer_s`` > 0 the thread first waits until a page's first script run has ended
    (:func:`first_run_done`), at most ``defer_s`` seconds, so the first page a user opens on a
    fresh server does not share the CPU and the GIL with ``import tensorflow``.
    """
    global _THREAD
    with _START_LOCK:
        if _THREAD is not None:
            return False
        target: Any = warm_all if defer_s <= 0 else (lambda: _after_first_run(defer_s))
        _THREAD = threading.Thread(target=target, name="precimed-warmup", daemon=True)
        _THREAD.start()
        return True


def wait(timeout: float | None = None) -> bool:
    """Block until the warm-up thread ends (tests, benchmarks); True if it has."""
    if _THREAD is None:
        return True
    _THREAD.join(timeout)
    return not _THREAD.is_alive()
