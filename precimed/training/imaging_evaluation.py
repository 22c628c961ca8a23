"""Held-out evaluation of ``lesion-cnn-synthetic``, written into its card.

- **Discrimination** on each held-out set (held-out backgrounds with the training families; the
  held-out generator family on the held-out backgrounds, and on the training backgrounds to
  separate the two effects): AUROC and Brier with bootstrap CIs, sensitivity and specificity at
  the threshold, AUROC per lesion family and per background.
- **Calibration** on the held-out backgrounds: intercept and slope with bootstrap CIs and the
  generated sentence, by the tabular cards' own code.
- **False positives on real images with no lesion**: every frame or slice of every real file
  never used in training, whole, as a user would upload it (DICOM files through the app's own
  decoding and preprocessing), with a Wilson 95 % CI; and the lesion-free crops of them.
- **Fidelity** of the heatmaps on held-out positives, computed by the app's own explainer
  (:class:`precimed.imaging.explain.Attributor`): pointing game, positive attribution mass
  inside the masks, and a deletion curve (Petsiuk et al. 2018): pixels replaced by a blurred
  copy of the image in decreasing order of attribution, the area under P(lesion) over the first 20 % of
  pixels, beside the same in a random order. The grid head is trained with the lesion masks, so
  the pointing game and the mass partly measure that supervision (the card says so); the
  deletion curve uses no mask, and nothing in training optimises it.
- **Heatmap colour scale**, fixed per model: the 99.5th percentile of |attribution| over every
  pixel of the held-out positives.
- **Sanity checks** (:mod:`precimed.imaging.sanity`): cascading randomisation of every weighted
  layer with both randomisations, and data randomisation (the network trained on shuffled
  image–label pairs).
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from precimed.training.common import binary_metrics, bootstrap_ci

N_FIDELITY = 100  # held-out positives per set explained for the fidelity figures
N_SANITY = 24  # images per sanity check: lesions of both held-out sets and lesion-free images
DELETION_FRACTIONS = np.array([0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2])
SANITY_NSAMPLES = 64
DELETION_BLUR = 4.0


def log(msg: str) -> None:
    print(f"lesion-cnn-synthetic: {msg}", file=sys.stderr, flush=True)


def mean_ci(values: np.ndarray) -> dict[str, Any]:
    """Mean with a bootstrap 95 % CI over images."""
    idx = np.arange(len(values))
    lo, hi = bootstrap_ci(lambda a, b: float(values[a].mean()), idx, idx, stratified=False)
    return {"value": round(float(values.mean()), 4), "ci95": [round(lo, 4), round(hi, 4)]}


def wilson(k: int, n: int) -> list[float]:
    """Wilson 95 % interval of a proportion k/n.

    >>> wilson(0, 10)
    [0.0, 0.2775]
    """
    if n == 0:
        return [0.0, 1.0]
    z = 1.959964
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def rate(k: int, n: int) -> dict[str, Any]:
    return {"value": round(k / n, 4) if n else 0.0, "ci95": wilson(k, n)}


def deletion_auc(model: Any, x: np.ndarray, order_values: np.ndarray, seed: int) -> np.ndarray:
    """Normalised area under P(lesion) while the pixels are replaced by a blurred copy of the
    image (Gaussian, σ = :data:`DELETION_BLUR` pixels) in decreasing order of ``order_values``
    (ties broken at random), one value per image. Blur, not a flat value: a flat patch in
    textured tissue is itself lesion-like to this model and raised P(lesion) when tried."""
    from scipy.ndimage import gaussian_filter

    from precimed.training.imaging_cnn import predict_batches

    n, h, w, _ = x.shape
    jitter = np.random.default_rng(seed).random(order_values.shape) * 1e-9
    ranks = np.argsort(-(order_values + jitter).reshape(n, -1), axis=1)
    flat = x.reshape(n, -1)
    blurred = np.stack([gaussian_filter(img[..., 0], DELETION_BLUR) for img in x]).reshape(n, -1)
    steps = []
    for frac in DELETION_FRACTIONS:
        k = int(round(frac * h * w))
        xs = flat.copy()
        if k:
            rows, cols = np.repeat(np.arange(n), k), ranks[:, :k].ravel()
            xs[rows, cols] = blurred[rows, cols]
        steps.append(predict_batches(model, xs.reshape(x.shape))[:, 0])
    curve = np.stack(steps, axis=1)
    return np.asarray(np.trapezoid(curve, DELETION_FRACTIONS, axis=1) / DELETION_FRACTIONS[-1])


def fidelity(model: Any, bg: np.ndarray, layer: str | None, x: np.ndarray, masks: np.ndarray,
             seed: int) -> tuple[dict[str, Any], np.ndarray]:
    """Fidelity figures of one held-out set's positives, and their attributions."""
    from precimed.imaging.explain import NSAMPLES, attributions
    from precimed.imaging.regions import pointing_hit, positive_mass_inside
    from precimed.training.imaging_cnn import predict_batches

    vals = attributions(model, bg, x, layer=layer, nsamples=NSAMPLES)
    hits = np.array([pointing_hit(v, m) for v, m in zip(vals, masks, strict=True)], float)
    mass = np.array([positive_mass_inside(v, m) for v, m in zip(vals, masks, strict=True)])
    rng = np.random.default_rng(seed)
    shap_auc = deletion_auc(model, x, vals, seed)
    rand_auc = deletion_auc(model, x, rng.random(vals.shape), seed)
    gaps = np.abs(float(predict_batches(model, bg)[:, 0].mean()) + vals.reshape(len(x), -1).sum(axis=1)
                  - predict_batches(model, x)[:, 0])
    return {
        "n": len(x),
        "pointing_game": mean_ci(hits),
        "attribution_mass_in_lesion": mean_ci(mass),
        "deletion_auc_shap_order": mean_ci(shap_auc),
        "deletion_auc_random_order": mean_ci(rand_auc),
        "lesion_area_share": {"value": round(float(masks.mean()), 4)},
        "additivity_gap_median": {"value": round(float(np.median(gaps)), 4)},
        "additivity_gap_p95": {"value": round(float(np.percentile(gaps, 95)), 4)},
    }, vals


