"""A small 3-class tabular bundle built for the what-if tests (about 2 s to train).

It exercises what the shipped binary models do not: a multiclass softmax, a fixed ``int``
feature, a categorical feature with three levels, a 0/1 feature and a constant feature (whose
plausible range is a single value), with rows that are compounds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MODEL_ID = "tiny-multiclass-test"
CLASSES = ["low", "medium", "high"]


def training_data(n: int = 240, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "dose": rng.uniform(0.0, 10.0, n),
        "logp": rng.normal(2.0, 1.0, n),
        "ring_bit": rng.integers(0, 2, n).astype("float64"),
        "batch_year": rng.integers(2000, 2020, n).astype("float64"),
        "constant": np.full(n, 1.5),
        "route": rng.choice(["oral", "iv", "topical"], n),
    })
    score = (X["dose"] + 1.5 * X["logp"] + 2.0 * X["ring_bit"]
             + np.where(X["route"] == "iv", 2.0, 0.0))
    y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])).astype("int64")
    return X, y


def build(root: Path) -> Path:
    """Train and write the bundle into ``root/<MODEL_ID>``; return that folder."""
    from precimed.tabular.validate import encode
    from precimed.training.common import make_deterministic, write_bundle
    from precimed.training.tabular import TabularRecipe, fit, input_specs

    X, y = training_data()
    card = {
        "id": MODEL_ID, "name": "Tiny three-class test model (what-if tests)", "version": "0.0.1",
        "task": "multiclass", "modality": "tabular", "subject": "compound", "classes": CLASSES,
        "threshold": None,
        "missing_values": "imputed with the training median (flagged)",
        "training_data": {"source": "simulated in tests/whatif/tiny_bundle.py",
                          "citation": "none (test data)", "n": len(y),
                          "label_definition": "tertile of a known linear score",
                          "class_counts": {c: int((y == i).sum()) for i, c in enumerate(CLASSES)}},
        "evaluation": {"method": "training-set fit only (a test fixture, not a validation)",
                       "metrics": {"brier": {"value": 0.0}},
                       "calibration": {"bins": [], "predicted": [], "observed": []}},
        "explanation": {"method": "shap.DeepExplainer", "background": "60 training rows",
                        "output_scale": "probability"},
        "intended_use": "tests only", "out_of_scope": "everything else",
        "limitations": ["simulated"], "not_for_clinical_use": True,
        "produced_by": "tests/whatif/tiny_bundle.py",
    }
    recipe = TabularRecipe(X=X, y=y, card=card, categorical={"route": ["oral", "iv", "topical"]},
                           fixed={"batch_year"}, hidden=(16,), dropout=0.0, l2=1e-3,
                           learning_rate=1e-2, epochs=25, batch_size=64, seed=7)
    make_deterministic(recipe.seed)
    card["inputs"] = input_specs(recipe)
    x = encode(X, card)
    model = fit(x, y, len(CLASSES), recipe, recipe.seed)
    card["evaluation"]["metrics"]["auroc_macro"] = _training_auroc(model, x, y)
    out = root / MODEL_ID
    write_bundle(out, model, card, background=X.iloc[:60].reset_index(drop=True))
    X.iloc[:8].assign(compound=[f"C{i}" for i in range(8)]).to_csv(root / "tiny.csv", index=False)
    return out


def _training_auroc(model: object, x: np.ndarray, y: np.ndarray) -> dict[str, object]:
    """Macro one-vs-rest AUROC on the training rows, with a 200-resample bootstrap interval."""
    from sklearn.metrics import roc_auc_score

    from precimed.predict import raw_output

    p = raw_output(model, x)
    rng = np.random.default_rng(0)
    boots = []
    for _ in range(200):
        idx = rng.integers(0, len(y), len(y))
        if len(set(y[idx])) == len(CLASSES):
            boots.append(roc_auc_score(y[idx], p[idx], multi_class="ovr", average="macro"))
    value = float(roc_auc_score(y, p, multi_class="ovr", average="macro"))
    return {"value": round(value, 4),
            "ci95": [round(float(np.percentile(boots, 2.5)), 4),
                     round(float(np.percentile(boots, 97.5)), 4)]}


CNN_ID = "blob-cnn-test"
CNN_SIZE = 32


def blob_image(size: int = 64, *, centre: tuple[float, float] | None = (40.0, 20.0),
               radius: float = 3.0, seed: int = 0) -> np.ndarray:
    """A smooth grey background (0–0.4) with, if ``centre`` is given, a bright round blob."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.uniform(0.0, 1.0, (size, size)), 8.0)
    img = 0.4 * (img - img.min()) / (np.ptp(img) or 1.0)
    if centre is not None:
        yy, xx = np.mgrid[0:size, 0:size]
        img = img + np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * radius**2))
    return img.astype(np.float32)


