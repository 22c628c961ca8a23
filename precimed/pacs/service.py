"""What ``precimed pacs search`` and ``precimed pacs predict`` do, and the page reuses.

Predictions go through the same engine path as ``precimed predict``
(:func:`precimed.imaging.service.score_frames`), so the out-of-scope refusal and the
probabilities are the same as for the file on disk. ``send`` explains each scored image
(:func:`precimed.imaging.explain_image`) and stores the SR and the Parametric Map (and, with
``overlay``, a Secondary Capture) back into the source's study in one STOW-RS request.

Example:
    >>> rows = predict_study(get_bundle("lesion-cnn-synthetic"), client, study_uid, send=True)  # doctest: +SKIP
    >>> rows[0]["source"] == rows[0]["sop_instance_uid"], len(rows[0]["sent"])  # doctest: +SKIP
    (True, 2)
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from precimed.errors import PrecimedInputError
from precimed.pacs.client import PacsClient, Retrieved
from precimed.pacs.query import SeriesInfo

if TYPE_CHECKING:
    from precimed.dicom.frames import ImageFrame
    from precimed.imaging.explain import ImageExplanation
    from precimed.registry import Bundle

# Series that are not images the model could score: skipped when no series is named.
NON_IMAGE_MODALITIES = {"SR", "SEG", "KO", "PR", "RTSTRUCT", "RTPLAN", "RTDOSE", "REG", "DOC",
                        "ECG", "HD", "AU", "PLAN", "RWV"}
OWN_PREFIX = "PreciMed"  # series descriptions of the objects this module writes


def image_series(series: list[SeriesInfo]) -> list[SeriesInfo]:
    """The series worth predicting: not a non-image modality, not PreciMed's own results."""
    return [s for s in series if s.modality not in NON_IMAGE_MODALITIES
            and not s.description.startswith(OWN_PREFIX)]


def build_results(bundle: Bundle, source: Any, frame: ImageFrame, probabilities: dict[str, float],
                  decision: str, expl: ImageExplanation | None, *, rendered: np.ndarray | None = None,
                  plan: Any = None, instance_number: int = 1, deidentified: bool = False) -> list[Any]:
    """The DICOM result objects for one frame (see :func:`precimed.dicom.results.result_objects`).

    Args:
        source: the frame's parsed data set (the identity and study the objects carry).
        rendered: the displayed 8-bit image; given with ``expl``, a Secondary Capture of the
            overlay is added.
        deidentified: build from a PS3.15 de-identified copy of ``source``, so that the objects
            carry the de-identified patient, study and instance references.
    """
    from precimed.dicom.results import ModelResult, overlay_rgb, result_objects

    if deidentified:
        source = deidentified_copy(source)
    result = ModelResult.from_card(
        bundle.card, probabilities, decision,
        explained_class=expl.class_name if expl is not None else None,
        heatmap=expl.heatmap if expl is not None else None,
        frame_number=frame.frame + 1 if frame.n_frames > 1 else None)
    overlay = (overlay_rgb(rendered, expl.heatmap) if rendered is not None and expl is not None
               and expl.heatmap.shape == np.asarray(rendered).shape[:2] else None)
    return result_objects(source, result, overlay=overlay, plan=plan, instance_number=instance_number)


def deidentified_copy(source: Any) -> Any:
    """``source`` de-identified with the PS3.15 basic profile (precimed.dicom.deid)."""
    import io

    import pydicom

    from precimed.dicom.deid import deidentify_bytes
    from precimed.dicom.results import to_bytes

    return pydicom.dcmread(io.BytesIO(deidentify_bytes(to_bytes(source), "source")))


def retrieve(client: PacsClient, study_uid: str, series_uid: str | None) -> list[Retrieved]:
    """The named series, or every image series of the study."""
    series = client.list_series(study_uid)
    if series_uid:
        if not any(s.series_uid == series_uid for s in series):
            raise PrecimedInputError(f"the PACS has no series {series_uid} in study {study_uid}",
                                     expected="a Series Instance UID that `precimed pacs search` lists")
        chosen = [series_uid]
    else:
        chosen = [s.series_uid for s in image_series(series)]
        if not chosen:
            raise PrecimedInputError(f"study {study_uid} has no image series",
                                     expected="a study with CT, MR, CR or other image series")
    return [client.retrieve_series(study_uid, uid) for uid in chosen]


def predict_study(bundle: Bundle, client: PacsClient, study_uid: str, series_uid: str | None = None, *,
                  send: bool = False, overlay: bool = False,
                  allow_out_of_scope: bool = False) -> list[dict[str, Any]]:
    """One object per image (frame), as ``precimed predict`` gives for a file, with ``source``
    the SOP Instance UID (``UID#K`` for frame K), plus ``study_uid``, ``series_uid`` and, with
    ``send``, ``sent`` (the SOP Instance UIDs stored back for that image).

    Raises:
        PrecimedInputError: see :class:`PacsClient`; NothingScoredError when no image is in scope.
    """
    from precimed.dicom.results import SeriesPlan
    from precimed.dicom.window import render
    from precimed.imaging import explain_image, frame_image
    from precimed.imaging.service import score_frames

    if bundle.modality != "image":
        raise PrecimedInputError(f"model '{bundle.id}' takes {bundle.modality} input",
                                 expected="an image model for PACS images")
    rows: list[dict[str, Any]] = []
    pending: list[tuple[dict[str, Any], list[Any]]] = []
    plan = SeriesPlan()
    for got in retrieve(client, study_uid, series_uid):
        frames = got.result.frames
        scored = score_frames(bundle, frames, allow_out_of_scope=allow_out_of_scope)
        for row, fr in zip(scored, frames, strict=True):
            row.update(study_uid=study_uid, series_uid=fr.series_uid, sop_instance_uid=fr.source)
            for w in row.get("warnings", []):
                print(f"warning: {row['source']}: {w}", file=sys.stderr)
            if send and "probabilities" in row:
                expl = explain_image(bundle, frame_image(fr))
                rendered = render(fr) if overlay else None
                objs = build_results(bundle, got.datasets[fr.source], fr, row["probabilities"],
                                     row["prediction"], expl, rendered=rendered, plan=plan,
                                     instance_number=len(pending) + 1)
                pending.append((row, objs))
        rows.extend(scored)
        rows.extend({"source": e.source, "error": e.reason} for e in got.result.errors)
    if send:
        stored = client.store([o for _, objs in pending for o in objs]) if pending else []
        done = set(stored)
        for row, objs in pending:
            row["sent"] = [str(o.SOPInstanceUID) for o in objs if str(o.SOPInstanceUID) in done]
    _raise_if_nothing_scored(rows)
    return rows


def _raise_if_nothing_scored(rows: list[dict[str, Any]]) -> None:
    if rows and not any("probabilities" in r for r in rows):
        from precimed.errors import NothingScoredError

        raise NothingScoredError("no image of the study could be scored", rows,
                                 expected="images in the model's scope, or --allow-out-of-scope")


def search(client: PacsClient, **filters: Any) -> list[dict[str, Any]]:
    """Studies as shared/CONVENTIONS.md gives them: ``{study_uid, study_date, modalities,
    series: [{series_uid, modality, instances}]}``."""
    return [s.to_json() for s in client.search_studies(**filters)]
