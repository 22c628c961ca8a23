"""QIDO-RS query keys and results (PS3.18 10.6): filters in, studies and series out.

Pure functions over DICOM JSON (PS3.18 F.2), no network: the client sends the filters and
parses the replies with these.

Example:
    >>> study_filters(patient_id="PAT-1", study_date="20240101-")
    {'PatientID': 'PAT-1', 'StudyDate': '20240101-'}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from precimed.errors import PrecimedInputError

_DATE = re.compile(r"^(\d{8})?(-)?(\d{8})?$")
_MODALITY = re.compile(r"^[A-Z0-9_]{1,16}$")
# QIDO matching treats these as wildcards (PS3.4 C.2.2.2.4); a typed ID is matched literally.
_WILDCARDS = set("*?\\")


def value(item: dict[str, Any], keyword: str, default: Any = None) -> Any:
    """The first value of ``keyword`` in a DICOM JSON object (``default`` when absent)."""
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    elem = item.get(f"{tag:08X}") if tag is not None else None
    vals = elem.get("Value") if isinstance(elem, dict) else None
    if not vals:
        return default
    first = vals[0]
    if isinstance(first, dict) and "Alphabetic" in first:  # PN
        return first["Alphabetic"]
    return first


def values(item: dict[str, Any], keyword: str) -> list[Any]:
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    elem = item.get(f"{tag:08X}") if tag is not None else None
    return list(elem.get("Value") or []) if isinstance(elem, dict) else []


def _valid_date(text: str) -> bool:
    import datetime

    try:
        datetime.datetime.strptime(text, "%Y%m%d")
    except ValueError:
        return False
    return True


def study_filters(*, patient_id: str | None = None, accession: str | None = None,
                  study_date: str | None = None, modality: str | None = None) -> dict[str, str]:
    """QIDO-RS search filters for a study search; values are checked, not passed blindly.

    Raises:
        PrecimedInputError: a date that is not ``YYYYMMDD[-YYYYMMDD]``, a wildcard in an ID,
            a modality that is not a DICOM modality code.
    """
    filters: dict[str, str] = {}
    for key, raw in (("PatientID", patient_id), ("AccessionNumber", accession)):
        text = (raw or "").strip()
        if not text:
            continue
        if _WILDCARDS & set(text) or len(text) > 64:
            raise PrecimedInputError(f"{key} filter contains a wildcard or is over 64 characters",
                                     expected="an exact ID (at most 64 characters, no * ? \\)")
        filters[key] = text
    if study_date and study_date.strip():
        text = study_date.strip()
        m = _DATE.match(text)
        if (not m or not (m.group(1) or m.group(3)) or (m.group(3) and not m.group(2))
                or not all(_valid_date(d) for d in (m.group(1), m.group(3)) if d)
                or (m.group(1) and m.group(3) and m.group(1) > m.group(3))):
            raise PrecimedInputError(f"study date '{text}' is not a date or a date range",
                                     expected="YYYYMMDD or YYYYMMDD-YYYYMMDD (either end may be left open)")
        filters["StudyDate"] = text
    if modality and modality.strip():
        text = modality.strip().upper()
        if not _MODALITY.match(text):
            raise PrecimedInputError(f"modality '{modality}' is not a DICOM modality code",
                                     expected="a code such as CT, MR, CR, DX")
        filters["ModalitiesInStudy"] = text
    return filters


@dataclass(frozen=True)
class SeriesInfo:
    """One series as the PACS lists it."""

    series_uid: str
    modality: str
    instances: int | None
    number: int | None = None
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"series_uid": self.series_uid, "modality": self.modality, "instances": self.instances}


@dataclass(frozen=True)
class StudyInfo:
    """One study as the PACS lists it; ``patient_id``, ``accession`` and ``description`` are
    for the page's picker only (the command's JSON has the shape in shared/CONVENTIONS.md)."""

    study_uid: str
    study_date: str
    modalities: tuple[str, ...]
    series: tuple[SeriesInfo, ...] = ()
    patient_id: str = ""
    accession: str = ""
    description: str = ""

    def with_series(self, series: list[SeriesInfo]) -> StudyInfo:
        mods = tuple(sorted(set(self.modalities) | {s.modality for s in series if s.modality}))
        return replace(self, series=tuple(series), modalities=mods)

    def to_json(self) -> dict[str, Any]:
        return {"study_uid": self.study_uid, "study_date": self.study_date,
                "modalities": list(self.modalities), "series": [s.to_json() for s in self.series]}

    def label(self) -> str:
        """A one-line description for a picker."""
        date = self.study_date
        shown = f"{date[:4]}-{date[4:6]}-{date[6:]}" if len(date) == 8 else (date or "no date")
        parts = [shown, "/".join(self.modalities) or "?", self.description or "(no description)"]
        if self.accession:
            parts.append(f"acc. {self.accession}")
        return " · ".join(parts) + f" · {len(self.series)} series"


def _int(x: Any) -> int | None:
    try:
        return int(x)
    except (TypeError, ValueError):
        return None


def study_from_json(item: dict[str, Any]) -> StudyInfo:
    uid = value(item, "StudyInstanceUID")
    if not uid:
        raise ValueError("a study without Study Instance UID")
    return StudyInfo(study_uid=str(uid), study_date=str(value(item, "StudyDate", "") or ""),
                     modalities=tuple(sorted({str(m) for m in values(item, "ModalitiesInStudy") if m})),
                     patient_id=str(value(item, "PatientID", "") or ""),
                     accession=str(value(item, "AccessionNumber", "") or ""),
                     description=str(value(item, "StudyDescription", "") or ""))


def series_from_json(item: dict[str, Any]) -> SeriesInfo:
    uid = value(item, "SeriesInstanceUID")
    if not uid:
        raise ValueError("a series without Series Instance UID")
    return SeriesInfo(series_uid=str(uid), modality=str(value(item, "Modality", "") or ""),
                      instances=_int(value(item, "NumberOfSeriesRelatedInstances")),
                      number=_int(value(item, "SeriesNumber")),
                      description=str(value(item, "SeriesDescription", "") or ""))


def decoded_bytes(item: dict[str, Any]) -> int | None:
    """Bytes one instance's pixel data would decode to, from its QIDO attributes (``None`` when
    the server did not return Rows/Columns): the upload's decode limit, checked before download."""
    rows, cols = _int(value(item, "Rows")), _int(value(item, "Columns"))
    if rows is None or cols is None:
        return None
    frames = _int(value(item, "NumberOfFrames")) or 1
    spp = _int(value(item, "SamplesPerPixel")) or 1
    bits = _int(value(item, "BitsAllocated")) or 16
    return rows * cols * frames * spp * max(bits // 8, 1)
