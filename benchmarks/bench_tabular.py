"""Tabular benchmark: one patient's prediction and explanation, warm, ours vs the usual call.

    python benchmarks/bench_tabular.py [--json] [--model ID]

Ours: ``predict_proba`` (``model(x, training=False)``) and ``explain_rows`` (guarded
``shap.DeepExplainer``, including validation-free encoding of the row). Baselines, same run,
same row: ``model.predict`` and ``shap.KernelExplainer`` with the same 100-row background.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import figure, median_ms, report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--model", action="append", help="model id (repeatable); default: all tabular")
    args = parser.parse_args()

    import shap

    from precimed.explain.tabular import background_matrix, explain_rows
    from precimed.predict import predict_proba
    from precimed.registry import list_bundles
    from precimed.samples import sample_files
    from precimed.tabular.io import read_table
    from precimed.tabular.validate import encode, validate_table

    figures = []
    for bundle in list_bundles():
        if bundle.modality != "tabular" or (args.model and bundle.id not in args.model):
            continue
        model = bundle.model()
        table = validate_table(read_table(sample_files(bundle.id)[0]), bundle.card)
        x = encode(table.frame.iloc[[0]], bundle.card)
        ours = median_ms(lambda: predict_proba(bundle, x), repeats=100)  # noqa: B023
        base = median_ms(lambda: model.predict(x, verbose=0), repeats=30)  # noqa: B023
        figures.append(figure(f"{bundle.id}: predict 1 row", ours, "model.predict", base, target_ms=5))

        ours = median_ms(lambda: explain_rows(bundle, table, [0]), repeats=50)  # noqa: B023
        bg = background_matrix(bundle)
        kernel = shap.KernelExplainer(lambda z: model(z, training=False).numpy(), bg)  # noqa: B023
        base = median_ms(lambda: kernel.shap_values(x, silent=True), repeats=5, warmup=1)  # noqa: B023
        figures.append(figure(f"{bundle.id}: explain 1 row", ours,
                              f"shap.KernelExplainer ({len(bg)} bg rows)", base, target_ms=20))
    report(figures, args.json)


if __name__ == "__main__":
    main()
