"""Held-out evaluation of ``lesion-cnn-synthetic``, written into its card.

- **Discrimination** on the two held-out sets (held-out backgrounds; held-out generator family
  on the same held-out backgrounds): AUROC with bootstrap CIs, Brier, calibration, and AUROC per
  lesion family and per held-out background.
- **False positives on real images with no lesion**: every whole file never used in training,
  scored as a user would upload it, with a Wilson 95 % CI.
- **Fidelity** of the SHAP heatmaps on the held-out positives: pointing game (the highest
  attribution inside a lesion mask), positive attribution mass inside the masks, and a deletion
  curve (Petsiuk et al. 2018): the pixels are replaced by the image's mean in order of
  decreasing attribution, and the area under P(lesion) over the first 20 % of pixels is compared
  with the same in a random order. The training optimises none of these directly, but its grid
  head *is* supervised with the lesion masks, so the pointing game and the mass partly measure
  that supervision (the card says so); the deletion curve asks only whether the heatmap ranks
  the pixels the model depends on, and does not use the masks.
- **Heatmap colour scale**, fixed per model: the 99.5th percentile of |attribution| over all
  pixels of the held-out positive images; the page saturates beyond it, so a negative image
  (small attributions) looks quiet.
- **Sanity checks** (:mod:`precimed.imaging.sanity`): cascading randomisation with both
  randomisations, and a data-randomisation check (the same network trained on shuffled
  image-label pairs).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from precimed.imaging.explain import NSAMPLES
from precimed.training.common import binary_metrics, bootstrap_ci, write_bundle

if TYPE_CHECKING:
    from precimed.training.imaging_synthetic import Background

N_FIDELITY = 100  # held-out positives per set explained for the fidelity figures
N_SANITY = 24
DELETION_FRACTIONS = np.array([0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2])
SANITY_STEPS = 5  # every weighted layer of the detector, top first
SHUFFLED_EPOCHS = 3
SHUFFLED_N = 2000


def _log(msg: str) -> None:
    import sys

    print(f"lesion-cnn-synthetic: {msg}", file=sys.stderr, flush=True)


def _ci(values: np.ndarray) -> dict[str, Any]:
    idx = np.arange(len(values))
    lo, hi = bootstrap_ci(lambda a, b: float(values[a].mean()), idx, idx, stratified=False)
    return {"value": round(float(values.mean()), 4), "ci95": [round(lo, 4), round(hi, 4)]}


def wilson(k: int, n: int) -> list[float]:
    """Wilson 95 % interval of a proportion k/n."""
    if n == 0:
        return [0.0, 1.0]
    z = 1.959964
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def deletion_auc(model: Any, x: np.ndarray, order_values: np.ndarray) -> np.ndarray:
    """Normalised area under P(lesion) while the pixels are replaced by the image mean in
    decreasing order of ``order_values``, over :data:`DELETION_FRACTIONS` (one per image)."""
    from precimed.training.imaging_cnn import predict_batches

    n, h, w, _ = x.shape
    steps = []
    ranks = np.argsort(-order_values.reshape(n, -1), axis=1)
    means = x.reshape(n, -1).mean(axis=1)
    for frac in DELETION_FRACTIONS:
        k = int(round(frac * h * w))
        xs = x.reshape(n, -1).copy()
        if k:
            rows = np.repeat(np.arange(n), k)
            xs[rows, ranks[:, :k].ravel()] = np.repeat(means, k)
        steps.append(predict_batches(model, xs.reshape(x.shape))[:, 0])
    curve = np.stack(steps, axis=1)  # (n, fractions)
    return np.trapezoid(curve, DELETION_FRACTIONS, axis=1) / DELETION_FRACTIONS[-1]


def fidelity(model: Any, bg: np.ndarray, x: np.ndarray, masks: np.ndarray,
             seed: int) -> tuple[dict[str, Any], np.ndarray]:
    """Fidelity figures of one held-out set's positives, and their attributions."""
    from precimed.imaging.regions import pointing_hit, positive_mass_inside
    from precimed.imaging.sanity import attributions
    from precimed.training.imaging_cnn import predict_batches

    vals = attributions(model, bg, x, nsamples=NSAMPLES, seed=seed)
    hits = np.array([pointing_hit(v, m) for v, m in zip(vals, masks, strict=True)], float)
    mass = np.array([positive_mass_inside(v, m) for v, m in zip(vals, masks, strict=True)])
    rng = np.random.default_rng(seed)
    shap_auc = deletion_auc(model, x, vals)
    rand_auc = deletion_auc(model, x, rng.random(vals.shape))
    out = predict_batches(model, x)[:, 0]
    base = float(predict_batches(model, bg)[:, 0].mean())
    gaps = np.abs(base + vals.reshape(len(x), -1).sum(axis=1) - out)
    return {
        "n": len(x),
        "pointing_game": _ci(hits),
        "attribution_mass_in_lesion": _ci(mass),
        "deletion_auc_shap_order": _ci(shap_auc),
        "deletion_auc_random_order": _ci(rand_auc),
        "lesion_area_share": {"value": round(float(masks.mean()), 4)},
        "additivity_gap_median": {"value": round(float(np.median(gaps)), 4)},
        "additivity_gap_p95": {"value": round(float(np.percentile(gaps, 95)), 4)},
    }, vals


