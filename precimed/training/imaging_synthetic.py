"""``lesion-cnn-synthetic``: a CNN that detects simulated lesions on real CR, CT and MR images.

No labelled medical image data set ships in any installable package reachable here, so the
backgrounds are real images shipped in packages (``pydicom``/``pydicom-data``, and the one
real MR image among ``nibabel``'s DICOM test files) and the lesions are simulated by several generator
families (:mod:`precimed.training.imaging_lesions`): bright or dark, one to three per positive
image, anywhere they stay visible. Label = at least one lesion present.

Two held-out tests, reported separately on the card:

- **held-out backgrounds**: lesions of the training families on patients/acquisitions never
  used in training (a chest CR, an abdominal CT, a shoulder MR, and nibabel's Siemens MR MIP);
- **held-out generator family**: the same held-out backgrounds with lesions of a family never
  drawn in training (:data:`~precimed.training.imaging_lesions.HELDOUT_FAMILY`).

The fidelity figures (pointing game, attribution mass in the lesion, deletion curve),
the fixed heatmap colour scale, the false-positive rate on whole real images with no lesion and
the sanity checks (:mod:`precimed.imaging.sanity`) are computed by
:mod:`precimed.training.imaging_evaluation` and written into the card.

Lesions are inserted before intensity normalisation, in the image's own units (a fraction of
its 0.5–99.5 percentile range), so that a DICOM file with a lesion written into its pixels
(see :func:`write_samples`) goes through exactly the preprocessing the model was trained with.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from precimed.imaging.preprocess import _resize, frame_image, normalise, preprocessing_card
from precimed.training.common import make_deterministic
from precimed.training.imaging_lesions import (
    FAMILIES,
    HELDOUT_FAMILY,
    RADIUS,
    TRAIN_FAMILIES,
    insert_lesions,
    lobulated_distance,
)

MODEL_ID = "lesion-cnn-synthetic"
SIZE = 64
SHAPE = (SIZE, SIZE, 1)
SEED = 20261203
QUICK = os.environ.get("PRECIMED_LESION_QUICK") == "1"  # smoke run of the whole pipeline
N_TRAIN, N_VAL, N_TEST, N_FAMILY = (800, 200, 200, 200) if QUICK else (6000, 400, 800, 600)
EPOCHS = 1 if QUICK else 7
# Warm start: the weights of lesion-cnn-synthetic 1.0.0 (same network; trained on the same 10
# training backgrounds with one family of bright lesions), fine-tuned here on the new
# generator. The shared 2-core machine could not afford training from scratch again; the
# held-out backgrounds and the held-out family were never seen by 1.0.0 either.
WARM_START_SHA256 = "bf4373eb131ca19a726fdb9a474cfbfeef18be02e81c5f6834eced5b4c878c91"
N_BG_EXPLAIN = 16  # lesion-free training crops: the explainer's background
PRESHRINK = 768  # big images are shrunk once to this size; crops are then resized to SIZE
LESION_COUNTS = ((1, 0.6), (2, 0.25), (3, 0.15))  # lesions per positive image

# (source, file, modality, group, split): a group is one patient/acquisition; splits never
# share a group. Of nibabel's DICOM test files only one carries a real image: its Siemens MR MIP
# (``slicethickness_empty_string.dcm``, JPEG 2000), held out. The others have blank or uniform
# pixels (the Philips MPRAGE, the DWI mosaics, the qT1 map), no pixel data (csa_slice_norm) or a
# synthetic ramp (0.dcm, 1.dcm); the test suite still runs all of them through the pipeline.
BACKGROUNDS: list[tuple[str, str, str, str, str]] = [
    ("pydicom", "RG3_UNCI.dcm", "CR", "leg-cr", "train"),
    ("pydicom", "CT_small.dcm", "CT", "spine-ct", "train"),
    ("pydicom", "693_UNCI.dcm", "CT", "head-ct-693", "train"),
    ("pydicom", "J2K_pixelrep_mismatch.dcm", "CT", "head-ct-jxd", "train"),
    ("pydicom", "eCT_Supplemental.dcm", "CT", "brain-ect", "train"),
    ("pydicom", "bad_sequence.dcm", "CT", "spine-ct-b2c", "train"),
    ("pydicom", "MR_small.dcm", "MR", "mr-small", "train"),
    ("pydicom", "MR-SIEMENS-DICOM-WithOverlays.dcm", "MR", "abdomen-mr", "train"),
    ("pydicom", "examples_overlay.dcm", "MR", "abdomen-mr", "train"),
    ("pydicom", "emri_small.dcm", "MR", "brain-emri", "train"),
    ("pydicom", "RG1_UNCI.dcm", "CR", "chest-cr", "test"),
    ("pydicom", "explicit_VR-UN.dcm", "CT", "abdomen-ct", "test"),
    ("pydicom", "MR2_UNCI.dcm", "MR", "shoulder-mr", "test"),
    ("nibabel", "slicethickness_empty_string.dcm", "MR", "mip-mr-siemens", "test"),
]
# Whole real files never used in training, scored as a user would upload them (no lesion).
REAL_NEGATIVES: list[tuple[str, str]] = [
    ("pydicom", "RG1_UNCI.dcm"), ("pydicom", "explicit_VR-UN.dcm"), ("pydicom", "MR2_UNCI.dcm"),
    ("nibabel", "slicethickness_empty_string.dcm"),
]


@dataclass
class Background:
    name: str
    modality: str
    group: str
    images: list[np.ndarray]  # grey, higher = brighter, shrunk to ≤ PRESHRINK
    native_size: tuple[int, int]


def nibabel_data() -> Path:
    """nibabel's folder of DICOM test files (``nibabel/nicom/tests/data``)."""
    try:
        import nibabel
    except ImportError:
        raise FileNotFoundError("nibabel is not installed; `pip install nibabel` (train extra)") from None
    return Path(nibabel.__file__).parent / "nicom" / "tests" / "data"