def build_blob_cnn(root: Path) -> Path:
    """A real Keras CNN with set (not trained) weights that detects a bright blob: a
    centre-surround convolution, ReLU, global max pooling and a sigmoid. Written as an image
    bundle into ``root/<CNN_ID>`` with an AUROC measured on 200 simulated images."""
    import keras
    from sklearn.metrics import roc_auc_score

    from precimed.predict import raw_output
    from precimed.registry import sha256_file
    from precimed.training.common import write_bundle

    yy, xx = np.mgrid[-3:4, -3:4]
    r2 = (yy**2 + xx**2).astype("float64")
    kernel = np.exp(-r2 / 2.0) / (2 * np.pi) - np.exp(-r2 / 12.5) / (2 * np.pi * 6.25)
    kernel = (kernel - kernel.mean()).astype("float32")
    inp = keras.Input((CNN_SIZE, CNN_SIZE, 1), name="image")
    conv = keras.layers.Conv2D(1, 7, padding="valid", activation="relu", name="blob")(inp)
    pooled = keras.layers.GlobalMaxPooling2D(name="pool")(conv)
    out = keras.layers.Dense(1, activation="sigmoid", name="probability")(pooled)
    model = keras.Model(inp, out)
    model.get_layer("blob").set_weights([kernel[:, :, None, None], np.zeros(1, "float32")])
    card: dict[str, object] = {
        "inputs": [{"name": "image", "shape": [CNN_SIZE, CNN_SIZE, 1], "modalities": ["OT", "CT"],
                    "photometric": ["MONOCHROME2"],
                    "preprocessing": {"intensity": {"low": 0.5, "high": 99.5}}}]}
    from precimed.imaging import model_input

    def inputs(with_blob: bool, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return np.stack([model_input(card, blob_image(
            centre=(float(rng.uniform(8, 56)), float(rng.uniform(8, 56))) if with_blob else None,
            radius=float(rng.uniform(2.0, 4.0)), seed=seed * 1000 + k)) for k in range(n)])

    pos, neg = inputs(True, 100, 1), inputs(False, 100, 2)
    # Put the sigmoid's midpoint between the two groups' pooled responses.
    pooler = keras.Model(inp, pooled)
    mid = (raw_output(pooler, pos).mean() + raw_output(pooler, neg).mean()) / 2
    scale = 8.0 / max(raw_output(pooler, pos).mean() - raw_output(pooler, neg).mean(), 1e-6)
    model.get_layer("probability").set_weights([np.array([[scale]], "float32"),
                                                np.array([-scale * mid], "float32")])
    p = np.concatenate([raw_output(model, pos)[:, 0], raw_output(model, neg)[:, 0]])
    y = np.r_[np.ones(100), np.zeros(100)]
    auc = float(roc_auc_score(y, p))
    out_dir = root / CNN_ID
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / "background.npy", neg[:16])
    card.update({
        "id": CNN_ID, "name": "Blob detector CNN with set weights (what-if tests)",
        "version": "0.0.1", "task": "binary", "modality": "image", "subject": "image",
        "classes": ["no lesion", "lesion"], "positive_class": "lesion", "threshold": 0.5,
        "missing_values": "not applicable (images)",
        "training_data": {"source": "none: weights set by hand in tests/whatif/tiny_bundle.py",
                          "citation": "none (test model)", "n": 200,
                          "label_definition": "simulated bright blob present",
                          "class_counts": {"no lesion": 100, "lesion": 100}},
        "evaluation": {"method": "200 simulated images (a test fixture)",
                       "metrics": {"auroc": {"value": round(auc, 4), "ci95": [round(auc, 4)] * 2},
                                   "brier": {"value": float(np.mean((p - y) ** 2))}},
                       "calibration": {"bins": [], "predicted": [], "observed": []}},
        "explanation": {"method": "shap.GradientExplainer", "background": "16 blob-free images",
                        "output_scale": "probability", "background_file": "background.npy",
                        "background_sha256": sha256_file(out_dir / "background.npy")},
        "intended_use": "tests only", "out_of_scope": "everything else",
        "limitations": ["hand-set weights"], "not_for_clinical_use": True,
        "produced_by": "tests/whatif/tiny_bundle.py",
    })
    write_bundle(out_dir, model, card)
    return out_dir


def blob_dicom(path: Path, image: np.ndarray) -> Path:
    """Write ``image`` (0–~1.4 floats) as a minimal 16-bit MONOCHROME2 CT DICOM file."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "CT"
    ds.PatientName = "Test^Blob"
    ds.Rows, ds.Columns = image.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    ds.PixelData = np.round(image * 1000).astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def direct_probs(bundle: Any, values: dict[str, Any]) -> Any:
    """The model called directly (Keras, no precimed.predict) on one row."""
    from precimed.tabular.validate import encode

    frame = pd.DataFrame([values])[[i["name"] for i in bundle.card["inputs"]]]
    out = np.asarray(bundle.model()(encode(frame, bundle.card), training=False), dtype="float64")
    return out[0]
