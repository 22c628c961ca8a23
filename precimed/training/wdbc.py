"""Cytology diagnosis bundle: Wisconsin Diagnostic Breast Cancer (scikit-learn, 569 × 30)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from precimed.training.tabular import TabularRecipe, train_tabular_bundle

MODEL_ID = "breast-cytology-wdbc"


def load() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    X = data.data.astype("float64")
    # scikit-learn codes 0 = malignant, 1 = benign; the card's classes are [benign, malignant].
    y = (data.target.to_numpy() == 0).astype("int64")
    return X, y


def recipe() -> TabularRecipe:
    X, y = load()
    card: dict[str, Any] = {
        "id": MODEL_ID,
        "name": "Breast mass cytology: malignant vs benign (WDBC nuclear features MLP)",
        "version": "1.0.0",
        "task": "binary",
        "subject": "patient",
        "classes": ["benign", "malignant"],
        "positive_class": "malignant",
        "threshold": 0.5,
        "missing_values": "imputed: empty cells get the training median; each imputation is flagged",
        "training_data": {
            "source": "Wisconsin Diagnostic Breast Cancer (WDBC), UCI, as shipped in scikit-learn "
                      "(sklearn.datasets.load_breast_cancer)",
            "citation": "Street WN, Wolberg WH, Mangasarian OL. Nuclear feature extraction for breast "
                        "tumor diagnosis. IS&T/SPIE 1993 International Symposium on Electronic Imaging, "
                        "vol. 1905, pp. 861-870. doi:10.1117/12.148698",
            "n": len(y),
            "label_definition": "diagnosis of the breast mass as recorded in WDBC (malignant or "
                                "benign), confirmed by biopsy or follow-up in the original study",
            "class_counts": {"benign": int((y == 0).sum()), "malignant": int((y == 1).sum())},
            "licence": "CC BY 4.0 (UCI)",
        },
        "intended_use": "Teaching and demonstration: how nuclear morphology features of a fine-needle "
                        "aspirate, digitised as in WDBC, relate to malignancy; showing explanations of "
                        "a deep model.",
        "out_of_scope": "Diagnosis of any patient; features measured with other software, magnification "
                        "or staining than the WDBC image-analysis pipeline; other tumours.",
        "limitations": [
            "Single-centre data from Wisconsin, 1989-1995; 569 samples.",
            "Features come from a specific interactive image-analysis program; values from other tools "
            "are not comparable.",
            "Cross-validated figures are likely optimistic against a new centre.",
            "The 30 features are strongly correlated (mean, SE and worst of the same measurement), so "
            "SHAP credit is shared among them in ways that depend on the background sample.",
        ],
        "not_for_clinical_use": True,
        "produced_by": f"make models (python -m precimed.training {MODEL_ID})",
        "factors": {
            "relevant": "Age, menopausal status, ancestry, lesion size and type, the centre, and the "
                        "microscope, staining and image-analysis software could all change how well "
                        "the model does.",
            "note": "WDBC records no patient factor (no age, ancestry, menopausal status or centre): "
                    "performance in subgroups cannot be measured here and may differ between groups "
                    "nobody has checked.",
        },
        "ethical_considerations": [
            "The data are de-identified measurements of 569 fine-needle aspirates from one centre "
            "(University of Wisconsin Hospitals, 1989-1995), published under CC BY 4.0; no image or "
            "identity is included.",
            "A false 'benign' could delay a cancer diagnosis, a false 'malignant' could lead to an "
            "unnecessary biopsy and anxiety: the model must not be used to decide either.",
            "The patients' demographics are not recorded, so the data cannot show whether the model "
            "serves every group equally well.",
        ],
        "caveats": [
            "Use for teaching and demonstration only, with features computed by the WDBC image-analysis "
            "program; a near-perfect cross-validated AUROC on one centre's data says little about "
            "another centre.",
        ],
    }
    descriptions = {c: f"{c} of the cell nuclei in the digitised aspirate image" for c in X.columns}
    return TabularRecipe(X=X, y=y, card=card, descriptions=descriptions,
                         hidden=(16,), dropout=0.2, l2=1e-2, learning_rate=3e-3, epochs=80,
                         batch_size=32)


def train(out_root: Path) -> dict[str, Any]:
    return train_tabular_bundle(recipe(), out_root / MODEL_ID)


def sample_rows() -> pd.DataFrame:
    X, y = load()
    picks = [int(i) for i in np.flatnonzero(y == 1)[:3]] + [int(i) for i in np.flatnonzero(y == 0)[:3]]
    out = X.iloc[picks].copy()
    out.insert(0, "sample", [f"WDBC-row{p}" for p in picks])
    return out.reset_index(drop=True)


def refresh(out_root: Path) -> dict[str, Any] | None:
    """Rewrite the card from cached CV predictions (``python -m precimed.training --cards-only``)."""
    from precimed.training.tabular import refresh_card

    return refresh_card(recipe(), out_root / MODEL_ID)
