"""Train an image bundle (CNN + card) from a MedMNIST-format ``.npz`` file the user has.

MedMNIST (Yang et al., Sci Data 2023;10:41) stores each data set as one ``.npz`` with
``train_images``, ``train_labels``, ``val_images``, ``val_labels``, ``test_images`` and
``test_labels``; images are uint8, (n, H, W) for greyscale or (n, H, W, 3) for colour, labels
(n, 1) integer classes. Multi-label sets (ChestMNIST's 14 columns) are refused: the bundle
format is single-label.

Images go through the same preprocessing as at prediction time
(:func:`precimed.imaging.preprocess.model_input`), so a DICOM frame and a training image are
treated alike. Used by ``precimed train-imaging``.

Example:
    >>> card = train_npz("pneumoniamnist.npz", Path("my-models"), epochs=10)  # doctest: +SKIP
    >>> card["id"], card["evaluation"]["metrics"]["auroc"]["value"]  # doctest: +SKIP
    ('pneumoniamnist-cnn', 0.95)
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np

from precimed.errors import PrecimedInputError
from precimed.imaging.preprocess import model_input, preprocessing_card
from precimed.training.common import binary_metrics, make_deterministic, write_bundle

KEYS = ("train_images", "train_labels", "val_images", "val_labels", "test_images", "test_labels")
SEED = 20261125
N_BACKGROUND = 32
EXPECTED = "a MedMNIST-format .npz with train/val/test _images and _labels"


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:50] or "user-images"
    return slug if len(slug) >= 2 else f"{slug}-model"


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Load and check a MedMNIST-format file.

    Raises:
        PrecimedInputError: missing arrays, wrong shapes, multi-label or out-of-range labels.
    """
    if not path.is_file():
        raise PrecimedInputError(f"{path}: no such file", expected=EXPECTED)
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in KEYS if k not in npz.files]
            if missing:
                raise PrecimedInputError(f"{path.name}: missing {', '.join(missing)}", expected=EXPECTED)
            data = {k: np.asarray(npz[k]) for k in KEYS}
    except PrecimedInputError:
        raise
    except Exception as exc:  # zipfile/ValueError/OSError from np.load
        raise PrecimedInputError(f"{path.name}: not a readable .npz ({exc})", expected=EXPECTED) from None
    shape = None
    for split in ("train", "val", "test"):
        imgs, labels = data[f"{split}_images"], data[f"{split}_labels"]
        if imgs.ndim not in (3, 4) or (imgs.ndim == 4 and imgs.shape[3] not in (1, 3)):
            raise PrecimedInputError(f"{split}_images has shape {imgs.shape}",
                                     expected="(n, H, W) or (n, H, W, 3) images")
        if shape is None:
            shape = imgs.shape[1:]
        elif imgs.shape[1:] != shape:
            raise PrecimedInputError(f"{split}_images are {imgs.shape[1:]}, train_images {shape}",
                                     expected="the same image size in every split")
        if labels.ndim == 2 and labels.shape[1] != 1:
            raise PrecimedInputError(f"{split}_labels has {labels.shape[1]} columns (multi-label)",
                                     expected="one integer class per image")
        labels = labels.reshape(-1)
        if len(labels) != len(imgs) or len(labels) < 2:
            raise PrecimedInputError(f"{split}: {len(imgs)} images but {len(labels)} labels",
                                     expected="one label per image, at least 2 images")
        if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
            raise PrecimedInputError(f"{split}_labels are not non-negative integers",
                                     expected="class indices 0, 1, …")
        if not np.isfinite(imgs.astype(np.float64)).all():
            raise PrecimedInputError(f"{split}_images contain NaN or infinite values")
        data[f"{split}_labels"] = labels.astype(np.int64)
    return data


def _prepare(card: dict[str, Any], images: np.ndarray) -> np.ndarray:
    return np.stack([model_input(card, img.astype(np.float32)) for img in images])


