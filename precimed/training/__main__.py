"""``python -m precimed.training [ID ...]``: retrain shipped bundles and their sample files.

With no ids, every trainer in :data:`TRAINERS` runs. Each writes ``assets/models/<id>/`` and,
where it has one, ``assets/samples/<id>.csv``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time

from precimed.registry import REPO_MODELS_DIR

# model id → module with train(out_root) and optionally sample_rows()
TRAINERS: dict[str, str] = {
    "breast-metastasis-gse7390": "precimed.training.transbig",
    "breast-cytology-wdbc": "precimed.training.wdbc",
    "dili-hepatic-injury-qsar": "precimed.training.dili",
    "lesion-cnn-synthetic": "precimed.training.imaging_synthetic",
    # published reference: fixed weights from the paper, nothing fitted
    "relapse-score-wang2005": "precimed.training.wang2005",
}
SAMPLES_DIR = REPO_MODELS_DIR.parent / "samples"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m precimed.training", description=__doc__)
    parser.add_argument("ids", nargs="*", help=f"bundles to train (default all: {', '.join(TRAINERS)})")
    parser.add_argument("--cards-only", action="store_true",
                        help="rewrite tabular cards from the cached cross-validation predictions "
                             "(build/cv/) without retraining; bundles without a valid cache retrain")
    args = parser.parse_args(argv)
    unknown = [i for i in args.ids if i not in TRAINERS]
    if unknown:
        print(f"error: unknown model id(s) {unknown} (expected: {list(TRAINERS)})", file=sys.stderr)
        return 2
    for model_id in args.ids or list(TRAINERS):
        module = importlib.import_module(TRAINERS[model_id])
        start = time.perf_counter()
        card = None
        if args.cards_only and hasattr(module, "refresh"):
            card = module.refresh(REPO_MODELS_DIR)
        if card is None:
            card = module.train(REPO_MODELS_DIR)
        if hasattr(module, "sample_rows"):
            SAMPLES_DIR.mkdir(parents=True, exist_ok=True)
            module.sample_rows().to_csv(SAMPLES_DIR / f"{model_id}.csv", index=False, float_format="%.10g")
        metrics = {k: v for k, v in card["evaluation"]["metrics"].items() if "ci95" in v}
        print(f"{model_id}: {time.perf_counter() - start:.0f} s, {json.dumps(metrics)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
