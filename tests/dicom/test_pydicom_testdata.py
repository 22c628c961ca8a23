"""Every file shipped by pydicom and pydicom-data either loads and renders, or fails cleanly.

"Cleanly" means a DicomInputError whose message names the file, says why, and says what is
expected — never another exception. The files expected to fail are listed by name with the
reason they fail, so a file that silently stops loading (or starts loading garbage) fails here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers_dicom import pydicom_test_files

from precimed.dicom import load_bytes, load_path, render
from precimed.errors import DicomInputError

FILES = pydicom_test_files()

# name → the words the error must contain
EXPECTED_FAILURES = {
    "ExplVR_BigEndNoMeta.dcm": "radiotherapy plan",
    "ExplVR_LitEndNoMeta.dcm": "radiotherapy plan",
    "rtplan.dcm": "radiotherapy plan",
    "rtplan_truncated.dcm": "radiotherapy plan",
    "rtstruct.dcm": "structure set",
    "reportsi.dcm": "structured report",
    "reportsi_with_empty_number_tags.dcm": "structured report",
    "test-SR.dcm": "structured report",
    "waveform_ecg.dcm": "ECG waveform",
    "JPEG-lossy.dcm": "cannot be decoded",  # broken JPEG stream: every decoder refuses it
    "JPEG2000-embedded-sequence-delimiter.dcm": "cannot be decoded",
    "MR_truncated.dcm": "less than expected",
    "emri_small_jpeg_2k_lossless_too_short.dcm": "truncated",
    "badVR.dcm": "invalid",  # NumberOfFrames '1A'
    "meta_missing_tsyntax.dcm": "lacks Rows",
    "nested_priv_SQ.dcm": "lacks Rows",
    "UN_sequence.dcm": "no pixel data",
    "empty_charset_LEI.dcm": "no pixel data",
    "no_meta_group_length.dcm": "no pixel data",
    "priv_SQ.dcm": "no pixel data",
    "no_meta.dcm": "not a DICOM file",
    "DICOMDIR-bigEnd": "DICOMDIR",
    "DICOMDIR-empty.dcm": "DICOMDIR",
    "DICOMDIR-implicit": "DICOMDIR",
    "DICOMDIR-nooffset": "DICOMDIR",
    "DICOMDIR-nopatient": "DICOMDIR",
    "DICOMDIR-reordered": "DICOMDIR",
    "README": "not a DICOM file",
    "README.txt": "not a DICOM file",
    "crayons.icc": "not a DICOM file",
    "rtplan.dump": "not a DICOM file",
    "rtstruct.dump": "not a DICOM file",
    "test1.json": "not a DICOM file",
    "test_PN.json": "not a DICOM file",
    "zipMR.gz": "not a DICOM file",
}


def expected_failure(path: Path) -> str | None:
    if path.parent.name == "SE000000" and path.name.startswith("IM0"):
        return "no pixel data"  # TINY_ALPHA slices: headers only
    if path.name == "DICOMDIR" and path.parent.name == "TINY_ALPHA":
        return "no pixel data"  # its index is fine, the files it references carry no pixels
    return EXPECTED_FAILURES.get(path.name)


def test_the_listing_is_offline_and_complete() -> None:
    names = {p.name for p in FILES}
    # pydicom's own files and pydicom-data's larger ones are both there
    assert {"CT_small.dcm", "MR_small.dcm", "waveform_ecg.dcm"} <= names
    assert {"RG1_UNCI.dcm", "MR2_J2KR.dcm", "color3d_jpeg_baseline.dcm"} <= names
    assert len(FILES) > 200


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_file_loads_and_renders_or_fails_cleanly(path: Path) -> None:
    why = expected_failure(path)
    if why is not None:
        with pytest.raises(DicomInputError) as info:
            load_path(path)
        message = str(info.value)
        assert message.startswith(f"{path.name}:"), message
        assert why in message, message
        assert "(expected:" in message
        return
    result = load_path(path)
    assert result.frames and not result.errors
    if path.name == "DICOMDIR":  # dicomdirtests: the index and the 31 images it references
        assert len(result.frames) == 31
        assert result.frames[0].source == "77654033/CR1/6154"
        return
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    assert len(result.frames) == int(ds.get("NumberOfFrames", 1) or 1)
    for frame in result.frames[:4]:
        out = render(frame)
        assert out.dtype == np.uint8
        assert out.shape[:2] == (int(ds.Rows), int(ds.Columns))
        assert out.ndim == (3 if frame.is_color else 2)
        assert frame.label == (path.name if len(result.frames) == 1 else f"{path.name}#{frame.frame}")


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_RLE.dcm", "JPEG2000.dcm", "SC_rgb_jpeg_gdcm.dcm"])
def test_damaged_copies_load_or_fail_cleanly(name: str) -> None:
    """Truncations and flipped bytes of real files: a clean DicomInputError, never another
    exception (a smoke test; the fuzz suite goes further)."""
    from pydicom.data import get_testdata_file

    data = Path(get_testdata_file(name, download=False)).read_bytes()
    rng = np.random.default_rng(7)
    variants = [data[:n] for n in rng.integers(1, len(data), 15)]
    for _ in range(25):
        buf = bytearray(data)
        for pos in rng.integers(0, len(buf), 8):
            buf[pos] = int(rng.integers(0, 256))
        variants.append(bytes(buf))
    for blob in variants:
        try:
            result = load_bytes(blob, name)
        except DicomInputError as exc:
            assert str(exc).startswith(f"{name}:")
            continue
        for frame in result.frames:
            render(frame)
