"""Shared pieces of the benchmark scripts: timing, machine facts, JSON output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def median_ms(fn: Callable[[], Any], *, repeats: int = 30, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                            "cpus": os.cpu_count()}
    for name in ("tensorflow", "keras", "shap", "numpy", "pandas", "pydicom"):
        mod = sys.modules.get(name)
        if mod is not None:
            info[name] = getattr(mod, "__version__", "?")
    return info


def figure(name: str, ours_ms: float, baseline: str, baseline_ms: float | None,
           target_ms: float | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "ours_ms": round(ours_ms, 3), "baseline": baseline,
                           "baseline_ms": None if baseline_ms is None else round(baseline_ms, 3),
                           "ratio": None if not baseline_ms else round(baseline_ms / ours_ms, 2)}
    if target_ms is not None:
        out["target_ms"] = target_ms
    out.update(extra)
    return out


def report(figures: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"machine": machine(), "figures": figures}))
        return
    print(f"{'figure':<48} {'ours ms':>10} {'baseline':<34} {'base ms':>10} {'ratio':>7}")
    for f in figures:
        base = "-" if f["baseline_ms"] is None else f"{f['baseline_ms']:.2f}"
        ratio = "-" if f["ratio"] is None else f"{f['ratio']:.1f}x"
        print(f"{f['name']:<48} {f['ours_ms']:>10.2f} {f['baseline']:<34} {base:>10} {ratio:>7}")