def train_npz(npz: Path, out_root: Path, *, model_id: str | None = None, name: str | None = None,
              classes: list[str] | None = None, modalities: list[str] | None = None,
              epochs: int = 20, batch_size: int = 64, verbose: int = 0) -> dict[str, Any]:
    """Train a CNN on ``npz`` and write the bundle to ``out_root/<id>``; return its card."""
    from precimed.registry import read_bundle, sha256_file
    from precimed.training.imaging_cnn import build_cnn, fit_cnn, multiclass_metrics, predict_batches

    data = read_npz(npz)
    n_classes = int(max(data[f"{s}_labels"].max() for s in ("train", "val", "test")) + 1)
    if n_classes < 2 or len(np.unique(data["train_labels"])) < 2:
        raise PrecimedInputError("the training labels hold a single class", expected="two or more classes")
    classes = classes or [f"class {k}" for k in range(n_classes)]
    if len(classes) != n_classes or len(set(classes)) != n_classes:
        raise PrecimedInputError(f"{len(classes)} class names for {n_classes} classes",
                                 expected=f"{n_classes} distinct names")
    if epochs < 1:
        raise PrecimedInputError(f"--epochs {epochs}", expected="at least 1")
    model_id = model_id or _slug(f"{npz.stem}-cnn")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,63}", model_id):
        raise PrecimedInputError(f"model id '{model_id}'", expected="lower-case letters, digits and '-'")
    img_shape = data["train_images"].shape[1:]
    channels = 3 if len(img_shape) == 3 and img_shape[2] == 3 else 1
    shape = (int(img_shape[0]), int(img_shape[1]), channels)
    binary = n_classes == 2
    card: dict[str, Any] = {
        "id": model_id,
        "name": name or f"{npz.stem} CNN ({n_classes} classes, user-trained)",
        "version": "1.0.0",
        "task": "binary" if binary else "multiclass",
        "modality": "image",
        "subject": "image",
        "classes": classes,
        "threshold": 0.5 if binary else None,
        "inputs": [{
            "name": "image", "shape": list(shape),
            "modalities": modalities or ["OT"],
            "photometric": (["RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR"] if channels == 3
                            else ["MONOCHROME1", "MONOCHROME2"]),
            "pixel_spacing_mm": None,
            "preprocessing": preprocessing_card(shape, (min(shape[:2]), max(shape[:2]))),
        }],
    }
    if binary:
        card["positive_class"] = classes[1]
    make_deterministic(SEED)
    x_tr, x_va, x_te = (_prepare(card, data[f"{s}_images"]) for s in ("train", "val", "test"))
    y_tr, y_va, y_te = (data[f"{s}_labels"] for s in ("train", "val", "test"))
    model = build_cnn(shape, n_classes)
    fit_cnn(model, x_tr, y_tr, x_va, y_va, epochs=epochs, batch_size=batch_size, verbose=verbose)
    out = predict_batches(model, x_te)
    if binary:
        evaluation = binary_metrics(y_te, out[:, 0], threshold=0.5)
    else:
        evaluation = multiclass_metrics(y_te, out, classes)
    digest = hashlib.sha256(npz.read_bytes()).hexdigest()
    card.update({
        "missing_values": "not applicable: every pixel is used",
        "training_data": {
            "source": f"user-supplied MedMNIST-format file {npz.name} (SHA-256 {digest[:16]}…), "
                      f"train split, {shape[0]}×{shape[1]} images",
            "citation": "Yang J et al. MedMNIST v2. Sci Data 2023;10:41 (if the file comes from "
                        "MedMNIST; otherwise the user's own data)",
            "n": int(len(y_tr)),
            "label_definition": "the integer labels of the file, named as given with --classes",
            "class_counts": {c: int((y_tr == k).sum()) for k, c in enumerate(classes)},
        },
        "evaluation": {"method": f"the file's test split ({len(y_te)} images); bootstrap 95% CI",
                       **evaluation},
        "explanation": {"method": "shap.GradientExplainer (expected gradients), 256 samples",
                        "background": f"{N_BACKGROUND} random training images",
                        "output_scale": "probability", "background_file": "background.npy"},
        "intended_use": "Research use by the person who trained it with `precimed train-imaging`. "
                        "Not for clinical use.",
        "out_of_scope": "Any clinical or diagnostic use; images unlike the training file's",
        "limitations": ["Trained by a user on data PreciMed has not reviewed; its card reports "
                        "only the file's own test split.",
                        f"Input is resized to {shape[0]}×{shape[1]} pixels."],
        "not_for_clinical_use": True,
        "user_supplied": True,
        "produced_by": "precimed train-imaging",
    })
    out_dir = out_root / model_id
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    pick = rng.choice(len(x_tr), size=min(N_BACKGROUND, len(x_tr)), replace=False)
    np.save(out_dir / "background.npy", x_tr[np.sort(pick)])
    card["explanation"]["background_sha256"] = sha256_file(out_dir / "background.npy")
    write_bundle(out_dir, model, card)
    return read_bundle(out_dir).card
