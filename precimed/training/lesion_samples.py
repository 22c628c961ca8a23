"""Sample DICOM files of ``lesion-cnn-synthetic``: real held-out images, and copies of real
files with a simulated lesion written into their pixels at native resolution.

A file with a lesion written into it goes through exactly what the app does to any upload
(decoding, the card's preprocessing), which is how an external evaluation would run the model.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from precimed.imaging.preprocess import _resize
from precimed.training.lesion_data import SIZE, pydicom_path
from precimed.training.lesion_generator import draw_profile, lobulated_distance


@dataclass
class LesionDraw:
    """One lobulated lesion, on the 64 × 64 model grid (centre, radii, angle, lobes, edge width
    in model pixels, contrast as a fraction of the image's 0.5–99.5 percentile range)."""

    cy: float
    cx: float
    ry: float
    rx: float
    theta: float
    lobes: tuple[float, int, float]
    edge: float
    contrast: float


def lesion_profile(shape: tuple[int, int], les: LesionDraw, sy: float, sx: float) -> np.ndarray:
    """The lesion's profile (0–1) at an image's native resolution (scale sy, sx)."""
    amp, k, phase = les.lobes
    d = lobulated_distance(shape, (les.cy + 0.5) * sy - 0.5, (les.cx + 0.5) * sx - 0.5,
                           les.ry * sy, les.rx * sx, les.theta, amp, k, phase)
    r_mean = (les.ry * sy + les.rx * sx) / 2.0
    return 1.0 / (1.0 + np.exp(np.clip((d - 1.0) * r_mean / (les.edge * sy), -50, 50)))


def insert_into_dicom(data: bytes, profile_fn: object, contrast: float, note: str) -> bytes:
    """A copy of a single-frame greyscale DICOM file with ``contrast`` × (0.5–99.5 percentile
    range) × profile added to its pixels in Modality-LUT units (uncompressed; new UIDs;
    ImageType DERIVED). ``profile_fn(shape)`` gives the profile at native resolution."""
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from precimed.dicom import load_bytes

    ds = pydicom.dcmread(io.BytesIO(data))
    frame = load_bytes(data, "x.dcm").frames[0]
    grey = frame.pixels.astype(np.float64)
    lo, hi = np.percentile(_resize(grey.astype(np.float32), SIZE, SIZE), [0.5, 99.5])
    sign = -1.0 if frame.photometric == "MONOCHROME1" else 1.0  # pixels: higher = darker there
    grey = grey + sign * contrast * float(hi - lo) * profile_fn(grey.shape)  # type: ignore[operator]
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    stored = np.rint((grey - intercept) / slope)
    signed = int(ds.PixelRepresentation) == 1
    bits = int(ds.BitsStored)
    lo_v, hi_v = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    arr = np.clip(stored, lo_v, hi_v).astype(np.int16 if signed else np.uint16)
    ds.PixelData = arr.tobytes()
    ds.BitsAllocated = 16
    ds["PixelData"].VR = "OW"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.DerivationDescription = note[:1024]
    ds.SeriesDescription = "simulated lesion (PreciMed demo)"
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(ds.SOPInstanceUID), note])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[str(ds.SeriesInstanceUID), "precimed-lesion"])
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


SAMPLE_FILES = {  # sample name → pydicom test file
    "ct_abdomen_heldout.dcm": "explicit_VR-UN.dcm",
    "cr_chest_heldout_J2K.dcm": "RG1_J2KI.dcm",
    "mr_shoulder_heldout_J2K.dcm": "MR2_J2KI.dcm",
    "mr_multiframe_training-background.dcm": "emri_small.dcm",
}
# The CT sample's lesion: bright, at (38, 24) of the model grid (tests rely on the place).
CT_LESION = LesionDraw(cy=38.0, cx=24.0, ry=4.0, rx=3.2, theta=0.6, lobes=(0.12, 3, 1.0),
                       edge=0.7, contrast=0.35)
# The MR sample's lesion: a dark ring of the held-out family, at (22, 30) of the model grid.
MR_RIM = {"cy": 22.0, "cx": 30.0, "r": 4.5, "contrast": -0.45, "seed": 3}


def _rim_profile(shape: tuple[int, int]) -> np.ndarray:
    sy, sx = shape[0] / SIZE, shape[1] / SIZE
    rng = np.random.default_rng(int(MR_RIM["seed"]))
    prof, _ = draw_profile(rng, "rim", shape, (MR_RIM["cy"] + 0.5) * sy - 0.5,
                           (MR_RIM["cx"] + 0.5) * sx - 0.5, MR_RIM["r"] * sy)
    return prof


def write_samples(folder: Path) -> list[Path]:
    """Copy real held-out test images into ``folder`` and add two copies with a simulated lesion
    written into their pixels (the file names say so): a bright nodule in the abdominal CT, and a
    dark ring (the held-out family) in the shoulder MR."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for out_name, src in SAMPLE_FILES.items():
        target = folder / out_name
        target.write_bytes(Path(pydicom_path(src)).read_bytes())
        written.append(target)
    note = ("SIMULATED LESION inserted by PreciMed (precimed/training/lesion_samples.py) into "
            "pydicom-data {} for demonstration; not a real finding")
    ct = Path(pydicom_path("explicit_VR-UN.dcm")).read_bytes()
    target = folder / "ct_abdomen_heldout_simulated-lesion.dcm"
    target.write_bytes(insert_into_dicom(
        ct, lambda shape: lesion_profile(shape, CT_LESION, shape[0] / SIZE, shape[1] / SIZE),
        CT_LESION.contrast, note.format("explicit_VR-UN.dcm")))
    written.append(target)
    mr = Path(pydicom_path("MR2_UNCI.dcm")).read_bytes()
    target = folder / "mr_shoulder_heldout_simulated-rim-lesion.dcm"
    target.write_bytes(insert_into_dicom(mr, _rim_profile, float(MR_RIM["contrast"]),
                                         note.format("MR2_UNCI.dcm")))
    written.append(target)
    return written
