"""Cohort benchmark (issue 14): ``precimed score`` on 10^6-row files beside the bare batched
model loop, peak memory per file layout, SHAP at scale, and Dask with 1 against 2 workers.

    python benchmarks/bench_cohort.py [--json] [--rows 1000000] [--data /tmp/precimed-bench-cohort]
                                      [--shap-rows 1000000] [--dask-rows 200000] [--chunk-rows 50000]

Data (generated once, kept under ``--data`` and reused): rows resampled from each bundle's
background rows, numeric features jittered by 5% of their training range and clipped to it.
- genomic (``breast-metastasis-gse7390``, 80 inputs): Parquet, 100,000-row groups;
- DILI (``dili-hepatic-injury-qsar``, 376 inputs): Parquet as pandas writes it (one row group
  of 10^6 rows), the same rows in 100,000-row groups, and as CSV.

Each measurement runs in a fresh subprocess, so its peak resident memory (``ru_maxrss``: the
whole process, TensorFlow's heap included) is its own. Figures, all measured in this run:
- ``score``: end to end (read, validate, encode, predict, write Parquet) against the bare loop
  ``model(x[i:i+8192], training=False)`` over the already encoded rows (targets: ratio ≥ 0.5 on
  the genomic model; ≥ 100,000 rows/s and peak ≤ 1.5 GB on DILI, every layout);
- ``score --explain``: 10^6 genomic rows (target ≤ 600 s), beside the per-row DeepExplainer path
  timed on 2,000 rows and extrapolated; the largest deviation from the per-row values on a
  sample and the additivity check are reported;
- ``dask``: the same file through a ``dask scheduler`` with 1, then 2 ``dask worker`` processes
  (``--nthreads 1``), beside local scoring. On a 2-core machine the client (reading, sending,
  writing) and two workers share two cores, so 2 workers cannot reach 2×.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
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
DILI = "dili-hepatic-injury-qsar"
BATCH = 8192
ENV = {**os.environ, "PRECIMED_AUDIT_LOG": "off", "TF_CPP_MIN_LOG_LEVEL": "3",
       "TF_ENABLE_ONEDNN_OPTS": "0"}


def _columns(bundle: Any, n: int, seed: int) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa

    bg = bundle.background()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(bg), n)
    cols: dict[str, Any] = {}
    for spec in bundle.card["inputs"]:
        raw = bg[spec["name"]].to_numpy()[pick]
        if spec["dtype"] == "category":
            cols[spec["name"]] = pa.array(raw.astype(str))
            continue
        span = float(spec["max"]) - float(spec["min"])
        col = np.clip(raw.astype("float64") + rng.normal(0, 0.05 * span, n), spec["min"], spec["max"])
        cols[spec["name"]] = pa.array(np.round(col) if spec["dtype"] == "int" else col)
    return cols


def make_files(data: Path, rows: int, skip_csv: bool = False) -> dict[str, Path]:
    """The benchmark files (made once)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from precimed.registry import get_bundle

    data.mkdir(parents=True, exist_ok=True)
    files = {"genomic": data / f"genomic-{rows}.parquet", "dili_one": data / f"dili-{rows}-1rg.parquet",
             "dili_many": data / f"dili-{rows}-100k.parquet", "dili_csv": data / f"dili-{rows}.csv"}
    if not files["genomic"].exists():
        g = get_bundle(GENOMIC)
        pq.write_table(pa.table(_columns(g, rows, 0)), files["genomic"], row_group_size=100_000)
    wanted = ["dili_one", "dili_many"] + ([] if skip_csv else ["dili_csv"])
    if not all(files[k].exists() for k in wanted):
        table = pa.table(_columns(get_bundle(DILI), rows, 1))
        if not files["dili_one"].exists():
            pq.write_table(table, files["dili_one"], row_group_size=rows)  # one group, as pandas
        if not files["dili_many"].exists():
            pq.write_table(table, files["dili_many"], row_group_size=100_000)
        if not skip_csv and not files["dili_csv"].exists():
            pacsv.write_csv(table, files["dili_csv"])
        del table
    return files


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(mode: str, model_id: str, path: str, chunk_rows: int | None, extra: str | None) -> dict[str, Any]:
    """One measurement in this (fresh) process."""
    import numpy as np
    import pyarrow.parquet as pq

    from precimed.registry import get_bundle

    bundle = get_bundle(model_id)
    if mode == "bare":
        from precimed.cohort.columns import check_chunk

        pf = pq.ParquetFile(path)
        n = min(int(extra or pf.metadata.num_rows), pf.metadata.num_rows)
        x = check_chunk(next(pf.iter_batches(batch_size=n)), bundle.card).x  # the first n rows
        assert x is not None
        model = bundle.model()

        def bare() -> None:
            for i in range(0, len(x), BATCH):
                np.asarray(model(x[i:i + BATCH], training=False))

        bare()
        times = []
        for _ in range(3):
            t = time.perf_counter()
            bare()
            times.append(time.perf_counter() - t)
        return {"rows": len(x), "seconds": statistics.median(times), "peak_mb": peak_mb()}
    if mode == "per_row_shap":
        from precimed.cohort.columns import check_chunk
        from precimed.explain.tabular import backend_for

        first = next(pq.ParquetFile(path).iter_batches(batch_size=int(extra or 2000)))
        x = check_chunk(first, bundle.card).x
        assert x is not None
        backend = backend_for(bundle)
        backend.explain(x[:20])
        t = time.perf_counter()
        values, _ = backend.explain(x)
        seconds = time.perf_counter() - t
        from precimed.explain.batched import cohort_explainer

        fast, _ = cohort_explainer(bundle).explain(x)
        return {"rows": len(x), "seconds": seconds, "max_abs_diff": float(np.abs(fast - values).max()),
                "method": cohort_explainer(bundle).method}
    from precimed.cohort.score import score_cohort

    explain = mode == "shap"
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm.parquet"
        if path.endswith(".parquet"):  # load the model and trace it (on another file)
            import pyarrow as pa

            from precimed.cohort.reader import CohortSource

            # read as the product does: pyarrow's default reader loads a whole row group (a
            # 3 GB one for the one-row-group file), which inflated the peaks measured before
            first = next(CohortSource.of(path).batches(300))
            pq.write_table(pa.Table.from_batches([first]), warm)
            del first
            score_cohort(bundle, warm, output=Path(tmp) / "w.parquet", explain=explain)
        t = time.perf_counter()
        out = score_cohort(bundle, path, output=Path(tmp) / "scores.parquet", chunk_rows=chunk_rows,
                           explain=explain, scheduler=extra or None)
        seconds = time.perf_counter() - t
    from precimed.cohort.score import default_chunk_rows

    return {"rows": out.rows, "valid": out.valid, "seconds": seconds, "peak_mb": peak_mb(),
            "explanation": out.explanation, "workers": out.workers,
            "chunk_rows": chunk_rows or default_chunk_rows(bundle)}