def discrimination(p: np.ndarray, s: dict[str, np.ndarray], groups: list[str], families: tuple[str, ...],
                   threshold: float) -> dict[str, Any]:
    """AUROC, Brier, sensitivity, specificity; AUROC per background group and per family, from
    the model's P(lesion) ``p`` for the images of ``s``."""
    from sklearn.metrics import roc_auc_score

    ev = binary_metrics(s["y"], p, threshold=threshold)
    out: dict[str, Any] = {k: ev["metrics"][k] for k in ("auroc", "brier", "sensitivity", "specificity")}
    out["calibration"] = ev["calibration"]
    per_bg = {}
    for g in sorted(set(groups)):
        sel = np.isin(s["source"], [i for i, gg in enumerate(groups) if gg == g])
        if len(np.unique(s["y"][sel])) == 2:
            per_bg[g] = round(float(roc_auc_score(s["y"][sel], p[sel])), 4)
    out["auroc_per_background"] = per_bg
    per_family = {}
    for f in sorted({int(v) for v in s["family"] if v >= 0}):
        sel = (s["family"] == f) | (s["y"] == 0)
        per_family[families[f]] = round(float(roc_auc_score(s["y"][sel], p[sel])), 4)
    out["auroc_per_family"] = per_family
    return out


def calibration(y: np.ndarray, p: np.ndarray, name: str, seed: int) -> dict[str, Any]:
    """The card's calibration block on one held-out set (labels ``y``, P(lesion) ``p``):
    quantile curve, intercept and slope with bootstrap CIs, and the sentence
    (:func:`precimed.evaluation.pipeline.calibration_block`, the same code as the tabular
    cards)."""
    from precimed.evaluation.pipeline import CAL_BOOT, calibration_block

    return calibration_block(y.astype("int64"), p[np.newaxis], n_boot=CAL_BOOT, seed=seed,
                             source="held-out",
                             curve=f"quantile bins of the predictions on the '{name}' set")


def real_negatives(card: dict[str, Any], model: Any, images: list[tuple[str, np.ndarray]]) -> dict[str, Any]:
    """P(lesion) of real images with no lesion (name, model input); false-positive rate."""
    from precimed.training.imaging_cnn import predict_batches

    x = np.stack([arr for _, arr in images])
    p = predict_batches(model, x)[:, 0]
    k = int((p >= float(card["threshold"])).sum())
    return {"n": len(images), "false_positives": k, "false_positive_rate": rate(k, len(images)),
            "images": [{"image": name, "p_lesion": round(float(v), 4)}
                       for (name, _), v in zip(images, p, strict=True)]}


