"""``lesion-cnn-synthetic``: a CNN that detects simulated lesions on real CR, CT and MR images.

No labelled medical image data set ships in any installable package reachable here, so the
backgrounds are real images shipped in packages (:mod:`precimed.training.lesion_data`) and the
lesions are simulated by seven generator families (:mod:`precimed.training.lesion_generator`):
bright or dark, added to the tissue or replacing it, one to three per positive image, anywhere
they stay visible. Label = at least one lesion present.

Held-out tests, each reported on the card (:mod:`precimed.training.imaging_evaluation`):

- **held-out backgrounds**: lesions of the training families on patients/acquisitions never
  used in training (a chest CR, an abdominal CT, a shoulder MR, nibabel's Siemens MR MIP and its
  EPI brain volume);
- **held-out family**: lesions of a family never drawn in training
  (:data:`~precimed.training.lesion_generator.HELDOUT_FAMILY`), on the held-out backgrounds and,
  separately, on the training backgrounds;
- **real images with no lesion**: every frame or slice of the held-out real files, whole.

The shipped model averages the detector's P(lesion) over the image's 8 flips and quarter
turns, in its own graph (:func:`bundled`, :mod:`precimed.training.tta`).

Lesions are drawn at twice the model's resolution in the image's own intensity range, so that
a DICOM file with a lesion written into its pixels (:mod:`precimed.training.lesion_samples`)
goes through exactly the preprocessing the model was trained with.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from precimed.imaging.preprocess import frame_input, model_input, preprocessing_card
from precimed.training import tta
from precimed.training.common import make_deterministic, write_bundle
from precimed.training.imaging_evaluation import log
from precimed.training.lesion_data import SHAPE, SIZE, Background, load_backgrounds, make_set, read_dicom
from precimed.training.lesion_generator import FAMILIES, HELDOUT_FAMILY, RADIUS, TRAIN_FAMILIES

MODEL_ID = "lesion-cnn-synthetic"
VERSION = "2.1.0"
SEED = 20261207
QUICK = os.environ.get("PRECIMED_LESION_QUICK") == "1"  # smoke run of the whole pipeline
N_TRAIN, N_VAL, N_TEST, N_FAMILY = (1200, 200, 300, 200) if QUICK else (12000, 600, 1200, 600)
EPOCHS = 1 if QUICK else 16
LEARNING_RATE = 2e-3
WIDTH = 24
SEG_WEIGHT = 4.0
# PRECIMED_LESION_FINE_GRID=1: the experiment of 2026-12-07, not shipped (README, lesion CNN):
# 32 × 32 cells of 2 × 2 pixels; better pointing game, lower AUROC and more false positives.
FINE_GRID = os.environ.get("PRECIMED_LESION_FINE_GRID") == "1"
LAST_CONV = "fuse_relu" if FINE_GRID else "conv4_relu"  # the detector's last convolutional layer
EXPLAINED_LAYER = tta.LOGITS  # SHAP on the cell logits of the 8 views (linear in LAST_CONV)
N_BG_EXPLAIN = 16  # lesion-free validation crops: the explainer's background
SHUFFLED_N, SHUFFLED_EPOCHS = (400, 1) if QUICK else (3000, 3)  # data-randomisation check


def build() -> tuple[Any, Any]:
    """(training model, single-view inference model): :func:`bundled` makes the shipped one."""
    from precimed.training.imaging_cnn import build_detector

    return build_detector(SHAPE, width=WIDTH, batchnorm=True, fine_grid=FINE_GRID)


def bundled(model: Any) -> Any:
    """The shipped model: the single-view detector averaged over the 8 flips and quarter turns
    (:mod:`precimed.training.tta`). A model that already has the views is returned as it is.

    Why: on the held-out backgrounds of 2.0.0 (one view), the mean P over the 8 views raised
    AUROC from 0.871 to 0.901 and on the held-out family from 0.771 to 0.783, with the same
    weights (measured once, not tuned). The training crops are already flipped and turned at
    random, so this is the variance of an ensemble averaged away, not an orientation fix."""
    if any(layer.name == tta.MAPS for layer in model.layers):
        return model
    return tta.with_tta(model, LAST_CONV)


def fit(trainer: Any, x: np.ndarray, y: np.ndarray, masks: np.ndarray, *, epochs: int,
        callbacks: list[Any] | None = None) -> Any:
    from precimed.training.imaging_cnn import fit_detector

    return fit_detector(trainer, x, y, masks, epochs=epochs, learning_rate=LEARNING_RATE,
                        seg_weight=SEG_WEIGHT, cosine=True, callbacks=callbacks)


def _validation_log(model: Any, va: dict[str, np.ndarray]) -> Any:
    """A Keras callback that logs the validation AUROC after each epoch."""
    import keras
    from sklearn.metrics import roc_auc_score

    from precimed.training.imaging_cnn import predict_batches

    class Log(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            p = predict_batches(model, va["x"])[:, 0]
            log(f"epoch {epoch + 1}/{EPOCHS}, loss {(logs or {}).get('loss', float('nan')):.3f}, "
                f"validation AUROC {roc_auc_score(va['y'], p):.3f}")

    return Log()


def real_images(card: dict[str, Any], bgs: list[Background]) -> list[tuple[str, np.ndarray]]:
    """Every frame or slice of every held-out real file, whole, as the model sees it: DICOM
    files through the app's decoder and the card's preprocessing; volume slices likewise."""
    from precimed.dicom import load_bytes
    from precimed.training.lesion_data import BACKGROUNDS, volume_slices

    out = []
    for source, name, _, _, split in BACKGROUNDS:
        if split != "test":
            continue
        if source == "nibabel-volume":
            for k, sl in enumerate(volume_slices(name, (2,))):
                out.append((f"nibabel:{name}#slice{k}", model_input(card, sl)))
        else:
            for fr in load_bytes(*read_dicom(source, name)).frames:
                out.append((f"{source}:{fr.label}", frame_input(card, fr)))
    return out


def train(out_root: Path) -> dict[str, Any]:
    """Train, evaluate, explain and write the bundle to ``out_root/<id>`` and its samples."""
    make_deterministic(SEED)
    from sklearn.metrics import roc_auc_score

    from precimed.training.imaging_cnn import predict_batches
    from precimed.training.lesion_samples import write_samples

    bgs = load_backgrounds()
    train_bgs = [b for b in bgs if b.split == "train"]
    test_bgs = [b for b in bgs if b.split == "test"]
    assert not {b.group for b in train_bgs} & {b.group for b in test_bgs}
    log(f"{N_TRAIN} training images from {len(train_bgs)} background files")
    tr = make_set(train_bgs, N_TRAIN, SEED, families=TRAIN_FAMILIES, augment=True, paired=True)
    va = make_set(train_bgs, N_VAL, SEED + 1, families=TRAIN_FAMILIES)
    sets = {
        "heldout backgrounds": (make_set(test_bgs, N_TEST, SEED + 2, families=TRAIN_FAMILIES), test_bgs),
        "heldout family": (make_set(test_bgs, N_FAMILY, SEED + 3, families=(HELDOUT_FAMILY,)), test_bgs),
        "heldout family, training backgrounds": (
            make_set(train_bgs, N_FAMILY, SEED + 4, families=(HELDOUT_FAMILY,)), train_bgs),
    }
    # PRECIMED_LESION_CHECKPOINT=FILE: save the fitted model there, or reuse it when it exists
    # (re-runs the evaluation without retraining)
    ckpt = os.environ.get("PRECIMED_LESION_CHECKPOINT")
    if ckpt and Path(ckpt).is_file():
        import keras

        model = keras.models.load_model(ckpt, safe_mode=True)
        log(f"reusing the fitted model {ckpt}")
    else:
        trainer, model = build()  # fixed epochs (deterministic); validation AUROC only logged
        fit(trainer, tr["x"], tr["y"], tr["masks"], epochs=EPOCHS,
            callbacks=[_validation_log(model, va)])
        if ckpt:
            model.save(ckpt)
    model = bundled(model)
    p_val = predict_batches(model, va["x"])[:, 0]

    out_dir = out_root / MODEL_ID
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED + 5)  # the explainer's background: lesion-free crops
    neg = np.flatnonzero(va["y"] == 0)
    np.save(out_dir / "background.npy", va["x"][rng.choice(neg, N_BG_EXPLAIN, replace=False)])
    sizes = [s for b in bgs for s in b.native_size]
    card = _card(tr, (min(sizes), max(sizes)), train_bgs, test_bgs)
    card["evaluation"]["metrics"]["validation_auroc"] = {
        "value": round(float(roc_auc_score(va["y"], p_val)), 4)}
    shuffled = None
    if SHUFFLED_N:
        from precimed.training.imaging_evaluation import shuffled_model

        log("data-randomisation model (shuffled labels)")
        shuffled = bundled(shuffled_model(tr, build, fit, SHUFFLED_N, SHUFFLED_EPOCHS, SEED + 6))
    evaluate(out_dir, model, card, sets, real_images(card, bgs), shuffled)
    write_samples(out_root.parent / "samples" / MODEL_ID)
    return json.loads((out_dir / "card.json").read_text("utf-8"))


def evaluate(out_dir: Path, model: Any, card: dict[str, Any],
             sets: dict[str, tuple[dict[str, np.ndarray], list[Background]]],
             real: list[tuple[str, np.ndarray]], shuffled: Any | None) -> dict[str, Any]:
    """Every held-out figure into ``card``; write the bundle (``background.npy`` is there)."""
    from precimed.imaging.explain import NSAMPLES, attributions
    from precimed.registry import sha256_file
    from precimed.training import imaging_evaluation as ev

    bg = np.load(out_dir / "background.npy").astype(np.float32)
    threshold = float(card["threshold"])
    heldout, kept, fid_vals, probs = [], {}, {}, {}
    for k, (name, (s, bgs)) in enumerate(sets.items()):
        entry: dict[str, Any] = {
            "name": name, "families": sorted({FAMILIES[f] for f in s["family"] if f >= 0}),
            "backgrounds": sorted({b.group for b in bgs}), "n": len(s["y"]), "n_lesion": int(s["y"].sum())}
        probs[name] = p = predict_batches_0(model, s["x"])  # once per set: 8 views are not cheap
        entry.update(ev.discrimination(p, s, [b.group for b in bgs], FAMILIES, threshold))
        if name == "heldout backgrounds":
            card["evaluation"]["calibration"] = ev.calibration(s["y"], p, name, SEED + 7)
        del entry["calibration"]
        pos = np.flatnonzero(s["y"] == 1)[:ev.N_FIDELITY]
        entry["fidelity"], fid_vals[name] = ev.fidelity(model, bg, EXPLAINED_LAYER, s["x"][pos],
                                                        s["masks"][pos], SEED + k)
        kept[name] = pos
        heldout.append(entry)
        log(f"{name}: AUROC {entry['auroc']['value']:.3f}, pointing game "
            f"{entry['fidelity']['pointing_game']['value']:.2f}, per family {entry['auroc_per_family']}")
    main, fam = heldout[0], heldout[1]
    m = card["evaluation"]["metrics"]
    for key in ("auroc", "brier", "sensitivity", "specificity"):
        m[key] = main[key]
    for key in ("pointing_game", "attribution_mass_in_lesion", "deletion_auc_shap_order",
                "deletion_auc_random_order", "additivity_gap_median", "additivity_gap_p95"):
        m[key] = main["fidelity"][key]
    m["auroc_heldout_family"] = fam["auroc"]
    m["pointing_game_heldout_family"] = fam["fidelity"]["pointing_game"]
    card["evaluation"]["heldout"] = heldout

    buf = io.BytesIO()  # the explained positives, for the test suite's recomputation
    names = list(sets)[:2]
    np.savez_compressed(
        buf, x=np.concatenate([sets[n][0]["x"][kept[n]] for n in names]).astype(np.float16),
        masks=np.concatenate([sets[n][0]["masks"][kept[n]] for n in names]),
        set=np.concatenate([np.full(len(kept[n]), i) for i, n in enumerate(names)]),
        family=np.concatenate([sets[n][0]["family"][kept[n]] for n in names]))
    (out_dir / "fidelity_set.npz").write_bytes(buf.getvalue())
    card["evaluation"]["fidelity"] = _fidelity_note(kept, names, sha256_file(out_dir / "fidelity_set.npz"))

    hb = sets["heldout backgrounds"][0]
    neg = np.flatnonzero(hb["y"] == 0)
    card["evaluation"]["real_images"] = ev.real_negatives(card, model, real)
    card["evaluation"]["real_images"]["method"] = (
        "every frame or slice of the held-out real files (no lesion inserted), whole, as a user "
        "uploads them (DICOM files decoded and preprocessed by the app's own code); false "
        "positive = P(lesion) ≥ the threshold; Wilson 95% CI")
    k_fp = int((probs["heldout backgrounds"][neg] >= threshold).sum())
    card["evaluation"]["real_images"]["heldout_crops"] = {
        "method": "the lesion-free images of the held-out backgrounds set (random crops, flips "
                  "and quarter turns of the same real files)",
        "n": len(neg), "false_positives": k_fp, "false_positive_rate": ev.rate(k_fp, len(neg))}

    neg_vals = attributions(model, bg, hb["x"][neg[:ev.N_FIDELITY]], layer=EXPLAINED_LAYER,
                            nsamples=NSAMPLES)
    card["explanation"]["heatmap_scale"] = ev.heatmap_scale(fid_vals[names[0]], neg_vals)
    log("sanity checks")
    half = ev.N_SANITY // 3
    sx = np.concatenate([sets[names[0]][0]["x"][kept[names[0]][:half]],
                         sets[names[1]][0]["x"][kept[names[1]][:half]], hb["x"][neg[:half]]])
    card["explanation"]["sanity_checks"] = ev.sanity(
        model, bg, EXPLAINED_LAYER, sx, shuffled,
        f"the same network trained for {SHUFFLED_EPOCHS} epochs on {SHUFFLED_N} training images "
        "with their labels and lesion masks shuffled across images", SEED)
    card["evaluation"]["method"] = (
        f"held-out sets on {len({b.group for b in sets[names[0]][1]})} patients/acquisitions never "
        f"used in training: 'heldout backgrounds' ({main['n']} images, lesions of the training "
        f"families; its figures are the metrics above) and 'heldout family' ({fam['n']} images, "
        f"lesions of the '{HELDOUT_FAMILY}' family, never drawn in training), both under "
        "evaluation.heldout; bootstrap 95% CIs over images (the crops share a few background "
        "files, so the CIs are optimistic)")
    card["limitations"] = ev.limitations(card, HELDOUT_FAMILY)
    card["explanation"]["background_sha256"] = sha256_file(out_dir / "background.npy")
    write_bundle(out_dir, model, card)
    return card


def predict_batches_0(model: Any, x: np.ndarray) -> np.ndarray:
    from precimed.training.imaging_cnn import predict_batches

    return predict_batches(model, x)[:, 0]


def _fidelity_note(kept: dict[str, np.ndarray], names: list[str], sha: str) -> dict[str, Any]:
    from precimed.imaging.explain import NSAMPLES
    from precimed.training.imaging_evaluation import N_FIDELITY

    a, b = len(kept[names[0]]), len(kept[names[1]])
    return {
        "method": f"shap.GradientExplainer ({NSAMPLES} samples, the card's background and layer) "
                  f"on the first {N_FIDELITY} lesion-positive images of each held-out set; "
                  "pointing game = the highest attribution inside a lesion mask; mass = share of "
                  "the positive attribution inside the masks; deletion AUC = mean P(lesion) while "
                  "the first 20% of pixels, in order of decreasing attribution, are replaced by "
                  "a blurred copy of the image (Gaussian, σ = 4 pixels; lower = the heatmap found "
                  "what the model uses), beside a "
                  "random order",
        "file": "fidelity_set.npz", "n": a + b,
        "sets": {names[0]: [0, a], names[1]: [a, a + b]}, "sha256": sha,
        "circularity": "the grid head is trained with the lesion masks as a per-cell target, so "
                       "the model localises lesions by construction and the pointing game and mass "
                       "measure that supervision as much as the heatmap; on the held-out family "
                       "they measure whether the localisation carries over to an unseen lesion "
                       "style. The deletion curve uses no mask.",
    }


def _card(tr: dict[str, np.ndarray], sizes: tuple[int, int], train_bgs: list[Background],
          test_bgs: list[Background]) -> dict[str, Any]:
    from precimed.imaging.explain import NSAMPLES

    def names(bs: list[Background]) -> str:
        return ", ".join(f"{b.name} ({b.modality})" for b in bs)

    counts = {"no lesion": int((tr["y"] == 0).sum()), "lesion": int((tr["y"] == 1).sum())}
    return {
        "id": MODEL_ID,
        "name": "Lesion detector (CNN averaged over 8 views; simulated lesions of several kinds on "
                "real CR/CT/MR images)",
        "version": VERSION,
        "task": "binary",
        "modality": "image",
        "subject": "image",
        "classes": ["no lesion", "lesion"],
        "positive_class": "lesion",
        "threshold": 0.5,
        "inputs": [{
            "name": "image", "shape": list(SHAPE), "modalities": ["CR", "CT", "MR"],
            "photometric": ["MONOCHROME1", "MONOCHROME2"], "pixel_spacing_mm": None,
            "preprocessing": preprocessing_card(SHAPE, sizes),
        }],
        "missing_values": "not applicable: every pixel is used; files or frames that cannot be "
                          "decoded are rejected with a message",
        "training_data": {
            "source": "SIMULATED lesions on real image backgrounds: random crops, flips and "
                      f"quarter turns of {len(train_bgs)} real files shipped with pydicom, "
                      f"pydicom-data and nibabel ({names(train_bgs)}), resized to {SIZE}×{SIZE}; "
                      "in pairs, the same crop without and with 1–3 inserted lesions of the "
                      f"families {', '.join(TRAIN_FAMILIES)} (family '{HELDOUT_FAMILY}' is never "
                      "drawn in training)",
            "citation": "pydicom test files and pydicom-data (github.com/pydicom), MIT licence; "
                        "nibabel test data (github.com/nipy/nibabel), MIT licence; lesions "
                        "simulated by precimed/training/lesion_generator.py",
            "n": int(len(tr["y"])),
            "label_definition": "lesion present: at least one simulated lesion (size "
                                f"{RADIUS[0]}–{RADIUS[1]} model pixels; brighter or darker than "
                                "the tissue, added to it or replacing it) was inserted and is "
                                "visible after preprocessing (mean change ≥ 10% of the range "
                                "inside it, contrast-to-noise ≥ 1.5 against a ring around it); "
                                "no real pathology is labelled",
            "class_counts": counts,
            "exclusions": "none; big images are shrunk to 768 px before cropping; volume slices "
                          "narrower than 20 px or with little anatomy are not used",
            "licence": "MIT (pydicom, pydicom-data, nibabel)",
            "fitting": f"{EPOCHS} epochs of Adam (learning rate {LEARNING_RATE}, cosine decay to 5%), "
                       "image-level and "
                       f"per-cell cross-entropy (weight {SEG_WEIGHT}), from scratch; the shipped "
                       "model averages P(lesion) over the image's 8 flips and quarter turns "
                       "(test-time augmentation in the model's own graph, the same weights for "
                       "every view)",
        },
        "evaluation": {"method": "", "metrics": {}, "calibration": {"predicted": [], "observed": []}},
        "explanation": {
            "method": f"shap.GradientExplainer (expected gradients), {NSAMPLES} samples, on "
                      f"layer '{EXPLAINED_LAYER}': the grid-cell logits of the 8 views, each "
                      f"turned back to the image's frame, summed over the views and upsampled to "
                      "the image. The logits are linear in the last convolutional layer "
                      f"('{LAST_CONV}'), so this equals explaining its activations, channels "
                      "summed",
            "layer": EXPLAINED_LAYER,
            "background": f"{N_BG_EXPLAIN} lesion-free crops of training backgrounds (attributions "
                          "say what in the image raises P(lesion) above its average over "
                          "lesion-free anatomy)",
            "output_scale": "probability",
            "background_file": "background.npy",
        },
        "intended_use": "Demonstration of PreciMed's imaging pipeline (DICOM ingest, CNN "
                        "prediction, SHAP heatmap) on CR, CT and MR greyscale images. The lesions "
                        "it was trained on are SIMULATED. Not for clinical use.",
        "out_of_scope": "Any clinical or diagnostic use; detection of real nodules or any real "
                        "pathology; colour images (ultrasound, photographs); modalities other "
                        "than CR, CT and MR",
        "limitations": ["filled by imaging_evaluation from the measured figures"],
        "not_for_clinical_use": True,
        "produced_by": "make models (python -m precimed.training lesion-cnn-synthetic)",
    }
