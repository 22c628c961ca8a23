"""Burned-in text (precimed/dicom/deid.py): images that may show a name in their pixels
(BurnedInAnnotation YES, ultrasound, secondary capture) are flagged, and the de-identified export
refuses them unless the caller acknowledges that the pixels leave unchanged; the export never
claims pixel cleaning. Checked in the engine, the CLI and the Imaging page."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
from helpers_dicom import data_file

from precimed.dicom.deid import BurnedInTextError, burned_in_text_risk, deidentify_bytes

NAME = "DOE^JANE"


def _burned_in_name() -> np.ndarray:
    """A 64×256 8-bit image with the patient's name drawn into its pixels."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (256, 64), 0)
    ImageDraw.Draw(img).text((8, 24), f"{NAME} 1970-01-01 MRN 0042", fill=255)
    return np.asarray(img)


def secondary_capture() -> bytes:
    """A real Secondary Capture Image Storage object (PS3.3 A.8.1) with a burned-in name."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    pixels = _burned_in_name()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality, ds.ConversionType = NAME, "0042", "OT", "WSD"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = pixels.tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def ct_marked_burned_in() -> bytes:
    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    ds.BurnedInAnnotation = "YES"
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()


CASES = {"sc.dcm": (secondary_capture, "secondary capture"),
         "us.dcm": (lambda: data_file("US1_UNCI.dcm").read_bytes(), "ultrasound"),
         "ct-yes.dcm": (ct_marked_burned_in, "Burned In Annotation (0028,0301) is YES")}


@pytest.mark.parametrize("name", CASES)
def test_flagged_images_are_refused_then_exported_unchanged_with_acknowledgement(name: str) -> None:
    make, why = CASES[name]
    raw = make()
    assert any(why in r for r in burned_in_text_risk(pydicom.dcmread(io.BytesIO(raw))))
    with pytest.raises(BurnedInTextError, match=f"^{re.escape(name)}: may carry burned-in text "
                                                f".*{re.escape(why)}.*would not be de-identified"):
        deidentify_bytes(raw, name)
    out = pydicom.dcmread(io.BytesIO(deidentify_bytes(raw, name, allow_burned_in_text=True)))
    assert out.PatientIdentityRemoved == "YES" and str(out.PatientName) != NAME
    # no claim of pixel cleaning: the method says so, and Clean Pixel Data (113101) is absent
    assert "pixels not cleaned" in out.DeidentificationMethod
    codes = [c.CodeValue for c in out.DeidentificationMethodCodeSequence]
    assert codes == ["113100"]
    before = pydicom.dcmread(io.BytesIO(raw))
    assert np.array_equal(out.pixel_array, before.pixel_array)  # exported unchanged, as told


def test_the_burned_in_name_really_is_in_the_pixels() -> None:
    pixels = pydicom.dcmread(io.BytesIO(secondary_capture())).pixel_array
    assert pixels.max() > 200 and 50 < int((pixels > 0).sum()) < 5000  # text strokes


def test_plain_ct_is_not_flagged() -> None:
    raw = data_file("CT_small.dcm").read_bytes()
    assert burned_in_text_risk(pydicom.dcmread(io.BytesIO(raw))) == []
    assert pydicom.dcmread(io.BytesIO(deidentify_bytes(raw, "ct.dcm"))).PatientIdentityRemoved == "YES"


def test_cli_refuses_without_the_flag(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in" / "sc.dcm"
    src.parent.mkdir()
    src.write_bytes(secondary_capture())
    out = tmp_path / "out"
    refused = cli("deidentify", str(src), "--out", str(out))
    assert refused.code == 2 and refused.stderr.startswith("error: sc.dcm: may carry burned-in text")
    assert "--allow-burned-in-text" in refused.stderr and not out.exists()
    done = cli("deidentify", str(src), "--out", str(out), "--allow-burned-in-text", "--json")
    assert done.code == 0, done.stderr
    result = done.json()
    assert result["pixels_cleaned"] is False and list(result["burned_in_text_not_removed"]) == ["sc.dcm"]
    assert NAME not in (out / "deidentified_sc.dcm").read_bytes().decode("latin-1")


def test_imaging_page_export_asks_before_a_flagged_image() -> None:
    """The Imaging page's export view (pages/_deid_export.py), run on its own (the page around it
    would load TensorFlow and run the CNN first)."""
    from streamlit.testing.v1 import AppTest

    root = Path(__file__).resolve().parents[2]
    script = (f"import sys; sys.path[:0] = [{str(root)!r}, {str(Path(__file__).parent)!r}]\n"
              "from test_burned_in import secondary_capture\n"
              "from pages._deid_export import deidentified_download\n"
              "deidentified_download('sc.dcm', secondary_capture())\n")
    at = AppTest.from_string(script, default_timeout=60)
    at.run()
    assert not at.exception
    assert any("burned-in text" in w.value and "secondary capture" in w.value for w in at.warning)
    assert not at.get("download_button")
    assert any("Tick the box" in c.value for c in at.caption)
    at.checkbox(key="imaging_deid_ack").check().run()
    assert not at.exception and len(at.get("download_button")) == 1
    assert any("pixels unchanged" in c.value for c in at.caption)
