"""``precimed score --model ID --input FILE``: score a whole cohort in chunks, to Parquet.

Locally by default; on a Dask cluster with ``--scheduler ADDRESS`` (the model is shipped to and
loaded once on each worker). ``--label`` (and ``--subgroup``) add cohort metrics to the summary.
Progress (rows done, rows/s, time left) goes to stderr, at most once a second.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from precimed.cohort.metrics import metrics_from_results
from precimed.cohort.pipeline import ProgressMeter
from precimed.cohort.score import DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_ROWS, score_cohort
from precimed.errors import PrecimedInputError
from precimed.registry import get_bundle

PROGRESS_EVERY_S = 1.0


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "score", help="score a cohort table (CSV/TSV/Parquet) in chunks, locally or on Dask")
    p.add_argument("--model", required=True, help="model id (see `precimed models`)")
    p.add_argument("--input", required=True, help="CSV, TSV or Parquet file, one row per subject")
    p.add_argument("--output", default=None,
                   help="result file, .parquet (default: <input>.scores.parquet) or .csv")
    p.add_argument("--explain", action="store_true",
                   help="add the top three SHAP features per row and the global importance")
    p.add_argument("--scheduler", default=None,
                   help="Dask scheduler address (e.g. tcp://10.0.0.5:8786); default: score here")
    p.add_argument("--chunk-rows", type=int, default=None,
                   help=f"rows per chunk; bounds memory (default {DEFAULT_CHUNK_ROWS:,}, or fewer for wide "
                        f"models: {DEFAULT_CHUNK_BYTES >> 20} MiB of inputs)")
    p.add_argument("--label", default=None,
                   help="column with the true class: adds AUROC (95%% CI), calibration, confusion")
    p.add_argument("--subgroup", default=None,
                   help="categorical column: the metrics per subgroup as well (needs --label)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(handler=run, text=_text)


def default_output(path: str) -> Path:
    p = Path(path)
    return p.with_name(p.name.split(".")[0] + ".scores.parquet")


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.chunk_rows is not None and args.chunk_rows < 1:
        raise PrecimedInputError(f"--chunk-rows {args.chunk_rows}",
                                 expected="a positive number of rows")
    if args.subgroup and not args.label:
        raise PrecimedInputError("--subgroup needs --label",
                                 expected="--label COLUMN --subgroup COLUMN")
    bundle = get_bundle(args.model)
    output = Path(args.output) if args.output else default_output(args.input)
    if output.suffix.lower() not in (".parquet", ".pq", ".csv"):
        raise PrecimedInputError(f"--output {output.name}", expected="a .parquet or .csv file")
    if output.resolve() == Path(args.input).resolve():
        raise PrecimedInputError("--output is the input file", expected="another file name")
    keep = [c for c in (args.label, args.subgroup) if c]

    meter = ProgressMeter(None)
    shown = [-1.0]

    def progress(done: int, total: int | None) -> None:
        # stderr only (stdout is the JSON), at most one line a second and the last one
        meter.total = total
        now = time.perf_counter()
        if now - shown[0] >= PROGRESS_EVERY_S or (total is not None and done >= total):
            shown[0] = now
            print(meter.line(done), file=sys.stderr, flush=True)

    result = score_cohort(bundle, args.input, output=output, chunk_rows=args.chunk_rows,
                          explain=args.explain, keep=keep, progress=progress,
                          scheduler=args.scheduler)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    summary = result.summary()
    if args.label:
        import pandas as pd

        from precimed.cohort.score import prob_column

        cols = [prob_column(c) for c in bundle.classes] + keep
        if output.suffix.lower() == ".csv":
            scores = pd.read_csv(output, usecols=cols, dtype={k: str for k in keep})
        else:
            scores = pd.read_parquet(output, columns=cols)
        summary["metrics"] = metrics_from_results(scores, bundle.card, args.label, args.subgroup)
    return summary


def _loading(s: dict[str, Any]) -> str:
    """``; 5.8 s of it loading the model`` when that was a visible share of the wait."""
    load = s.get("model_load_seconds")
    return f"; {load:.1f} s of it loading the model" if load is not None and load >= 0.05 else ""


def _text(s: dict[str, Any]) -> str:
    lines = [f"{s['rows']:,} rows scored with {s['model']} v{s['version']} ({s['engine']}): "
             f"{s['valid']:,} valid, {s['invalid']:,} invalid, {s['seconds']:.1f} s "
             f"({s['rows_per_second'] or 0:,.0f} rows/s{_loading(s)}) → {s['output']}"]
    if "importance" in s:
        top = ", ".join(f"{k} {v:.4f}" for k, v in list(s["importance"].items())[:5])
        lines.append(f"global SHAP importance (mean |SHAP|): {top}")
    if "metrics" in s:
        m = s["metrics"]["overall"]
        ci = m["auroc"]["ci95"]
        lines.append(f"AUROC {m['auroc']['value']} (95% CI {ci[0]}–{ci[1]}) on "
                     f"{m['n']} labelled rows; accuracy {m['accuracy']}; decision: {m['decision']}"
                     if ci else f"AUROC {m['auroc']['value']} on {m['n']} labelled rows")
        for name, g in s["metrics"].get("subgroups", {}).items():
            lines.append(f"  {s['metrics']['subgroup']} = {name}: n {g['n']}, "
                         f"AUROC {g['auroc']['value']}")
    return "\n".join(lines)