def _path(name: str) -> str:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    if path is None:
        raise FileNotFoundError(f"{name} is not installed; `pip install pydicom-data` (train extra)")
    return str(path)


def read_source(source: str, name: str) -> tuple[bytes, str]:
    """(DICOM bytes, file name) of a pydicom or nibabel test file; ``.gz`` files unpacked."""
    path = Path(_path(name)) if source == "pydicom" else nibabel_data() / name
    data = path.read_bytes()
    if name.endswith(".gz"):
        return gzip.decompress(data), name[:-3]
    return data, name


def load_backgrounds() -> list[tuple[Background, str]]:
    """Every background image, decoded with PreciMed's own DICOM reader, with its split."""
    from precimed.dicom import load_bytes

    out = []
    for source, name, modality, group, split in BACKGROUNDS:
        data, fname = read_source(source, name)
        frames = load_bytes(data, fname).frames
        images = []
        for fr in frames:
            img = frame_image(fr)
            scale = PRESHRINK / max(img.shape)
            if scale < 1:
                img = _resize(img, round(img.shape[0] * scale), round(img.shape[1] * scale))
            images.append(img)
        out.append((Background(name, modality, group, images, frames[0].shape), split))
    return out


def _crop(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """A random square crop (30–100 % of the short side) or, one time in four, the whole image;
    random flips and quarter turns."""
    h, w = img.shape
    if rng.random() < 0.25:
        out = img
    else:
        side = max(int(rng.uniform(0.3, 1.0) * min(h, w)), 16)
        y0 = int(rng.integers(0, h - side + 1))
        x0 = int(rng.integers(0, w - side + 1))
        out = img[y0:y0 + side, x0:x0 + side]
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.rot90(out, int(rng.integers(0, 4)))


def _augment_background(rng: np.random.Generator, small: np.ndarray,
                        backgrounds: list[Background]) -> np.ndarray:
    """New textures from few images (training only): sometimes inverted (dark anatomy becomes
    bright distractors), sometimes blended with a crop of another training image, sometimes
    blurred."""
    from scipy.ndimage import gaussian_filter

    out = normalise(small)
    if rng.random() < 0.2:
        out = 1.0 - out
    if rng.random() < 0.3:
        other = backgrounds[int(rng.integers(len(backgrounds)))]
        img = other.images[int(rng.integers(len(other.images)))]
        mix = normalise(_resize(np.ascontiguousarray(_crop(rng, img)), SIZE, SIZE))
        a = rng.uniform(0.5, 0.8)
        out = a * out + (1 - a) * mix
    if rng.random() < 0.15:
        out = gaussian_filter(out, rng.uniform(0.5, 1.2))
    return out.astype(np.float32)


def make_set(backgrounds: list[Background], n: int, seed: int, *, families: tuple[str, ...],
             augment: bool = False) -> dict[str, np.ndarray]:
    """``n`` images, half with 1–3 lesions of ``families``: x (n, 64, 64, 1), y, masks
    (n, 64, 64), background index, number of lesions, family of the first lesion (index).

    ``augment`` (training only): backgrounds sometimes inverted, blended or blurred; a random
    gamma and a little noise after normalisation.
    """
    rng = np.random.default_rng(seed)
    x = np.zeros((n,) + SHAPE, np.float32)
    y = (np.arange(n) % 2).astype(np.int64)
    rng.shuffle(y)
    masks = np.zeros((n, SIZE, SIZE), bool)
    source = np.zeros(n, np.int64)
    count = np.zeros(n, np.int64)
    family = np.full(n, -1, np.int64)
    counts, weights = zip(*LESION_COUNTS, strict=True)
    for i in range(n):
        b = int(rng.integers(len(backgrounds)))
        bg = backgrounds[b]
        img = bg.images[int(rng.integers(len(bg.images)))]
        small = _resize(np.ascontiguousarray(_crop(rng, img)), SIZE, SIZE)
        if augment:
            small = _augment_background(rng, small, backgrounds)
        if y[i]:
            k = int(rng.choice(counts, p=weights))
            small, masks[i], drawn = insert_lesions(rng, small, families, n_lesions=k,
                                                    normalise=normalise)
            count[i] = len(drawn)
            family[i] = FAMILIES.index(drawn[0]) if drawn else -1
            if not drawn:  # no visible place (a flat image): not a positive
                y[i] = 0
        img01 = normalise(small)
        if augment:
            img01 = img01 ** rng.uniform(0.75, 1.35)
            img01 = np.clip(img01 + rng.normal(0, rng.uniform(0, 0.02), img01.shape), 0, 1)
        x[i, ..., 0] = img01
        source[i] = b
    return {"x": x, "y": y, "masks": masks, "source": source, "count": count, "family": family}


def warm_start_weights(bundle_dir: Path) -> list[np.ndarray] | None:
    """The weights of lesion-cnn-synthetic 1.0.0, from git history (commit 87a2a1c), checked
    against their SHA-256; None (train from scratch) when git or the commit is not available."""
    import hashlib
    import subprocess
    import tempfile

    import keras

    try:
        data = subprocess.run(["git", "show", f"87a2a1c:assets/models/{MODEL_ID}/model.keras"],
                              cwd=bundle_dir.parent, capture_output=True, check=True,
                              timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        _log("1.0.0 weights not found in git history: training from scratch")
        return None
    if hashlib.sha256(data).hexdigest() != WARM_START_SHA256:
        raise ValueError("the 1.0.0 weights in git history do not match their checksum")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v1.keras"
        path.write_bytes(data)
        weights: list[np.ndarray] = keras.models.load_model(path, safe_mode=True).get_weights()
    return weights


def _log(msg: str) -> None:
    print(f"{MODEL_ID}: {msg}", file=sys.stderr, flush=True)


def train(out_root: Path) -> dict[str, Any]:
    """Train, evaluate, explain and write the bundle to ``out_root/<id>`` and its samples."""
    make_deterministic(SEED)
    from sklearn.metrics import roc_auc_score

    from precimed.training.imaging_cnn import build_detector, fit_detector, predict_batches
    from precimed.training.imaging_evaluation import evaluate_bundle

    both = load_backgrounds()
    train_bgs = [b for b, split in both if split == "train"]
    test_bgs = [b for b, split in both if split == "test"]
    assert not {b.group for b in train_bgs} & {b.group for b in test_bgs}
    tr = make_set(train_bgs, N_TRAIN, SEED, families=TRAIN_FAMILIES, augment=True)
    va = make_set(train_bgs, N_VAL, SEED + 1, families=TRAIN_FAMILIES)
    sets = {
        "heldout_backgrounds": make_set(test_bgs, N_TEST, SEED + 2, families=TRAIN_FAMILIES),
        "heldout_family": make_set(test_bgs, N_FAMILY, SEED + 3, families=(HELDOUT_FAMILY,)),
    }
    _log(f"{len(tr['y'])} training images from {len(train_bgs)} backgrounds")

    # PRECIMED_LESION_CHECKPOINT=FILE: save the fitted model there, or reuse it if it exists
    # (re-runs the evaluation without retraining)
    ckpt = os.environ.get("PRECIMED_LESION_CHECKPOINT")
    if ckpt and Path(ckpt).is_file():
        import keras

        model = keras.models.load_model(ckpt, safe_mode=True)
        _log(f"reusing the fitted model {ckpt}")
    else:
        trainer, model = build_detector(SHAPE)
        warm = warm_start_weights(out_root / MODEL_ID)
        if warm is not None:
            model.set_weights(warm)
            _log("warm start from lesion-cnn-synthetic 1.0.0")
        for epoch in range(EPOCHS):  # fixed epochs (deterministic); validation AUROC is logged
            fit_detector(trainer, tr["x"], tr["y"], tr["masks"], epochs=1)
            p_val = predict_batches(model, va["x"])[:, 0]
            _log(f"epoch {epoch + 1}/{EPOCHS}, validation AUROC {roc_auc_score(va['y'], p_val):.3f}")
        if ckpt:
            model.save(ckpt)
    p_val = predict_batches(model, va["x"])[:, 0]

    out_dir = out_root / MODEL_ID
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED + 4)  # the explainer's background: lesion-free crops
    neg = np.flatnonzero(va["y"] == 0)
    np.save(out_dir / "background.npy", va["x"][rng.choice(neg, N_BG_EXPLAIN, replace=False)])
    sizes = [s for b in train_bgs + test_bgs for s in b.native_size]
    card = _card(tr, (min(sizes), max(sizes)), train_bgs, test_bgs)
    card["evaluation"]["metrics"]["validation_auroc"] = {
        "value": round(float(roc_auc_score(va["y"], p_val)), 4)}
    _log("evaluating")
    evaluate_bundle(out_dir, model, card, sets, test_bgs, tr=tr, shape=SHAPE, seed=SEED)
    write_samples(out_root.parent / "samples" / MODEL_ID)
    return json.loads((out_dir / "card.json").read_text("utf-8"))


def _card(tr: dict[str, np.ndarray], sizes: tuple[int, int], train_bgs: list[Background],
          test_bgs: list[Background]) -> dict[str, Any]:
    def names(bs: list[Background]) -> str:
        return ", ".join(f"{b.name} ({b.modality})" for b in bs)

    counts = {"no lesion": int((tr["y"] == 0).sum()), "lesion": int((tr["y"] == 1).sum())}
    return {
        "id": MODEL_ID,
        "name": "Lesion detector (CNN; simulated lesions of several kinds on real CR/CT/MR images)",
        "version": "2.0.0",
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
                      f"quarter turns of {len(train_bgs)} training images shipped with pydicom, "
                      f"pydicom-data ({names(train_bgs)}), resized to {SIZE}×{SIZE}; half carry "
                      "1–3 inserted lesions of the "
                      f"families {', '.join(TRAIN_FAMILIES)} (family '{HELDOUT_FAMILY}' is never "
                      "drawn in training)",
            "citation": "pydicom test files and pydicom-data (github.com/pydicom), MIT licence; "
                        "nibabel test data (github.com/nipy/nibabel), MIT licence; lesions "
                        "simulated by precimed/training/imaging_lesions.py",
            "n": int(len(tr["y"])),
            "label_definition": "lesion present: at least one simulated lesion (radius "
                                f"{RADIUS[0]}–{RADIUS[1]} model pixels; bright or dark; contrast "
                                "20%–90% of the image's 0.5–99.5 percentile range, and a mean "
                                "change of at least 12% of it inside the lesion after "
                                "normalisation) was inserted; no real pathology is labelled",
            "class_counts": counts,
            "exclusions": "none; big images are shrunk to 768 px before cropping",
            "licence": "MIT (pydicom, pydicom-data, nibabel)",
            "fitting": f"{EPOCHS} epochs of Adam, warm-started from the weights of version 1.0.0 "
                       "(the same network trained on the same 10 training backgrounds with bright "
                       "lobulated lesions only; it never saw a held-out background or the "
                       f"'{HELDOUT_FAMILY}' family either)",
        },
        "evaluation": {
            "method": "",  # filled by imaging_evaluation
            "metrics": {},
            "calibration": {"predicted": [], "observed": []},
        },
        "explanation": {
            "method": "",
            "background": f"{N_BG_EXPLAIN} lesion-free crops of training backgrounds (expected "
                          "gradients: attributions say what in the image raises P(lesion) above "
                          "its average over lesion-free anatomy)",
            "output_scale": "probability",
            "background_file": "background.npy",
        },
        "intended_use": "Demonstration of PreciMed's imaging pipeline (DICOM ingest, CNN "
                        "prediction, SHAP heatmap) on CR, CT and MR greyscale images. The lesions "
                        "it was trained on are SIMULATED. Not for clinical use.",
        "out_of_scope": "Any clinical or diagnostic use; detection of real nodules or any real "
                        "pathology; colour images (ultrasound, photographs); modalities other "
                        "than CR, CT and MR",
        "limitations": [],  # filled by imaging_evaluation, from the measured figures
        "not_for_clinical_use": True,
        "produced_by": "make models (python -m precimed.training lesion-cnn-synthetic)",
    }


@dataclass
class LesionDraw:
    """One lobulated lesion of the sample file, on the model grid."""

    cy: float
    cx: float
    ry: float
    rx: float
    theta: float
    lobes: tuple[float, int, float]
    edge: float
    contrast: float


def lesion_profile(shape: tuple[int, int], les: LesionDraw, sy: float, sx: float) -> np.ndarray:
    """The sample lesion's profile (0–1) at an image's native resolution (scale sy, sx)."""
    amp, k, phase = les.lobes
    d = lobulated_distance(shape, (les.cy + 0.5) * sy - 0.5, (les.cx + 0.5) * sx - 0.5,
                           les.ry * sy, les.rx * sx, les.theta, amp, k, phase)
    r_mean = (les.ry * sy + les.rx * sx) / 2.0
    return 1.0 / (1.0 + np.exp(np.clip((d - 1.0) * r_mean / (les.edge * sy), -50, 50)))


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
    prof = lesion_profile((h, w), les, sy, sx)
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


def write_samples(folder: Path) -> list[Path]:
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
