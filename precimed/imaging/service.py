"""What ``precimed predict`` and ``precimed explain`` do for image models (a .dcm, .zip, DICOMDIR).

Images are named as shared/CONVENTIONS.md says: by their path inside the zip, frames of a
multi-frame file as ``name#K``. ``index`` is the image's position in slice order, the number
``explain --frame`` takes. Images outside the card's scope (:mod:`precimed.imaging.check`)
get an ``error`` beginning ``out of scope:`` and no prediction, unless ``allow_out_of_scope``;
then their reasons go into ``warnings``. Warnings also go, as ``warning:`` lines, to stderr.

Example:
    >>> from precimed.registry import get_bundle  # doctest: +SKIP
    >>> rows = predict_path(get_bundle("lesion-cnn-synthetic"), "series.zip")  # doctest: +SKIP
    >>> rows[0]["source"], sorted(rows[0]["probabilities"])  # doctest: +SKIP
    ('IM0001.dcm', ['lesion', 'no lesion'])
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from precimed.dicom import ImageFrame, load_path
from precimed.errors import NothingScoredError, PrecimedInputError
from precimed.imaging.check import assess_frame, refusal
from precimed.imaging.explain import explain_image
from precimed.imaging.predict import predict_model_inputs
from precimed.imaging.preprocess import frame_image, frame_input
from precimed.imaging.regions import calls_out_regions, strongest_regions
from precimed.predict import decide

if TYPE_CHECKING:
    from precimed.registry import Bundle


def load_frame(path: str, frame: int) -> ImageFrame:
    """Frame ``frame`` (0-based, across files and frames) of a .dcm, .zip or DICOMDIR.

    Raises:
        PrecimedInputError: no such frame. DicomInputError: unusable input.
    """
    result = load_path(path)
    n = len(result.frames)
    if not 0 <= frame < n:
        raise PrecimedInputError(f"frame {frame} does not exist in {Path(path).name}",
                                 expected=f"a frame between 0 and {n - 1}")
    return result.frames[frame]


def _require_image_model(bundle: Bundle) -> None:
    if bundle.modality != "image":
        raise PrecimedInputError(f"model '{bundle.id}' takes {bundle.modality} input",
                                 expected="an image model for a .dcm or .zip file")


def _warn(source: str, warnings: list[str]) -> None:
    for w in warnings:
        print(f"warning: {source}: {w}", file=sys.stderr)


def score_frames(bundle: Bundle, frames: list[ImageFrame], *,
                 allow_out_of_scope: bool = False) -> list[dict[str, Any]]:
    """One object per frame: ``source``, ``index``, ``probabilities``, ``prediction``,
    ``warnings``, ``out_of_scope`` (bool); an out-of-scope frame, unless allowed, gets
    ``{"source", "index", "error": "out of scope: …", "warnings": []}`` and is not predicted.

    The one scoring path for images: the CLI, cohort scoring and the Imaging page use it.
    """
    classes = bundle.classes
    scopes = [assess_frame(bundle.card, fr) for fr in frames]
    keep = [i for i, sc in enumerate(scopes) if sc.may_score(allow_out_of_scope)]
    probs = np.zeros((0, len(classes)))
    picks = np.zeros(0, dtype=np.int64)
    if keep:
        probs = predict_model_inputs(bundle, np.stack([frame_input(bundle, frames[i])
                                                       for i in keep]))
        picks = decide(probs, bundle.card)
    at = {i: k for k, i in enumerate(keep)}
    rows: list[dict[str, Any]] = []
    for i, (fr, sc) in enumerate(zip(frames, scopes, strict=True)):
        if i not in at:
            rows.append({"source": fr.label, "index": i, "error": sc.error, "warnings": []})
            continue
        k = at[i]
        rows.append({"source": fr.label, "index": i,
                     "probabilities": {c: float(probs[k, j]) for j, c in enumerate(classes)},
                     "prediction": classes[int(picks[k])], "warnings": sc.warnings(),
                     "out_of_scope": not sc.in_scope})
    return rows


def predict_path(bundle: Bundle, path: str, *,
                 allow_out_of_scope: bool = False) -> list[dict[str, Any]]:
    """:func:`score_frames` for every image of a file, plus ``{"source", "error"}`` for files
    (inside a zip) that failed.

    Raises:
        DicomInputError: the file, or every file of the zip, cannot be used.
        NothingScoredError: no image could be scored (each row says why); carries the rows.
    """
    _require_image_model(bundle)
    result = load_path(path)
    rows = score_frames(bundle, result.frames, allow_out_of_scope=allow_out_of_scope)
    for r in rows:
        _warn(r["source"], r["warnings"])
    rows += [{"source": err.source, "error": err.reason} for err in result.errors]
    if not any("probabilities" in r for r in rows):
        refused = sum(1 for r in rows if str(r.get("error", "")).startswith("out of scope:"))
        raise NothingScoredError(
            f"no image in {Path(path).name} could be scored ({refused} of {len(rows)} out of "
            "the model's scope)", rows,
            expected="images the card covers, or --allow-out-of-scope to score them anyway")
    return rows


def explain_path(bundle: Bundle, path: str, *, frame: int, heatmap_out: str | None,
                 class_name: str | None, allow_out_of_scope: bool = False) -> dict[str, Any]:
    """The SHAP explanation of image ``frame`` (0-based, slice order) of a .dcm/.zip.

    Writes the heatmap (2-D, the image's own size) with ``np.save`` when ``heatmap_out`` is set.

    Raises:
        PrecimedInputError: no such frame, unknown class, unwritable heatmap path, the frame
            is out of scope (``out of scope: …``) and ``allow_out_of_scope`` is not set.
        DicomInputError: unusable input.
    """
    _require_image_model(bundle)
    fr = load_frame(path, frame)
    warnings = refusal(bundle.card, fr, allow=allow_out_of_scope)
    _warn(fr.label, warnings)
    expl = explain_image(bundle, frame_image(fr), class_name=class_name)
    saved = None
    if heatmap_out:
        target = Path(heatmap_out)
        if not target.parent.is_dir():
            raise PrecimedInputError(f"cannot write the heatmap to {heatmap_out}: no such folder",
                                     expected="a path in an existing folder")
        np.save(target, expl.heatmap)
        saved = str(target if target.suffix == ".npy" else target.with_name(target.name + ".npy"))
    probs = predict_model_inputs(bundle, frame_input(bundle, fr)[np.newaxis])[0]
    pick = int(decide(probs[np.newaxis], bundle.card)[0])
    probabilities = {c: float(probs[j]) for j, c in enumerate(bundle.classes)}
    return {
        "source": fr.label,
        "index": frame,
        "class": expl.class_name,
        "method": expl.method,
        "base_value": expl.base_value,
        "output": expl.output,
        "additivity_error": expl.additivity_error,
        "heatmap_shape": list(expl.heatmap.shape),
        "model_input_shape": list(expl.values.shape),
        "heatmap": saved,
        "probabilities": probabilities,
        "prediction": bundle.classes[pick],
        # Regions only for a positive decision, and in mm where the pixel spacing is known.
        "regions": [r.to_json(fr.pixel_spacing_mm) for r in strongest_regions(expl.values, fr.shape)]
        if calls_out_regions(bundle.card, probabilities, expl.class_name) else [],
        "warnings": warnings,
        "out_of_scope": any(w.startswith("out of scope:") for w in warnings),
    }
