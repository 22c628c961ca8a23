"""De-identification: mask identifying attributes for display; export a de-identified copy.

Both follow the DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile, whose
attribute list and actions are Table E.1-1. That table is not re-typed here: it comes from
the maintained ``dicom-anonymizer`` package (Kitware, BSD-3), which ships Table E.1-1 scraped
from the standard (database ``dicomfields_2026c``) and applies its action codes (D, Z, X, U and
the combined codes) with pydicom. Alternatives considered: pydicom has no profile of its own;
``dicognito`` replaces values with plausible fakes but does not follow Table E.1-1 (it keeps
descriptions and private attributes); ``deid``'s default recipe is mostly burned-in pixel
filters; ``idiscore`` is GPL-3.0, which this Apache-2.0 project cannot ship.

Display masking: an attribute is masked if Table E.1-1 lists it (any action other than keep),
if it is private (the profile removes private attributes), or if its VR is PN (a person's
name, wherever it appears). Export: the profile's actions, private attributes removed,
Patient Identity Removed = YES and the De-identification Method (Code Sequence, DCM 113100)
recorded as PS3.15 E.1.1 asks.

Burned-in text in the pixels is *not* removed (the Clean Pixel Data Option, PS3.15 E.3.1, is
not implemented, and the export never claims it: the method says "pixels not cleaned" and code
113101 is not recorded). Instead, images that may carry burned-in text are flagged
(:func:`burned_in_text_risk`: BurnedInAnnotation (0028,0301) YES, ultrasound, secondary
capture) and :func:`deidentify_files` refuses to export them unless the caller acknowledges
that their pixels leave unchanged (the Imaging page's checkbox, ``precimed deidentify
--allow-burned-in-text``).
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

from precimed.errors import DicomInputError

TABLE_VERSION = "dicomfields_2026c"
MASK = "•••••• (masked: PS3.15 identifying attribute)"
METHOD = "PS3.15 E.1 Basic Profile; private removed; pixels not cleaned"  # LO: ≤ 64 chars
_LOCK = threading.Lock()  # dicom-anonymizer keeps its old→new UID map in a module global
ACKNOWLEDGE = ("acknowledge that these pixels are exported unchanged and may show a name or "
               "ID (Imaging page checkbox; `precimed deidentify --allow-burned-in-text`)")
# PS3.4 Annex B SOP classes whose images often carry burned-in text.
_SECONDARY_CAPTURE = ("1.2.840.10008.5.1.4.1.1.7",)  # SC and its multi-frame .7.1-.7.4
_ULTRASOUND = ("1.2.840.10008.5.1.4.1.1.6", "1.2.840.10008.5.1.4.1.1.3")  # US, US multi-frame


class BurnedInTextError(DicomInputError):
    """An export of images that may carry burned-in text, without the acknowledgement."""


def burned_in_text_risk(ds: Any) -> list[str]:
    """Why the pixels of ``ds`` may show identifying text; empty when nothing suggests it.

    Example:
        >>> from pydicom import Dataset
        >>> ds = Dataset(); ds.Modality = "US"
        >>> burned_in_text_risk(ds)  # doctest: +ELLIPSIS
        ['ultrasound (...)']
    """
    reasons: list[str] = []
    if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        reasons.append("Burned In Annotation (0028,0301) is YES")
    sop = str(ds.get("SOPClassUID", ""))
    if str(ds.get("Modality", "")).upper() == "US" or sop.startswith(_ULTRASOUND):
        reasons.append("ultrasound (names, dates and calipers are often burned into the image)")
    if sop.startswith(_SECONDARY_CAPTURE) or "ConversionType" in ds:
        reasons.append("secondary capture (screenshots and scanned pages often show names)")
    return reasons


@cache
def profile_tags() -> tuple[frozenset[int], tuple[tuple[int, int, int, int], ...]]:
    """Table E.1-1's attributes: single tags as ints, repeating groups as (group, elem, masks)."""
    from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector

    table = dicom_anonymization_database_selector(TABLE_VERSION)
    singles: set[int] = set()
    ranges: list[tuple[int, int, int, int]] = []
    for tag in table["ALL_TAGS"]:
        if len(tag) == 2:
            singles.add((tag[0] << 16) | tag[1])
        else:
            ranges.append((tag[0], tag[1], tag[2], tag[3]))
    return frozenset(singles), tuple(ranges)


def is_identifying(tag: int, vr: str = "") -> bool:
    """True if PS3.15 Table E.1-1 lists ``tag``, it is private, or its VR is PN."""
    group, elem = tag >> 16, tag & 0xFFFF
    if group % 2 == 1 or vr == "PN":
        return True
    singles, ranges = profile_tags()
    if tag in singles:
        return True
    return any((group & gm) == (g & gm) and (elem & em) == (e & em) for g, e, gm, em in ranges)


