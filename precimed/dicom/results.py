"""Model results as DICOM objects, built with highdicom, in the source image's study.

- :func:`parametric_map`: the SHAP heatmap as a float Parametric Map (PS3.3 A.75), one frame
  on the source image's grid, with a Real World Value Mapping that says what the values are;
- :func:`structured_report`: a Comprehensive 3D SR with TID 1500 "Measurement Report"
  (PS3.16 TID 1500/1501): the class probabilities, the decision (a qualitative evaluation),
  the threshold, the model as algorithm identification (TID 4019: name, version and, as
  parameters, the bundle id and weights SHA-256), and a reference to the source instance
  (and frame);
- :func:`secondary_capture`: the overlay as shown (windowed image, heatmap blended on top).

The objects copy the patient and study of the ``source`` data set (highdicom does this), so
that a de-identified source (:func:`precimed.dicom.deid.deidentify_bytes`) gives objects with
the de-identified identity. Codes PreciMed defines itself use the private scheme ``99PRECIMED``
(PS3.16 8.2: designators starting with ``99`` are local).

Example:
    >>> objs = result_objects(source_ds, result)  # doctest: +SKIP
    >>> [str(o.Modality) for o in objs]  # doctest: +SKIP
    ['OT', 'SR']
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from precimed.errors import PrecimedInputError

MANUFACTURER = "PreciMed"
SCHEME = "99PRECIMED"
SERIES_NUMBERS = {"PM": 9101, "SR": 9102, "SC": 9103, "SEG": 9104}
_NOT_CLINICAL = "not for clinical use"


@dataclass(frozen=True)
class ModelResult:
    """What the model said about one image (frame), as the objects record it.

    Attributes:
        probabilities: class name → probability, card class order.
        decision: the predicted class (the card's threshold rule).
        threshold: the decision threshold on P(positive class), binary models only.
        explained_class: the class the heatmap explains (None without a heatmap).
        heatmap: SHAP values on the image's grid (H, W), float; None when not explained.
        frame_number: 1-based frame of a multi-frame source (None for single-frame).
    """

    model_id: str
    model_name: str
    model_version: str
    weights_sha256: str
    probabilities: dict[str, float]
    decision: str
    positive_class: str | None = None
    threshold: float | None = None
    explained_class: str | None = None
    heatmap: np.ndarray | None = field(default=None, repr=False)
    frame_number: int | None = None

    @classmethod
    def from_card(cls, card: dict[str, Any], probabilities: dict[str, float], decision: str, *,
                  explained_class: str | None = None, heatmap: np.ndarray | None = None,
                  frame_number: int | None = None) -> ModelResult:
        threshold = card.get("threshold") if card.get("task") == "binary" else None
        return cls(model_id=card["id"], model_name=card["name"], model_version=str(card["version"]),
                   weights_sha256=card["weights_sha256"], probabilities=dict(probabilities),
                   decision=decision, positive_class=card.get("positive_class"),
                   threshold=float(threshold) if threshold is not None else None,
                   explained_class=explained_class, heatmap=heatmap, frame_number=frame_number)


@dataclass(frozen=True)
class SeriesPlan:
    """Series UIDs shared by the objects of one run (one PM series, one SR series…)."""

    uids: dict[str, str] = field(default_factory=dict)

    def uid(self, kind: str) -> str:
        import highdicom as hd

        if kind not in self.uids:
            self.uids[kind] = str(hd.UID())
        return self.uids[kind]


@contextmanager
def _quiet() -> Iterator[None]:
    """highdicom warns about a one-component patient name *quoting the name* (PHI, on stderr
    and in any log that captures warnings): silence its warnings while building."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _code(value: str, meaning: str) -> Any:
    from highdicom.sr import CodedConcept

    return CodedConcept(value=value[:16], scheme_designator=SCHEME, meaning=meaning[:64])


def _class_code(name: str) -> Any:
    slug = "".join(ch if ch.isalnum() else "-" for ch in name.upper())[:16].strip("-") or "CLASS"
    return _code(slug, name)


def _software() -> str:
    from precimed import __version__

    return f"precimed {__version__}"


def _check_source(source: Any) -> None:
    for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        if not str(source.get(kw, "") or ""):
            raise PrecimedInputError(f"the source image has no {kw}",
                                     expected="a DICOM image with study, series and instance UIDs")


def _fix_type2(ds: Any, source: Any) -> Any:
    """Type 2/2C attributes highdicom leaves out when the source's are empty, which dciodvfy
    then reports (Laterality: shared/NOTES-stack.md). Present-but-empty is what the standard asks."""
    if "Laterality" not in ds and "ImageLaterality" not in ds:
        ds.Laterality = source.get("Laterality", "") or ""
    return ds


def parametric_map(source: Any, result: ModelResult, *, series_uid: str | None = None,
                   instance_number: int = 1) -> Any:
    """The heatmap as a float32 Parametric Map on ``source``'s grid (PS3.3 A.75).

    Raises:
        PrecimedInputError: no heatmap, or its shape is not the source image's.
    """
    import highdicom as hd
    from highdicom.sr import CodedConcept

    _check_source(source)
    if result.heatmap is None:
        raise PrecimedInputError("no heatmap to write", expected="an explained image")
    heat = np.asarray(result.heatmap, dtype=np.float32)
    rows, cols = int(source.Rows), int(source.Columns)
    if heat.shape != (rows, cols):
        raise PrecimedInputError(f"heatmap of shape {heat.shape}", expected=f"the image's {rows}×{cols}")
    if int(source.get("NumberOfFrames", 1) or 1) > 1:
        raise PrecimedInputError("a Parametric Map of one frame of a multi-frame image is not written",
                                 expected="a single-frame source image (the SR is still written)")
    limit = float(np.max(np.abs(heat))) or 1e-6
    unit = CodedConcept(value="1", scheme_designator="UCUM", meaning="no units")
    mapping = hd.pm.RealWorldValueMapping(
        lut_label="SHAP", lut_explanation=f"SHAP contribution to P({result.explained_class})"[:64],
        unit=unit, value_range=(float(heat.min()), float(heat.max())), slope=1.0, intercept=0.0,
        quantity_definition=_code("SHAP", f"SHAP value for P({result.explained_class})"))
    pm = hd.pm.ParametricMap(
        source_images=[source], pixel_array=heat[np.newaxis],
        series_instance_uid=series_uid or hd.UID(), series_number=SERIES_NUMBERS["PM"],
        sop_instance_uid=hd.UID(), instance_number=instance_number, manufacturer=MANUFACTURER,
        manufacturer_model_name=result.model_id[:64], software_versions=_software(),
        device_serial_number=result.weights_sha256[:16], contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        voi_lut_transformations=[hd.VOILUTTransformation(
            window_center=0.0, window_width=2 * limit, voi_lut_function="LINEAR_EXACT")],
        content_label="SHAP", content_description=f"PreciMed SHAP heatmap, {_NOT_CLINICAL}"[:64],
        series_description=f"PreciMed SHAP {result.model_id}"[:64])
    return _fix_type2(pm, source)


def has_patient_geometry(source: Any) -> bool:
    """True for a single-frame image placed in patient coordinates (Frame of Reference, Image
    Plane Module: CT, MR…); projection images (CR, DX, US) usually are not."""
    return all(source.get(kw) not in (None, "") for kw in (
        "FrameOfReferenceUID", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"))


def fractional_seg(source: Any, result: ModelResult, *, series_uid: str | None = None,
                   instance_number: int = 1) -> Any:
    """The heatmap's evidence toward the explained class as a fractional SEG (PS3.3 A.51):
    positive SHAP values scaled by their maximum to 0–1, on ``source``'s grid.

    For sources without patient geometry, where highdicom 0.28 cannot build a Parametric Map
    (its dimension index needs plane positions); SEG indexes frames by the source instead.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    _check_source(source)
    if result.heatmap is None:
        raise PrecimedInputError("no heatmap to write", expected="an explained image")
    heat = np.asarray(result.heatmap, dtype=np.float32)
    rows, cols = int(source.Rows), int(source.Columns)
    if heat.shape != (rows, cols):
        raise PrecimedInputError(f"heatmap of shape {heat.shape}", expected=f"the image's {rows}×{cols}")
    toward = np.clip(heat, 0, None)
    top = float(toward.max())
    fraction = (toward / top if top > 0 else toward).astype(np.float32)
    algorithm = hd.AlgorithmIdentificationSequence(
        name=result.model_name[:64], version=result.model_version[:64],
        family=codes.cid7162.ArtificialIntelligence,
        parameters={"model id": result.model_id, "weights SHA-256": result.weights_sha256[:64]})
    segment = hd.seg.SegmentDescription(
        segment_number=1, segment_label=f"SHAP toward {result.explained_class}"[:64],
        segmented_property_category=_code("EVIDENCE", "Model evidence"),
        segmented_property_type=_code("SHAP-POS", f"Evidence toward {result.explained_class}"),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algorithm)
    seg = hd.seg.Segmentation(
        source_images=[source], pixel_array=fraction[np.newaxis], segmentation_type="FRACTIONAL",
        segment_descriptions=[segment], series_instance_uid=series_uid or hd.UID(),
        series_number=SERIES_NUMBERS["SEG"], sop_instance_uid=hd.UID(), instance_number=instance_number,
        manufacturer=MANUFACTURER, manufacturer_model_name=result.model_id[:64],
        software_versions=_software(), device_serial_number=result.weights_sha256[:16],
        series_description=f"PreciMed SHAP {result.model_id}"[:64])
    if "PatientOrientation" not in seg:  # Type 2C in the General Image Module (dciodvfy)
        seg.PatientOrientation = list(_orientation(source) or []) or ""
    return seg


def heatmap_object(source: Any, result: ModelResult, *, series_uid: str | None = None,
                   instance_number: int = 1) -> Any:
    """A float Parametric Map where the source has patient geometry, else a fractional SEG."""
    build = parametric_map if has_patient_geometry(source) else fractional_seg
    return build(source, result, series_uid=series_uid, instance_number=instance_number)


def structured_report(source: Any, result: ModelResult, *, series_uid: str | None = None,
                      instance_number: int = 1) -> Any:
    """A TID 1500 Comprehensive 3D SR of the model's output for ``source``."""
    import highdicom as hd
    from highdicom.sr import (
        AlgorithmIdentification,
        CodedConcept,
        Comprehensive3DSR,
        DeviceObserverIdentifyingAttributes,
        Measurement,
        MeasurementReport,
        MeasurementsAndQualitativeEvaluations,
        ObservationContext,
        ObserverContext,
        QualitativeEvaluation,
        SourceImageForMeasurementGroup,
        TrackingIdentifier,
    )

    _check_source(source)
    algorithm = AlgorithmIdentification(
        name=result.model_name[:1024], version=result.model_version[:1024],  # TEXT (PS3.5 6.2)
        parameters=[f"model id {result.model_id}", f"weights SHA-256 {result.weights_sha256}"],
        manufacturer=MANUFACTURER)
    unit = CodedConcept(value="1", scheme_designator="UCUM", meaning="no units")
    measurements = [Measurement(name=_code(f"P-{_class_code(c).value}"[:16], f"Probability of {c}"),
                                value=float(p), unit=unit, algorithm_id=algorithm)
                    for c, p in result.probabilities.items()]
    if result.threshold is not None:
        measurements.append(Measurement(
            name=_code("THRESHOLD", f"Decision threshold on P({result.positive_class})"),
            value=float(result.threshold), unit=unit, algorithm_id=algorithm))
    frames = [result.frame_number] if result.frame_number else None
    group = MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=hd.UID(), identifier="PreciMed model output"),
        algorithm_id=algorithm, measurements=measurements,
        qualitative_evaluations=[QualitativeEvaluation(name=_code("DECISION", "Model decision"),
                                                       value=_class_code(result.decision))],
        source_images=[SourceImageForMeasurementGroup.from_source_image(source, frames)])
    device = DeviceObserverIdentifyingAttributes(
        uid=hd.UID(), name=f"PreciMed {result.model_id}"[:64], manufacturer_name=MANUFACTURER,
        model_name=result.model_id[:64])
    context = ObservationContext(observer_device_context=ObserverContext(
        observer_type=CodedConcept(value="121007", scheme_designator="DCM", meaning="Device"),
        observer_identifying_attributes=device))
    report = MeasurementReport(
        observation_context=context,
        procedure_reported=CodedConcept(value="363679005", scheme_designator="SCT", meaning="Imaging procedure"),
        imaging_measurements=[group])
    sr = Comprehensive3DSR(
        evidence=[source], content=report, series_instance_uid=series_uid or hd.UID(),
        series_number=SERIES_NUMBERS["SR"], sop_instance_uid=hd.UID(), instance_number=instance_number,
        manufacturer=MANUFACTURER, is_complete=True, is_final=False, is_verified=False,
        series_description=f"PreciMed {result.model_id} result, {_NOT_CLINICAL}"[:64])
    return sr


def overlay_rgb(rendered: np.ndarray, heatmap: np.ndarray, *, opacity: float = 0.55) -> np.ndarray:
    """The windowed 8-bit image with the heatmap blended on top, as on the page: vermillion
    toward the explained class, blue away, alpha growing with |value| (0 = image only)."""
    from precimed.plots import AWAY, TOWARD

    grey = np.asarray(rendered, dtype=np.float32)
    base = np.repeat(grey[..., np.newaxis], 3, axis=2) if grey.ndim == 2 else grey[..., :3]
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.shape != base.shape[:2]:
        raise PrecimedInputError(f"heatmap of shape {heat.shape}", expected=f"the image's {base.shape[:2]}")
    limit = float(np.max(np.abs(heat))) or 1.0
    alpha = (np.clip(np.abs(heat) / limit, 0, 1) * opacity)[..., np.newaxis]
    toward = np.array([int(TOWARD[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.float32)
    away = np.array([int(AWAY[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.float32)
    colour = np.where((heat >= 0)[..., np.newaxis], toward, away)
    return np.clip(base * (1 - alpha) + colour * alpha, 0, 255).astype(np.uint8)


def _orientation(source: Any) -> tuple[str, str] | None:
    """Patient Orientation (PS3.3 C.7.6.1.1.1): the source's, else from its direction cosines."""
    own = source.get("PatientOrientation")
    if own and len(own) == 2 and all(str(v) for v in own):
        return str(own[0]), str(own[1])
    iop = source.get("ImageOrientationPatient")
    if not iop or len(iop) != 6:
        return None
    names = (("L", "R"), ("P", "A"), ("H", "F"))

    def letter(vec: Any) -> str:
        axis = int(np.argmax(np.abs(vec)))
        return names[axis][0 if (vec[axis] >= 0) != (axis == 2) else 1]

    return letter(np.asarray(iop[:3], float)), letter(np.asarray(iop[3:], float))


def secondary_capture(source: Any, rgb: np.ndarray, result: ModelResult, *,
                      series_uid: str | None = None, instance_number: int = 1) -> Any:
    """The overlay as shown (RGB, 8 bits) as a Secondary Capture Image in ``source``'s study."""
    import highdicom as hd

    _check_source(source)
    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise PrecimedInputError(f"overlay of shape {img.shape}", expected="an RGB image (H, W, 3)")
    orientation = _orientation(source)
    if orientation is None:
        raise PrecimedInputError("the source image states no patient orientation",
                                 expected="Patient Orientation or Image Orientation (Patient), for the overlay")
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=source, pixel_array=img, photometric_interpretation="RGB", bits_allocated=8,
        coordinate_system="PATIENT", series_instance_uid=series_uid or hd.UID(),
        series_number=SERIES_NUMBERS["SC"], sop_instance_uid=hd.UID(), instance_number=instance_number,
        manufacturer=MANUFACTURER, patient_orientation=orientation,
        series_description=f"PreciMed overlay {result.model_id}, {_NOT_CLINICAL}"[:64])
    sc.BurnedInAnnotation = "NO"
    return _fix_type2(sc, source)


def result_objects(source: Any, result: ModelResult, *, overlay: np.ndarray | None = None,
                   plan: SeriesPlan | None = None, instance_number: int = 1) -> list[Any]:
    """The SR, the heatmap (single-frame sources: a Parametric Map, or a fractional SEG for
    images without patient geometry) and, given ``overlay`` (RGB), the Secondary Capture."""
    plan = plan or SeriesPlan()
    with _quiet():
        objs = [structured_report(source, result, series_uid=plan.uid("SR"), instance_number=instance_number)]
        if result.heatmap is not None and int(source.get("NumberOfFrames", 1) or 1) == 1:
            heat_kind = "PM" if has_patient_geometry(source) else "SEG"
            objs.append(heatmap_object(source, result, series_uid=plan.uid(heat_kind),
                                       instance_number=instance_number))
        if overlay is not None:
            objs.append(secondary_capture(source, overlay, result, series_uid=plan.uid("SC"),
                                          instance_number=instance_number))
    return objs


def to_bytes(ds: Any) -> bytes:
    """A PS3.10 file (preamble, file meta) in memory, for download or storage."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


KINDS = {"1.2.840.10008.5.1.4.1.1.88.34": "sr", "1.2.840.10008.5.1.4.1.1.30": "pm",
         "1.2.840.10008.5.1.4.1.1.66.4": "seg", "1.2.840.10008.5.1.4.1.1.7": "sc"}
DESCRIPTIONS = {"sr": "structured report (TID 1500)", "pm": "Parametric Map (SHAP heatmap)",
                "seg": "fractional SEG (SHAP toward the class)", "sc": "Secondary Capture (overlay)"}


def kind(ds: Any) -> str:
    """``"sr"``, ``"pm"`` or ``"sc"`` (by SOP Class), ``"obj"`` for anything else."""
    return KINDS.get(str(ds.get("SOPClassUID", "")), "obj")


def file_name(ds: Any) -> str:
    return f"precimed_{kind(ds)}_{ds.SOPInstanceUID}.dcm"


def read_probabilities(sr: Any) -> dict[str, float]:
    """Class probabilities back from an SR this module wrote (for checks and tests)."""
    out: dict[str, float] = {}
    for item in _walk(sr.ContentSequence):
        if item.get("ValueType") == "NUM":
            meaning = str(item.ConceptNameCodeSequence[0].CodeMeaning)
            if meaning.startswith("Probability of "):
                out[meaning[len("Probability of "):]] = float(item.MeasuredValueSequence[0].NumericValue)
    return out


def _walk(seq: Sequence[Any]) -> list[Any]:
    items: list[Any] = []
    for item in seq:
        items.append(item)
        if "ContentSequence" in item:
            items.extend(_walk(item.ContentSequence))
    return items