def real_negatives(card: dict[str, Any], model: Any) -> dict[str, Any]:
    """P(lesion) of every frame of every held-out real file; false-positive rate per image."""
    from precimed.dicom import load_bytes
    from precimed.imaging.preprocess import frame_input
    from precimed.training.imaging_cnn import predict_batches
    from precimed.training.imaging_synthetic import REAL_NEGATIVES, read_source

    rows = []
    for source, name in REAL_NEGATIVES:
        data, fname = read_source(source, name)
        for fr in load_bytes(data, fname).frames:
            p = float(predict_batches(model, frame_input(card, fr)[np.newaxis])[0, 0])
            rows.append({"file": f"{source}:{fr.label}", "p_lesion": round(p, 4)})
    k = sum(r["p_lesion"] >= card["threshold"] for r in rows)
    return {
        "method": "every frame of the held-out real files (no lesion inserted), whole, as a user "
                  "uploads them; false positive = P(lesion) ≥ the threshold",
        "n": len(rows), "false_positives": int(k),
        "false_positive_rate": {"value": round(k / len(rows), 4), "ci95": wilson(int(k), len(rows))},
        "images": rows,
    }


def _shuffled_model(tr: dict[str, np.ndarray], shape: tuple[int, int, int], seed: int) -> Any:
    """The same detector trained on shuffled (image, label + mask) pairs (data randomisation)."""
    from precimed.training.imaging_cnn import build_detector, fit_detector

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(tr["y"]), SHUFFLED_N, replace=False)
    perm = rng.permutation(idx)
    trainer, model = build_detector(shape)
    fit_detector(trainer, tr["x"][idx], tr["y"][perm], tr["masks"][perm], epochs=SHUFFLED_EPOCHS)
    return model


def sanity(model: Any, bg: np.ndarray, x: np.ndarray, tr: dict[str, np.ndarray],
           shape: tuple[int, int, int], seed: int) -> list[dict[str, Any]]:
    """The card's ``explanation.sanity_checks``."""
    from precimed.imaging.sanity import attributions, cascading_randomisation, spearman_abs

    checks = []
    for method in ("reinit", "spread"):
        checks += cascading_randomisation(model, bg, x, method=method, steps=SANITY_STEPS,
                                          nsamples=64, seed=seed)
    trained = attributions(model, bg, x, nsamples=64, seed=seed)
    shuffled = attributions(_shuffled_model(tr, shape, seed), bg, x, nsamples=64, seed=seed)
    rhos = [spearman_abs(a, b) for a, b in zip(trained, shuffled, strict=True)]
    checks.append({
        "randomised": "training labels (data randomisation)",
        "method": f"the same network trained for {SHUFFLED_EPOCHS} epochs on {SHUFFLED_N} "
                  "training images with their labels and lesion masks shuffled across images",
        "spearman_abs": {"median": round(float(np.median(rhos)), 4), "n": len(rhos),
                         "iqr": [round(float(v), 4) for v in np.percentile(rhos, [25, 75])]},
    })
    return checks


