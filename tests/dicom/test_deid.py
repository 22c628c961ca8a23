"""PS3.15 Basic Application Level Confidentiality Profile: masking for display, export."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from helpers_dicom import data_file

from precimed.dicom import deidentify_bytes, deidentify_files, load_bytes, metadata_rows
from precimed.dicom.deid import MASK, is_identifying
from precimed.errors import DicomInputError

# A sample of PS3.15 Table E.1-1 entries (Basic Profile action in brackets).
IDENTIFYING = ["PatientName", "PatientID", "PatientBirthDate", "StudyDate", "StudyTime",
               "AccessionNumber", "InstitutionName", "ReferringPhysicianName", "StudyInstanceUID",
               "SOPInstanceUID", "OperatorsName", "StationName", "DeviceSerialNumber",
               "StudyDescription", "PatientAge", "OtherPatientIDs"]
KEPT = ["Modality", "Rows", "Columns", "PixelSpacing", "RescaleSlope", "WindowCenter",
        "PhotometricInterpretation", "SOPClassUID", "BitsStored", "ImageOrientationPatient"]


def _ds(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(data_file(name))


@pytest.mark.parametrize("keyword", IDENTIFYING)
def test_table_e11_attributes_are_identifying(keyword: str) -> None:
    from pydicom.datadict import tag_for_keyword

    assert is_identifying(int(tag_for_keyword(keyword)))


@pytest.mark.parametrize("keyword", KEPT)
def test_image_attributes_are_not(keyword: str) -> None:
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    tag = int(tag_for_keyword(keyword))
    assert not is_identifying(tag, dictionary_VR(tag))


def test_private_tags_person_names_and_overlays_are_identifying() -> None:
    assert is_identifying(0x00091001)  # private group
    assert is_identifying(0x00400006, "PN")  # Scheduled Performing Physician's Name
    assert is_identifying(0x60003000)  # Overlay Data (repeating group 60xx)
    assert is_identifying(0x60023000)


def test_metadata_is_masked_by_default_and_revealed_on_request() -> None:
    ds = _ds("CT_small.dcm")
    rows = {r.keyword: r for r in metadata_rows(ds)}
    assert rows["PatientName"].value == MASK and rows["PatientName"].identifying
    assert rows["PatientID"].value == MASK
    assert rows["Modality"].value == "CT" and not rows["Modality"].identifying
    shown = {r.keyword: r for r in metadata_rows(ds, reveal=True)}
    assert shown["PatientName"].value == str(ds.PatientName)
    assert "PixelData" not in rows  # pixel data never listed
    masked = [r.keyword for r in metadata_rows(ds) if r.value == MASK]
    assert str(ds.PatientName) not in " ".join(r.value for r in metadata_rows(ds))
    assert len(masked) >= 10


def test_export_applies_the_profile_and_keeps_the_image() -> None:
    raw = data_file("CT_small.dcm").read_bytes()
    src = pydicom.dcmread(io.BytesIO(raw))
    out = pydicom.dcmread(io.BytesIO(deidentify_bytes(raw, "ct.dcm")))
    assert out.PatientIdentityRemoved == "YES"
    assert out.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert str(out.get("PatientName", "")) in ("", "ANONYMIZED")
    assert str(out.get("PatientID", "")) in ("", "ANONYMIZED")
    assert "PatientBirthDate" not in out or out.PatientBirthDate in ("", "00010101")
    assert str(out.get("InstitutionName", "")) in ("", "ANONYMIZED")  # X/Z/D: replaced
    assert out.SOPInstanceUID != src.SOPInstanceUID
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert out.StudyInstanceUID != src.StudyInstanceUID
    assert out.SOPClassUID == src.SOPClassUID and out.Modality == "CT"
    assert not any(e.tag.is_private for e in out)
    np.testing.assert_array_equal(out.pixel_array, src.pixel_array)
    # the exported file loads in PreciMed, and nothing identifying is left to mask
    frame = load_bytes(deidentify_bytes(raw, "ct.dcm"), "ct.dcm").frames[0]
    left = [r for r in metadata_rows(frame.header, reveal=True) if r.identifying
            and r.value not in ("", "ANONYMIZED", "00010101", "000000.00")
            and not (r.vr == "UI" and r.value.startswith("2.25."))  # freshly generated UIDs
            and r.keyword not in ("PatientIdentityRemoved", "DeidentificationMethod",
                                  "DeidentificationMethodCodeSequence")]
    assert left == [], [(r.keyword, r.value) for r in left]


def test_uids_stay_consistent_across_a_series_and_change_between_exports() -> None:
    raw = data_file("CT_small.dcm").read_bytes()
    twice = deidentify_files({"a.dcm": raw, "b.dcm": raw})
    a, b = (pydicom.dcmread(io.BytesIO(twice[k])) for k in ("a.dcm", "b.dcm"))
    assert a.StudyInstanceUID == b.StudyInstanceUID  # same study stays one study
    again = pydicom.dcmread(io.BytesIO(deidentify_bytes(raw, "a.dcm")))
    assert again.StudyInstanceUID != a.StudyInstanceUID  # no mapping kept between exports


def test_a_file_that_cannot_be_read_is_named() -> None:
    with pytest.raises(DicomInputError, match="^junk.dcm: could not be de-identified"):
        deidentify_bytes(b"\x00\x01", "junk.dcm")


@pytest.mark.parametrize("name", ["MR_small.dcm", "RG1_J2KI.dcm", "emri_small.dcm",
                                  "MR-SIEMENS-DICOM-WithOverlays.dcm", "US1_UNCI.dcm"])
def test_export_works_on_other_real_files(name: str) -> None:
    raw = data_file(name).read_bytes()
    allow = name.startswith("US")  # ultrasound: exported only with the burned-in acknowledgement
    out = pydicom.dcmread(io.BytesIO(deidentify_bytes(raw, name, allow_burned_in_text=allow)))
    assert out.PatientIdentityRemoved == "YES"
    assert load_bytes(deidentify_bytes(raw, name, allow_burned_in_text=allow), name).frames