def shuffled_model(tr: dict[str, np.ndarray], build: Any, fit: Any, n: int, epochs: int, seed: int) -> Any:
    """The same detector trained on shuffled (image, label + mask) pairs (data randomisation)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(tr["y"]), n, replace=False)
    perm = rng.permutation(idx)
    trainer, model = build()
    fit(trainer, tr["x"][idx], tr["y"][perm], tr["masks"][perm], epochs=epochs)
    return model


def sanity(model: Any, bg: np.ndarray, layer: str | None, x: np.ndarray,
           shuffled: Any | None, shuffled_method: str, seed: int) -> list[dict[str, Any]]:
    """The card's ``explanation.sanity_checks``: every cascading step with both methods, then the
    data randomisation."""
    from precimed.imaging.explain import attributions
    from precimed.imaging.sanity import cascading_randomisation, summary, weighted_layers

    steps = len(weighted_layers(model))
    checks = []
    for method in ("reinit", "spread"):
        checks += cascading_randomisation(model, bg, x, layer=layer, method=method, steps=steps,
                                          nsamples=SANITY_NSAMPLES, seed=seed)
    if shuffled is not None:
        trained = attributions(model, bg, x, layer=layer, nsamples=SANITY_NSAMPLES, seed=seed)
        other = attributions(shuffled, bg, x, layer=layer, nsamples=SANITY_NSAMPLES, seed=seed)
        checks.append({"randomised": "training labels (data randomisation)",
                       "method": shuffled_method, "spearman_abs": summary(trained, other)})
    return checks


def heatmap_scale(vals: np.ndarray, neg_vals: np.ndarray) -> dict[str, Any]:
    """The fixed colour limit: 99.5th percentile of |SHAP| over held-out positives."""
    return {
        "value": float(f"{np.percentile(np.abs(vals), 99.5):.4g}"),
        "method": f"99.5th percentile of |SHAP| over every pixel of {len(vals)} held-out "
                  "lesion-positive images; the colour saturates beyond ±value, the same for "
                  "every image",
        "negative_images_p99_5": float(f"{np.percentile(np.abs(neg_vals), 99.5):.4g}"),
    }


def limitations(card: dict[str, Any], heldout_family: str) -> list[str]:
    """The card's limitations, with the measured figures."""
    ev = card["evaluation"]
    by_name = {h["name"]: h for h in ev["heldout"]}
    fam = by_name["heldout family"]
    real = ev["real_images"]
    crops = real["heldout_crops"]
    worst = min(by_name["heldout backgrounds"]["auroc_per_background"].items(), key=lambda kv: kv[1])
    return [
        "Trained and tested on simulated lesions only: its output says nothing about real "
        "nodules, masses or any disease.",
        "The held-out backgrounds are crops of a few real files (a chest CR, an abdominal CT, a "
        "shoulder MR and Siemens brain MR acquisitions): they do not measure generalisation to "
        "other scanners, patients or body parts, and the bootstrap CIs, over crops of the same "
        f"files, are optimistic. The weakest held-out background was {worst[0]} (AUROC "
        f"{worst[1]:.2f}).",
        f"A lesion style never seen in training ('{heldout_family}') scored AUROC "
        f"{fam['auroc']['value']:.2f} and pointing game "
        f"{fam['fidelity']['pointing_game']['value']:.0%} on the held-out backgrounds; other "
        "styles may score lower.",
        f"On {real['n']} whole real images with no lesion, {real['false_positives']} "
        f"{'was' if real['false_positives'] == 1 else 'were'} called "
        f"'lesion' ({real['false_positive_rate']['value']:.0%}, 95% CI "
        f"{real['false_positive_rate']['ci95'][0]:.0%}–{real['false_positive_rate']['ci95'][1]:.0%}); "
        f"on {crops['n']} lesion-free crops of them, "
        f"{crops['false_positive_rate']['value']:.1%} ({crops['false_positive_rate']['ci95'][0]:.1%}–"
        f"{crops['false_positive_rate']['ci95'][1]:.1%}). Compact bright or dark anatomy "
        "(bowel gas, vessels, kidneys, markers) can look like a simulated lesion to it.",
        "Input is resized to 64×64: lesions smaller than about 1/30 of the image width are "
        "invisible to it, and non-square images are stretched.",
    ]