def evaluate_bundle(out_dir: Path, model: Any, card: dict[str, Any],
                    sets: dict[str, dict[str, np.ndarray]], test_bgs: list[Background], *,
                    tr: dict[str, np.ndarray], shape: tuple[int, int, int], seed: int) -> dict[str, Any]:
    """Fill ``card`` with every held-out figure and write the bundle into ``out_dir`` (which
    already holds ``background.npy``)."""
    from sklearn.metrics import roc_auc_score

    from precimed.registry import sha256_file
    from precimed.training.imaging_cnn import predict_batches
    from precimed.training.imaging_lesions import FAMILIES, HELDOUT_FAMILY

    card = json.loads(json.dumps(card))
    bg = np.load(out_dir / "background.npy").astype(np.float32)
    heldout, keep, fid_vals = [], {}, {}
    for name, s in sets.items():
        p = predict_batches(model, s["x"])[:, 0]
        ev = binary_metrics(s["y"], p, threshold=float(card["threshold"]))
        entry: dict[str, Any] = {
            "name": name.replace("_", " "),
            "families": sorted({FAMILIES[f] for f in s["family"] if f >= 0}),
            "backgrounds": sorted({b.group for b in test_bgs}),
            "n": len(s["y"]), "n_lesion": int(s["y"].sum()),
            "auroc": ev["metrics"]["auroc"], "brier": ev["metrics"]["brier"],
            "sensitivity": ev["metrics"]["sensitivity"], "specificity": ev["metrics"]["specificity"],
        }
        per_bg = {}
        for g in sorted({b.group for b in test_bgs}):
            sel = np.isin(s["source"], [i for i, b in enumerate(test_bgs) if b.group == g])
            if len(np.unique(s["y"][sel])) == 2:
                per_bg[g] = round(float(roc_auc_score(s["y"][sel], p[sel])), 4)
        entry["auroc_per_background"] = per_bg
        if name == "heldout_backgrounds":
            card["evaluation"]["metrics"].update(ev["metrics"])
            card["evaluation"]["calibration"] = ev["calibration"]
            entry["auroc_per_family"] = {
                FAMILIES[f]: round(float(roc_auc_score(
                    s["y"][(s["family"] == f) | (s["y"] == 0)],
                    p[(s["family"] == f) | (s["y"] == 0)])), 4)
                for f in sorted({int(v) for v in s["family"] if v >= 0})}
        pos = np.flatnonzero(s["y"] == 1)[:N_FIDELITY]
        fid, vals = fidelity(model, bg, s["x"][pos], s["masks"][pos], seed)
        entry["fidelity"] = fid
        fid_vals[name] = vals
        keep[name] = pos
        heldout.append(entry)
        _log(f"{name}: AUROC {entry['auroc']['value']:.3f}, pointing game "
             f"{fid['pointing_game']['value']:.2f}")
    card["evaluation"]["heldout"] = heldout
    fam = next(h for h in heldout if h["name"] == "heldout family")
    m = card["evaluation"]["metrics"]
    m["auroc_heldout_family"] = fam["auroc"]
    main = heldout[0]["fidelity"]
    for key in ("pointing_game", "attribution_mass_in_lesion", "deletion_auc_shap_order",
                "deletion_auc_random_order", "additivity_gap_median", "additivity_gap_p95"):
        m[key] = main[key]
    m["pointing_game_heldout_family"] = fam["fidelity"]["pointing_game"]

    # the recorded positives, for the test suite's recomputation
    buf = io.BytesIO()
    hb, hf = sets["heldout_backgrounds"], sets["heldout_family"]
    kb, kf = keep["heldout_backgrounds"], keep["heldout_family"]
    np.savez_compressed(buf, x=np.concatenate([hb["x"][kb], hf["x"][kf]]).astype(np.float16),
                        masks=np.concatenate([hb["masks"][kb], hf["masks"][kf]]),
                        set=np.array([0] * len(kb) + [1] * len(kf)),
                        family=np.concatenate([hb["family"][kb], hf["family"][kf]]))
    (out_dir / "fidelity_set.npz").write_bytes(buf.getvalue())
    card["evaluation"]["fidelity"] = {
        "method": f"shap.GradientExplainer ({NSAMPLES} samples, the card's background) on the first "
                  f"{N_FIDELITY} lesion-positive images of each held-out set; pointing game = the "
                  "highest attribution inside a lesion mask; mass = share of the positive "
                  "attribution inside the masks; deletion AUC = mean P(lesion) while the first 20% "
                  "of pixels, in order of decreasing attribution, are replaced by the image mean "
                  "(lower = the heatmap found what the model uses), beside a random order",
        "file": "fidelity_set.npz", "n": int(len(kb) + len(kf)),
        "sets": {"heldout backgrounds": [0, int(len(kb))],
                 "heldout family": [int(len(kb)), int(len(kb) + len(kf))]},
        "sha256": sha256_file(out_dir / "fidelity_set.npz"),
        "circularity": "the grid head is trained with the lesion masks as a per-cell target, so "
                       "the model localises lesions by construction and the pointing game and mass "
                       "measure that supervision as much as the heatmap; on the held-out family "
                       "they measure whether the localisation carries over to unseen lesion "
                       "shapes. The deletion curve uses no mask.",
    }
    real = real_negatives(card, model)
    hp = predict_batches(model, hb["x"][hb["y"] == 0])[:, 0]
    k = int((hp >= float(card["threshold"])).sum())
    real["heldout_crops"] = {
        "method": "the lesion-free crops of the held-out backgrounds set (random crops, flips "
                  "and quarter turns of the same real files)",
        "n": len(hp), "false_positives": k,
        "false_positive_rate": {"value": round(k / len(hp), 4), "ci95": wilson(k, len(hp))}}
    card["evaluation"]["real_images"] = real
    card["evaluation"]["method"] = (
        f"two held-out sets on {len(test_bgs)} background files of "
        f"{len({b.group for b in test_bgs})} patients/acquisitions never used in training: "
        f"'held-out backgrounds' ({heldout[0]['n']} images, lesions of the training families) and "
        f"'held-out family' ({heldout[1]['n']} images, lesions of the '{HELDOUT_FAMILY}' family, "
        "never drawn in training); metrics are those of the first, the second's under "
        "evaluation.heldout; bootstrap 95% CIs over images (crops share a few background files, "
        "so the CIs are optimistic)")

    all_vals = fid_vals["heldout_backgrounds"]
    scale = float(np.percentile(np.abs(all_vals), 99.5))
    neg = np.flatnonzero(hb["y"] == 0)[:N_FIDELITY]
    from precimed.imaging.sanity import attributions

    neg_vals = attributions(model, bg, hb["x"][neg], nsamples=NSAMPLES, seed=seed)
    card["explanation"]["heatmap_scale"] = {
        "value": float(f"{scale:.4g}"),
        "method": f"99.5th percentile of |SHAP| over every pixel of {len(all_vals)} held-out "
                  "lesion-positive images; the colour saturates beyond ±value, the same for "
                  "every image",
        "negative_images_p99_5": float(f"{np.percentile(np.abs(neg_vals), 99.5):.4g}"),
    }
    card["explanation"]["method"] = f"shap.GradientExplainer (expected gradients), {NSAMPLES} samples"
    _log("sanity checks")
    sx = np.concatenate([hb["x"][kb][: N_SANITY // 2], hf["x"][kf][: N_SANITY // 2]])
    card["explanation"]["sanity_checks"] = sanity(model, bg, sx, tr, shape, seed)
    card["limitations"] = limitations(card)
    card["explanation"]["background_sha256"] = sha256_file(out_dir / "background.npy")
    write_bundle(out_dir, model, card)
    return card


def limitations(card: dict[str, Any]) -> list[str]:
    """The card's limitations, with the measured figures."""
    ev = card["evaluation"]
    fam = next(h for h in ev["heldout"] if h["name"] == "heldout family")
    real = ev["real_images"]
    return [
        "Trained and tested on simulated lesions only: its output says nothing about real "
        "nodules, masses or any disease.",
        "The held-out backgrounds are crops of a few real files (a chest CR, an abdominal CT, a "
        "shoulder MR and Siemens brain MR acquisitions): they do not measure generalisation to "
        "other scanners, patients or body parts, and the CIs are optimistic.",
        f"A lesion style never seen in training ('{', '.join(fam['families'])}') scored AUROC "
        f"{fam['auroc']['value']:.2f} and pointing game "
        f"{fam['fidelity']['pointing_game']['value']:.0%}; other styles may score lower.",
        f"On {real['n']} whole real images with no lesion, {real['false_positives']} were called "
        f"'lesion'; on {real['heldout_crops']['n']} lesion-free crops of them the false-positive "
        f"rate was {real['heldout_crops']['false_positive_rate']['value']:.1%} (95% CI "
        f"{real['heldout_crops']['false_positive_rate']['ci95'][0]:.1%}–"
        f"{real['heldout_crops']['false_positive_rate']['ci95'][1]:.1%}). Only 4 real held-out "
        "files exist in the packages used: bright or dark compact anatomy and markers can look "
        "like a simulated lesion.",
        "Input is resized to 64×64: lesions smaller than about 1/30 of the image width are "
        "invisible to it, and non-square images are stretched.",
    ]
