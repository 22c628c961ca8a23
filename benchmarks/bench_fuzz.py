"""Fuzzing at full strength: ≥ 10,000 hypothesis cases per loader (and optionally atheris).

Each target runs in its own process with a capped address space (tests/fuzz/fuzz_targets.py).
Per target the figure gives the mean time per fuzzed case (``ours_ms``), the number of cases,
the failures (must be 0) and the cases per second; the baseline is the same loader on a clean,
valid input (median), measured in this run.

Usage::

    python benchmarks/bench_fuzz.py --json                 # 10,000 cases per target
    python benchmarks/bench_fuzz.py --examples 500 --atheris 20000 --json
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))

from _common import figure, median_ms, report  # noqa: E402

RUNNER = ROOT / "tests" / "fuzz" / "fuzz_targets.py"


def clean_inputs() -> dict[str, Any]:
    """For each target, a zero-argument call of the loader on a valid input (the baseline)."""
    import fuzz_targets as ft
    from pydicom.data import get_testdata_file

    from precimed.cards import validate_card
    from precimed.dicom import load_bytes
    from precimed.importing import _read_card, _unzip
    from precimed.registry import REPO_MODELS_DIR
    from precimed.tabular.io import read_table
    from precimed.tabular.validate import validate_table

    sample = (ROOT / "assets" / "samples" / "breast-cytology-wdbc.csv").read_bytes()
    card = ft.cards()[0]
    frame = read_table(sample, "s.csv")
    ct = Path(get_testdata_file("CT_small.dcm", download=False)).read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k in range(3):
            zf.writestr(f"series/IM{k}.dcm", ct)
    series = buf.getvalue()
    src = REPO_MODELS_DIR / "breast-cytology-wdbc"
    bbuf = io.BytesIO()
    with zipfile.ZipFile(bbuf, "w") as zf:
        for name in ("model.keras", "card.json", "background.csv"):
            zf.write(src / name, name)
    bundle = bbuf.getvalue()
    return {
        "table_bytes": lambda: read_table(sample, "s.csv"),
        "table_validate": lambda: validate_table(frame, card),
        "card": lambda: validate_card(json.loads(json.dumps(card))),
        "dicom_file": lambda: load_bytes(ct, "ct.dcm"),
        "dicom_zip": lambda: load_bytes(series, "series.zip"),
        "bundle_zip": lambda: _read_card(_unzip(bundle, "b.zip")["card.json"], "b.zip"),
    }


def run_hypothesis(target: str, examples: int) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-W", "ignore", str(RUNNER), "--target", target,
                           "--examples", str(examples), "--json"], capture_output=True, text=True,
                          cwd=ROOT, env={"RUST_BACKTRACE": "0", **dict(__import__("os").environ)})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"cases": 0, "seconds": 0.0, "failures": [f"runner died: {proc.stderr[-500:]}"]}
    return json.loads(lines[-1])


def run_atheris(target: str, runs: int) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-W", "ignore", str(RUNNER), "--target", target,
                           "--engine", "atheris", "--examples", str(runs)],
                          capture_output=True, text=True, cwd=ROOT)
    done = re.search(r"Done (\d+) runs in (\d+) second", proc.stderr)
    crashed = proc.returncode != 0 or "Uncaught Python exception" in proc.stderr
    cases, seconds = (int(done.group(1)), max(int(done.group(2)), 1)) if done else (0, 1)
    failure = proc.stderr[proc.stderr.find("=== Uncaught"):][:1500] if crashed else None
    return {"cases": cases, "seconds": float(seconds), "failures": [failure] if failure else []}


def main() -> int:
    import fuzz_targets as ft

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=10_000, help="hypothesis cases per target")
    p.add_argument("--atheris", type=int, default=0, help="also run atheris for N runs per target")
    p.add_argument("--targets", nargs="*", default=sorted(ft.TARGETS))
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    baselines = clean_inputs()
    figures: list[dict[str, Any]] = []
    total_failures = 0
    for target in args.targets:
        base = median_ms(baselines[target], repeats=20, warmup=2)
        engines = [("hypothesis", run_hypothesis(target, args.examples))]
        if args.atheris:
            engines.append(("atheris", run_atheris(target, args.atheris)))
        for engine, res in engines:
            cases = int(res["cases"])
            per_case = 1000 * float(res["seconds"]) / cases if cases else float("nan")
            total_failures += len(res["failures"])
            figures.append(figure(
                f"fuzz {target} ({engine}), ms per case", per_case,
                "same loader, clean valid input", base, cases=cases,
                failures=len(res["failures"]),
                cases_per_s=round(cases / float(res["seconds"]), 1) if res["seconds"] else None,
                failure_detail=res["failures"][:3]))
    report(figures, args.json)
    return 1 if total_failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
