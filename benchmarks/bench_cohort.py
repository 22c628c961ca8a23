"""Cohort benchmark: rows per second for scoring, and scoring with SHAP, at 10^4, 10^5 and 10^6
rows, beside a bare batched ``model(x)`` loop on the same data, with peak memory.

    python benchmarks/bench_cohort.py [--json] [--model ID] [--sizes 10000,100000,1000000]
                                      [--shap-sizes 10000] [--chunk-rows 50000]

Data: rows resampled from the bundle's background (training) rows, numeric features jittered by
Gaussian noise of 5% of their training range and clipped to it, written to a temporary Parquet
file (100,000-row groups). Every measurement runs in a fresh subprocess so that the peak resident
memory (``ru_maxrss``, which includes TensorFlow's C++ heap, unlike tracemalloc) belongs to
that measurement alone.

Figures, per size:
- ``predict``: :func:`precimed.predict.predict_proba` on the encoded matrix vs the bare loop
  ``model(x[i:i+8192], training=False)`` (median of 3 after a warm-up; target ratio ≥ 0.8);
- ``score``: ``precimed score`` end to end (read Parquet in chunks, validate, encode, predict,
  write Parquet) vs the same bare loop (which is given the encoded matrix for free), with the
  peak memory (target ≤ 2 GB at 10^6 rows);
- ``score+SHAP``: the same with ``--explain`` (DeepExplainer, top three features per row), for
  the sizes in ``--shap-sizes`` (target ≤ 60 s for 10^4 rows of the genomic model).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import figure, report  # noqa: E402

GENOMIC = "breast-metastasis-gse7390"
BATCH = 8192


def make_cohort(bundle: Any, n: int, path: Path, *, seed: int = 0, group: int = 100_000) -> None:
    """Write ``n`` rows drawn from the training distribution to ``path`` (Parquet)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    bg = bundle.background()
    rng = np.random.default_rng(seed)
    writer = None
    for start in range(0, n, group):
        m = min(group, n - start)
        frame = bg.iloc[rng.integers(0, len(bg), m)].reset_index(drop=True)
        for spec in bundle.card["inputs"]:
            if spec["dtype"] == "category":
                continue
            span = float(spec["max"]) - float(spec["min"])
            col = frame[spec["name"]].to_numpy(dtype="float64") + rng.normal(0, 0.05 * span, m)
            col = np.clip(col, spec["min"], spec["max"])
            frame[spec["name"]] = np.round(col) if spec["dtype"] == "int" else col
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(str(path), table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(mode: str, model_id: str, path: str, chunk_rows: int) -> dict[str, Any]:
    """One measurement in this (fresh) process."""
    import numpy as np
    import pandas as pd

    from precimed.registry import get_bundle

    bundle = get_bundle(model_id)
    if mode == "predict":
        from precimed.predict import predict_proba
        from precimed.tabular.validate import encode, validate_table

        frame = pd.read_parquet(path)
        x = encode(validate_table(frame, bundle.card).frame, bundle.card)
        del frame
        model = bundle.model()

        def bare() -> None:
            for i in range(0, len(x), BATCH):
                np.asarray(model(x[i:i + BATCH], training=False))

        def ours() -> None:
            predict_proba(bundle, x)

        predict_proba(bundle, x[:BATCH])
        bare()
        times: dict[str, list[float]] = {"bare": [], "ours": []}
        for _ in range(3):  # interleaved, so that both see the same machine load
            for name, fn in (("bare", bare), ("ours", ours)):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
        return {"rows": len(x), "bare_s": statistics.median(times["bare"]),
                "ours_s": statistics.median(times["ours"]), "peak_mb": peak_mb()}
    from precimed.cohort.score import score_cohort

    explain = mode == "shap"
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm.parquet"
        import pyarrow.parquet as pq

        pq.write_table(pq.ParquetFile(path).read_row_group(0).slice(0, 200), warm)  # not the file
        score_cohort(bundle, warm, output=Path(tmp) / "w.parquet", explain=explain)  # load, trace
        t = time.perf_counter()
        out = score_cohort(bundle, path, output=Path(tmp) / "scores.parquet", chunk_rows=chunk_rows,
                           explain=explain)
        seconds = time.perf_counter() - t
    return {"rows": out.rows, "valid": out.valid, "seconds": seconds, "peak_mb": peak_mb()}


def run_child(mode: str, model_id: str, path: Path, chunk_rows: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", mode, "--model", model_id, "--path", str(path),
           "--chunk-rows", str(chunk_rows)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False,
                         env={**os.environ, "PRECIMED_AUDIT_LOG": "off"})
    if out.returncode != 0:
        raise RuntimeError(f"{mode} on {path.name} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--model", default=GENOMIC)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--shap-sizes", default="10000")
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--path", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.model, args.path, args.chunk_rows)))
        return

    from precimed.registry import get_bundle

    bundle = get_bundle(args.model)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    shap_sizes = {int(s) for s in args.shap_sizes.split(",") if s}
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"cohort-{n}.parquet"
            make_cohort(bundle, n, path)
            pred = run_child("predict", args.model, path, args.chunk_rows)
            bare_ms = pred["bare_s"] * 1000
            figures.append(figure(
                f"{args.model}: predict {n:,} rows", pred["ours_s"] * 1000,
                "bare batched model(x) loop", bare_ms,
                rows_per_s=round(n / pred["ours_s"]), baseline_rows_per_s=round(n / pred["bare_s"]),
                target_ratio=0.8))
            score = run_child("score", args.model, path, args.chunk_rows)
            figures.append(figure(
                f"{args.model}: score {n:,} rows end to end", score["seconds"] * 1000,
                "bare batched model(x) loop", bare_ms,
                rows_per_s=round(n / score["seconds"]), baseline_rows_per_s=round(n / pred["bare_s"]),
                peak_mb=round(score["peak_mb"]), target_peak_mb=2048 if n >= 1_000_000 else None,
                note="reads Parquet in chunks, validates, encodes, predicts, writes Parquet"))
            if n in shap_sizes:
                shap = run_child("shap", args.model, path, args.chunk_rows)
                figures.append(figure(
                    f"{args.model}: score+SHAP {n:,} rows end to end", shap["seconds"] * 1000,
                    "bare batched model(x) loop", bare_ms,
                    target_ms=60_000 if n == 10_000 and args.model == GENOMIC else None,
                    rows_per_s=round(n / shap["seconds"], 1), peak_mb=round(shap["peak_mb"])))
            path.unlink()
    report(figures, args.json)


if __name__ == "__main__":
    main()
