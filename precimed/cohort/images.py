"""Image cohorts: every image (or frame) of a zip of DICOM files, scored by an image model.

Uses :func:`precimed.imaging.service.score_frames`, the same path as ``precimed predict`` on a
zip (:func:`precimed.imaging.service.predict_path`), but from upload bytes so that nothing
uploaded touches the disk. Images outside the card's scope get an ``error`` beginning
``out of scope:`` and no probabilities unless ``allow_out_of_scope``. Images are named by their
path in the zip, frames as ``name#K``.
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


def score_image_bytes(bundle: Bundle, data: bytes, name: str, *,
                      allow_out_of_scope: bool = False) -> pd.DataFrame:
    """One row per image/frame of an uploaded ``.zip``/``.dcm``; failed or out-of-scope
    images carry ``error``.

    Raises:
        PrecimedInputError: not an image model. DicomInputError: nothing in the upload is usable.
    """
    if bundle.modality != "image":
        raise PrecimedInputError(f"model '{bundle.id}' takes tables",
                                 expected="an image model for a zip of DICOM files")
    from precimed.dicom import load_bytes
    from precimed.imaging.service import score_frames

    result = load_bytes(data, name)
    rows = score_frames(bundle, result.frames, allow_out_of_scope=allow_out_of_scope)
    rows += [{"source": e.source, "error": e.reason} for e in result.errors]
    return _frame(bundle, rows)


def score_image_path(bundle: Bundle, path: str | Path, *,
                     allow_out_of_scope: bool = False) -> pd.DataFrame:
    """:func:`score_image_bytes` for a file on disk, through the imaging service (a file with
    nothing in scope gives a table of errors, not an exception)."""
    from precimed.errors import NothingScoredError
    from precimed.imaging.service import predict_path

    try:
        rows = predict_path(bundle, str(path), allow_out_of_scope=allow_out_of_scope)
    except NothingScoredError as exc:
        rows = exc.rows
    return _frame(bundle, rows)