def run_child(mode: str, model_id: str, path: Path, chunk_rows: int | None,
              extra: str | None = None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", mode, "--model", model_id, "--path", str(path)]
    cmd += (["--chunk-rows", str(chunk_rows)] if chunk_rows else []) + (["--extra", extra] if extra else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=ENV)
    if out.returncode != 0:
        raise RuntimeError(f"{mode} on {path.name} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["load"] = [round(v, 2) for v in os.getloadavg()]  # `uptime` load right after the run
    return result


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dask_runs(path: Path, chunk_rows: int | None, tmp: Path) -> dict[int, dict[str, Any]]:
    """Score ``path`` through a scheduler with 1 and then 2 worker processes."""
    dask = str(Path(sys.executable).with_name("dask"))
    address = f"tcp://127.0.0.1:{_port()}"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port",
                               address.rsplit(":", 1)[1], "--no-dashboard"], env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    results = {}
    try:
        for k in (1, 2):
            procs.append(subprocess.Popen(
                [dask, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                 "--host", "127.0.0.1", "--local-directory", str(tmp / f"w{k}")], env=ENV,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            from distributed import Client

            with Client(address, timeout="60s") as c:
                c.wait_for_workers(k, timeout=180)
            run_child("score", GENOMIC, path, chunk_rows, address)  # warm: bundle shipped, loaded
            results[k] = run_child("score", GENOMIC, path, chunk_rows, address)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    return results


class _Logged(list):  # type: ignore[type-arg]
    """Figures, each also written to stderr as soon as it is measured (long runs)."""

    def append(self, item: Any) -> None:
        print(json.dumps(item), file=sys.stderr, flush=True)
        super().append(item)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--shap-rows", type=int, default=1_000_000)
    parser.add_argument("--dask-rows", type=int, default=200_000)
    parser.add_argument("--chunk-rows", type=int, default=None,
                        help="rows per chunk; default: the product's (precimed.cohort.score.default_chunk_rows)")
    parser.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "precimed-bench-cohort"))
    parser.add_argument("--skip", default="", help="comma-separated: csv, shap, dask")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--model", default=GENOMIC, help=argparse.SUPPRESS)
    parser.add_argument("--path", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--extra", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.model, args.path, args.chunk_rows, args.extra)))
        return
    skip = set(args.skip.split(","))
    n, cr = args.rows, args.chunk_rows
    load_before = os.getloadavg()
    files = make_files(Path(args.data), n, "csv" in skip)
    figures = _Logged()
    gbare = run_child("bare", GENOMIC, files["genomic"], cr)
    gscore = run_child("score", GENOMIC, files["genomic"], cr)
    figures.append(figure(
        f"{GENOMIC}: score {n:,} rows end to end", gscore["seconds"] * 1000,
        "bare batched model(x) loop on the encoded rows", gbare["seconds"] * 1000,
        rows_per_s=round(n / gscore["seconds"]), baseline_rows_per_s=round(gbare["rows"] / gbare["seconds"]),
        peak_mb=round(gscore["peak_mb"]), target_ratio=0.5, load=gscore["load"], chunk_rows=gscore["chunk_rows"],
        note="ratio = bare ms / ours ms: throughput as a share of the bare loop's"))
    dbare = run_child("bare", DILI, files["dili_many"], cr, "200000")
    bare_rate = dbare["rows"] / dbare["seconds"]
    layouts = [("dili_one", "Parquet, one row group"), ("dili_many", "Parquet, 100,000-row groups")]
    if "csv" not in skip:
        layouts.append(("dili_csv", "CSV"))
    for key, label in layouts:
        res = run_child("score", DILI, files[key], cr)
        figures.append(figure(
            f"{DILI}: score {n:,} × 376, {label}", res["seconds"] * 1000,
            "bare batched model(x) loop (rate on 200,000 encoded rows)", n / bare_rate * 1000,
            rows_per_s=round(n / res["seconds"]), baseline_rows_per_s=round(bare_rate),
            peak_mb=round(res["peak_mb"]), target_peak_mb=1536, load=res["load"], chunk_rows=res["chunk_rows"],
            target_rows_per_s=100_000 if key != "dili_csv" else None))
    if "shap" not in skip:
        per_row = run_child("per_row_shap", GENOMIC, files["genomic"], cr, "2000")
        m = args.shap_rows
        shap_file = files["genomic"]
        if m != n:
            import pyarrow.parquet as pq

            shap_file = Path(args.data) / f"genomic-shap-{m}.parquet"
            if not shap_file.exists():
                pq.write_table(pq.read_table(files["genomic"]).slice(0, m), shap_file,
                               row_group_size=100_000)
        shap = run_child("shap", GENOMIC, shap_file, cr)
        figures.append(figure(
            f"{GENOMIC}: score --explain {m:,} rows end to end", shap["seconds"] * 1000,
            f"per-row DeepExplainer path ({per_row['rows']:,} rows timed, extrapolated)",
            per_row["seconds"] / per_row["rows"] * m * 1000,
            target_ms=600_000, method=per_row["method"],
            max_abs_diff_vs_per_row=per_row["max_abs_diff"], explanation=shap["explanation"],
            peak_mb=round(shap["peak_mb"]), load=shap["load"]))
    if "dask" not in skip:
        import pyarrow.parquet as pq

        dfile = Path(args.data) / f"genomic-dask-{args.dask_rows}.parquet"
        if not dfile.exists():
            pq.write_table(pq.read_table(files["genomic"]).slice(0, args.dask_rows), dfile,
                           row_group_size=100_000)
        local = run_child("score", GENOMIC, dfile, cr)
        with tempfile.TemporaryDirectory() as tmp:
            runs = dask_runs(dfile, cr, Path(tmp))
        for k in (1, 2):
            figures.append(figure(
                f"{GENOMIC}: dask, {k} worker process{'es' if k > 1 else ''}, {args.dask_rows:,} rows",
                runs[k]["seconds"] * 1000, "local scoring (this machine, no Dask)",
                local["seconds"] * 1000, rows_per_s=round(args.dask_rows / runs[k]["seconds"]),
                workers=runs[k]["workers"], load=runs[k]["load"],
                speedup_vs_1_worker=round(runs[1]["seconds"] / runs[k]["seconds"], 2)))
    for f in figures:
        f["load_before_run"] = [round(v, 2) for v in load_before]
    report(list(figures), args.json)


if __name__ == "__main__":
    main()
