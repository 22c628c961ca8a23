"""What-if benchmark: a live edit, a counterfactual search, an occlusion map — ours vs baselines.

    python benchmarks/bench_whatif.py [--json] [--model ID ...]

Figures, medians after a warm-up, both sides in the same run:

* ``edit → prediction + SHAP``: :func:`precimed.whatif.evaluate_edits` (the original and the
  edited row, probabilities and SHAP values for every class, in one batched model call and one
  guarded ``shap.DeepExplainer`` call) against ``model.predict`` on the edited row plus
  ``shap.KernelExplainer`` with the same 100 background rows. Target 100 ms.
* ``counterfactuals (3)``: :func:`precimed.whatif.find_counterfactuals` (greedy sparse search)
  over the sample rows, against a naive random search that draws batches of random in-range
  changes of 1–5 non-fixed features until it has 3 that reach the same target (the same
  validity rule). The extra fields give the mean number of changed features and the mean
  standardized distance of both. Target 2 s (the genomic model).
* ``occlusion map``: :func:`precimed.whatif.occlusion.occlusion_map` (all patch positions
  batched) against the same positions predicted one image at a time. Target 2 s. Needs an
  image bundle; without one the figure is left out and a note says so on stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import figure, median_ms, report  # noqa: E402

RANDOM_BUDGET_S = 5.0  # per row; a baseline that has not finished by then is reported as not reached


def _random_search(bundle: Any, row: dict[str, Any], target: str, n: int, *, seed: int = 0,
                   batch: int = 512, budget_s: float = 60.0,
                   max_distance: float = np.inf) -> tuple[list[int], list[float]]:
    """Naive baseline: random in-range changes of 1–5 non-fixed features, batch by batch,
    until ``n`` reach ``target`` (and lie within ``max_distance``, standardized L1).
    Returns (changed-feature counts, distances) of those found."""
    from precimed.cards import feature_specs
    from precimed.predict import decide, predict_proba
    from precimed.tabular.validate import validate_table
    from precimed.whatif.edits import encode_rows

    card = bundle.card
    specs = feature_specs(card)
    mutable = [s for s in specs if not s.fixed and (s.is_categorical or s.max > s.min)]
    bg = validate_table(bundle.background(), card).frame
    sd = {s.name: float(bg[s.name].std()) or 1.0 for s in specs if not s.is_categorical}
    t = bundle.classes.index(target)
    rng = np.random.default_rng(seed)
    counts: list[int] = []
    dists: list[float] = []
    start = time.perf_counter()
    while len(counts) < n and time.perf_counter() - start < budget_s:
        rows, meta = [], []
        for _ in range(batch):
            k = int(rng.integers(1, 6))
            chosen = rng.choice(len(mutable), size=min(k, len(mutable)), replace=False)
            new = dict(row)
            dist = 0.0
            for j in chosen:
                s = mutable[int(j)]
                if s.is_categorical:
                    new[s.name] = str(rng.choice(s.levels))
                    dist += float(new[s.name] != row[s.name])
                else:
                    v = float(rng.uniform(s.min, s.max))
                    new[s.name] = round(v) if s.dtype == "int" else v
                    dist += abs(float(new[s.name]) - float(row[s.name])) / sd[s.name]
            rows.append(new)
            meta.append((len(chosen), dist))
        ok = decide(predict_proba(bundle, encode_rows(card, rows)), card) == t
        hits = np.flatnonzero(ok & (np.array([d for _, d in meta]) <= max_distance))
        for h in hits[: n - len(counts)]:
            counts.append(meta[int(h)][0])
            dists.append(meta[int(h)][1])
    return counts, dists


def tabular_figures(bundle: Any, repeats: int) -> list[dict[str, Any]]:
    import shap

    from precimed.explain.tabular import background_matrix
    from precimed.samples import sample_files
    from precimed.tabular.io import read_table
    from precimed.tabular.validate import validate_table
    from precimed.whatif.analysis import evaluate_edits
    from precimed.whatif.counterfactual import find_counterfactuals
    from precimed.whatif.edits import encode_rows, row_values

    card = bundle.card
    model = bundle.model()
    table = validate_table(read_table(sample_files(bundle.id)[0]), card)
    row = row_values(table, table.valid_rows[0])
    spec = next(i for i in card["inputs"] if i["dtype"] != "category" and not i.get("fixed")
                and i["max"] > i["min"])
    values = iter(np.linspace(spec["min"], spec["max"], 10_000))
    out = []

    ours = median_ms(lambda: evaluate_edits(bundle, row, {spec["name"]: next(values)}),
                     repeats=repeats * 3, warmup=3)
    bg = background_matrix(bundle)
    kernel = shap.KernelExplainer(lambda z: model(z, training=False).numpy(), bg)

    def baseline() -> None:
        x = encode_rows(card, [{**row, spec["name"]: next(values)}])
        model.predict(x, verbose=0)
        kernel.shap_values(x, silent=True)

    base = median_ms(baseline, repeats=max(3, repeats // 3) if len(card["inputs"]) <= 100 else 1,
                     warmup=1)
    out.append(figure(f"{bundle.id}: edit → prediction + SHAP", ours,
                      f"model.predict + shap.KernelExplainer ({len(bg)} bg rows)", base,
                      target_ms=100, features=len(card["inputs"])))

    rows = [row_values(table, r) for r in table.valid_rows]
    found = [find_counterfactuals(bundle, r, n=3) for r in rows]  # warm-up and the figures below
    ours_ms = []
    for r in rows:
        t0 = time.perf_counter()
        find_counterfactuals(bundle, r, n=3)
        ours_ms.append((time.perf_counter() - t0) * 1000)
    base_ms, base_counts, base_dists = [], [], []
    for r, f in zip(rows, found, strict=True):
        t0 = time.perf_counter()
        counts, dists = _random_search(bundle, r, f.target, len(f.counterfactuals) or 3,
                                       budget_s=RANDOM_BUDGET_S)
        base_ms.append((time.perf_counter() - t0) * 1000)
        base_counts += counts
        base_dists += dists
    # The same validity *and* as near as ours (within our farthest counterfactual of the row).
    near_ms, reached = [], 0
    for r, f in zip(rows, found, strict=True):
        if not f.counterfactuals:
            continue
        limit = max(c.distance for c in f.counterfactuals)
        t0 = time.perf_counter()
        counts, _ = _random_search(bundle, r, f.target, len(f.counterfactuals),
                                   budget_s=RANDOM_BUDGET_S, max_distance=limit)
        near_ms.append((time.perf_counter() - t0) * 1000)
        reached += len(counts) == len(f.counterfactuals)
    cfs = [c for f in found for c in f.counterfactuals]
    out.append(figure(
        f"{bundle.id}: counterfactuals (3, median over {len(rows)} rows)", float(np.median(ours_ms)),
        "random in-range search to the same validity", float(np.median(base_ms)),
        target_ms=2000 if len(card["inputs"]) <= 100 else None,
        found=f"{len(cfs)} of {3 * len(rows)}",
        baseline_is_lower_bound=len(base_counts) < len(cfs),
        ours_mean_changes=round(float(np.mean([c.n_changes for c in cfs])), 2) if cfs else None,
        ours_mean_distance=round(float(np.mean([c.distance for c in cfs])), 2) if cfs else None,
        baseline_found=f"{len(base_counts)} of {len(cfs)} ({RANDOM_BUDGET_S:g} s budget per row)",
        baseline_mean_changes=round(float(np.mean(base_counts)), 2) if base_counts else None,
        baseline_mean_distance=round(float(np.mean(base_dists)), 2) if base_dists else None))
    if near_ms:
        out.append(figure(
            f"{bundle.id}: counterfactuals as near as ours", float(np.median(ours_ms)),
            f"random search until as near as ours ({RANDOM_BUDGET_S:g} s budget per row)",
            float(np.median(near_ms)),
            target_ms=2000 if len(card["inputs"]) <= 100 else None,
            baseline_rows_reached=f"{reached} of {len(near_ms)}",
            baseline_is_lower_bound=reached < len(near_ms)))
    return out


def image_figures(bundle: Any, repeats: int, image_path: str | None = None) -> list[dict[str, Any]]:
    from precimed.dicom import load_path
    from precimed.imaging import frame_image, model_input, predict_model_inputs
    from precimed.samples import sample_files
    from precimed.whatif.occlusion import Box, occlude, occlusion_map, positions_along

    samples = [Path(image_path)] if image_path else sample_files(bundle.id)
    if not samples:
        print(f"note: {bundle.id} ships no sample image; occlusion figure left out", file=sys.stderr)
        return []
    sample = next((p for p in samples if "lesion" in p.name), samples[0])
    image = frame_image(load_path(sample).frames[0])
    ours = median_ms(lambda: occlusion_map(bundle, image), repeats=repeats, warmup=2)
    omap = occlusion_map(bundle, image)
    x = model_input(bundle, image)
    h, w = x.shape[:2]
    boxes = [Box(t, left, t + omap.patch - 1, left + omap.patch - 1)
             for t in positions_along(h, omap.patch, omap.stride)
             for left in positions_along(w, omap.patch, omap.stride)]

    def one_by_one() -> None:
        predict_model_inputs(bundle, x[np.newaxis])
        for b in boxes:
            predict_model_inputs(bundle, occlude(x, b, "blur", sigma=float(omap.patch))[np.newaxis])

    base = median_ms(one_by_one, repeats=max(3, repeats // 3), warmup=1)
    return [figure(f"{bundle.id}: occlusion map ({omap.positions} positions, {sample.name})", ours,
                   "the same positions predicted one at a time", base, target_ms=2000)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--model", action="append", help="model id (repeatable); default: all")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--image", help="DICOM file for the occlusion figure (default: the image "
                                        "model's sample with a lesion)")
    args = parser.parse_args()

    from precimed.registry import list_bundles

    figures: list[dict[str, Any]] = []
    bundles = [b for b in list_bundles() if not args.model or b.id in args.model]
    for bundle in bundles:
        if bundle.modality == "tabular":
            figures += tabular_figures(bundle, args.repeats)
        elif bundle.modality == "image":
            figures += image_figures(bundle, args.repeats, args.image)
    if not any(b.modality == "image" for b in bundles):
        print("note: no image bundle installed; occlusion figure left out", file=sys.stderr)
    report(figures, args.json)


if __name__ == "__main__":
    main()