@dataclass(frozen=True)
class MetaRow:
    """One attribute for the metadata panel."""

    tag: str
    keyword: str
    vr: str
    value: str
    identifying: bool


def _show(elem: Any, limit: int = 120) -> str:
    if elem.VR == "SQ":
        return f"<sequence of {len(elem.value)} item(s)>"
    if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") or isinstance(elem.value, bytes):
        n = len(elem.value) if elem.value is not None else 0
        return f"<{n:,} bytes>"
    text = str(elem.value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def metadata_rows(ds: Any, *, reveal: bool = False) -> list[MetaRow]:
    """Top-level attributes (file meta first) with identifying values masked unless ``reveal``.

    Sequences are summarised, not expanded, so nothing inside them is shown.

    Example:
        >>> from pydicom import Dataset
        >>> ds = Dataset(); ds.PatientName = "Doe^Jane"; ds.Modality = "CT"
        >>> [(r.keyword, r.value) for r in metadata_rows(ds)]  # doctest: +ELLIPSIS
        [('Modality', 'CT'), ('PatientName', '•••••• (masked: ...)')]
    """
    rows: list[MetaRow] = []
    elements = list(getattr(ds, "file_meta", None) or []) + list(ds)
    for elem in elements:
        if elem.keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
            continue
        ident = is_identifying(int(elem.tag), elem.VR)
        value = MASK if ident and not reveal else _show(elem)
        rows.append(MetaRow(f"({elem.tag.group:04X},{elem.tag.element:04X})",
                            elem.keyword or ("private" if elem.tag.is_private else "unknown"),
                            str(elem.VR), value, ident))
    return rows


def _record_method(ds: Any) -> None:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = Sequence([code])


def _deidentify_dataset(ds: Any) -> None:
    from dicomanonymizer import simpledicomanonymizer as sda

    sda.anonymize_dataset(ds, delete_private_tags=True,
                          base_rules_gen=lambda: sda.initialize_actions(TABLE_VERSION))
    _record_method(ds)
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


def burned_in_report(files: dict[str, bytes]) -> dict[str, list[str]]:
    """:func:`burned_in_text_risk` for each readable file that has a reason (headers only)."""
    import pydicom

    flagged: dict[str, list[str]] = {}
    for name, data in files.items():
        try:
            ds = pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - unreadable files fail in deidentify_files, named
            continue
        reasons = burned_in_text_risk(ds)
        if reasons:
            flagged[name] = reasons
    return flagged


def deidentify_files(files: dict[str, bytes], *,
                     allow_burned_in_text: bool = False) -> dict[str, bytes]:
    """De-identified copies of DICOM files, with new UIDs consistent across the set.

    Args:
        files: DICOM bytes by name.
        allow_burned_in_text: export images that may carry burned-in text (their pixels are
            not cleaned); without it they are refused.

    Raises:
        BurnedInTextError: an image may carry burned-in text and it was not acknowledged.
        DicomInputError: a file that cannot be read or de-identified (named).

    Example:
        >>> from pydicom.data import get_testdata_file
        >>> import pydicom, io
        >>> raw = open(get_testdata_file("CT_small.dcm", download=False), "rb").read()
        >>> out = deidentify_files({"ct.dcm": raw})["ct.dcm"]
        >>> ds = pydicom.dcmread(io.BytesIO(out))
        >>> str(ds.PatientName), ds.PatientIdentityRemoved
        ('', 'YES')
    """
    import pydicom
    from dicomanonymizer import simpledicomanonymizer as sda

    flagged = burned_in_report(files)
    if flagged and not allow_burned_in_text:
        first, reasons = next(iter(flagged.items()))
        more = f" and {len(flagged) - 1} other file(s)" if len(flagged) > 1 else ""
        raise BurnedInTextError(
            f"{first}{more}: may carry burned-in text ({'; '.join(reasons)}); PreciMed does not "
            "clean pixels, so the export would not be de-identified", expected=ACKNOWLEDGE)
    out: dict[str, bytes] = {}
    with _LOCK:
        sda.dictionary.clear()  # the UID map must not outlive this call (nor leak across users)
        try:
            for name, data in files.items():
                try:
                    ds = pydicom.dcmread(io.BytesIO(data), force=True)
                    _deidentify_dataset(ds)
                    buf = io.BytesIO()
                    ds.save_as(buf, enforce_file_format=True)
                except Exception as exc:  # anonymizer raises NotImplementedError for rare VRs
                    raise DicomInputError(
                        f"{name}: could not be de-identified ({type(exc).__name__}: {exc})",
                        expected="a DICOM file pydicom can read and write") from None
                out[name] = buf.getvalue()
        finally:
            sda.dictionary.clear()
    return out


def deidentify_bytes(data: bytes, name: str, *, allow_burned_in_text: bool = False) -> bytes:
    """A de-identified copy of one DICOM file (see :func:`deidentify_files`)."""
    return deidentify_files({name: data}, allow_burned_in_text=allow_burned_in_text)[name]
