"""Image cohorts: every image (or frame) of a zip of DICOM files, scored by an image model.

Uses the imaging package's building blocks (``precimed.dicom.load_bytes``, ``frame_input``,
``predict_model_inputs``, ``check_frame``), the same path as ``precimed predict`` on a zip
(:func:`precimed.imaging.service.predict_path`), but from upload bytes so that nothing uploaded
touches the disk. Images are named by their path in the zip, frames as ``name#K``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from precimed.errors import PrecimedInputError

if TYPE_CHECKING:
    from precimed.registry import Bundle


def _frame(bundle: Bundle, rows: list[dict[str, Any]]) -> pd.DataFrame:
    from precimed.cohort.score import prob_column

    out = []
    for r in rows:
        item: dict[str, Any] = {"source": r["source"], "index": r.get("index")}
        probs = r.get("probabilities", {})
        item.update({prob_column(c): probs.get(c, np.nan) for c in bundle.classes})
        item["prediction"] = r.get("prediction")
        item["error"] = r.get("error")
        item["warnings"] = "; ".join(r.get("warnings", [])) or None
        out.append(item)
    frame = pd.DataFrame(out)
    frame.insert(0, "row", np.arange(len(frame), dtype=np.int64))
    return frame


def score_image_bytes(bundle: Bundle, data: bytes, name: str) -> pd.DataFrame:
    """One row per image/frame of an uploaded ``.zip``/``.dcm``; failed files carry ``error``.

    Raises:
        PrecimedInputError: not an image model. DicomInputError: nothing in the upload is usable.
    """
    if bundle.modality != "image":
        raise PrecimedInputError(f"model '{bundle.id}' takes tables",
                                 expected="an image model for a zip of DICOM files")
    from precimed.dicom import load_bytes
    from precimed.imaging.check import check_frame
    from precimed.imaging.predict import predict_model_inputs
    from precimed.imaging.preprocess import frame_input
    from precimed.predict import decide

    result = load_bytes(data, name)
    batch = np.stack([frame_input(bundle, f) for f in result.frames])
    probs = predict_model_inputs(bundle, batch)
    picks = decide(probs, bundle.card)
    rows: list[dict[str, Any]] = []
    for i, fr in enumerate(result.frames):
        rows.append({"source": fr.label, "index": i,
                     "probabilities": {c: float(probs[i, j]) for j, c in enumerate(bundle.classes)},
                     "prediction": bundle.classes[int(picks[i])],
                     "warnings": check_frame(bundle.card, fr)})
    rows += [{"source": e.source, "error": e.reason} for e in result.errors]
    return _frame(bundle, rows)


def score_image_path(bundle: Bundle, path: str | Path) -> pd.DataFrame:
    """:func:`score_image_bytes` for a file on disk, through the imaging service."""
    from precimed.imaging.service import predict_path

    return _frame(bundle, predict_path(bundle, str(path)))
