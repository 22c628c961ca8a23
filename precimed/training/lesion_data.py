"""Real backgrounds and simulated-lesion image sets for ``lesion-cnn-synthetic``.

Backgrounds are real images that ship inside installable packages, decoded the way the app
decodes them (DICOM through :mod:`precimed.dicom`; the NIfTI/MINC volumes of nibabel's own test
data slice by slice, as Modality-LUT-like real values):

- ``pydicom`` and ``pydicom-data``: CR, CT and MR test images;
- ``nibabel``: the one real image among its DICOM test files (a Siemens MR MIP) and its real
  brain MR volumes (``anatomical.nii``, ``small.mnc``, ``example4d.nii.gz``).

Splits are by patient/acquisition (``group``): the held-out groups are never seen in
training. An image set is built at twice the model's resolution (so that a lesion is drawn
finer than the model sees it, as in a DICOM file with a lesion written into its pixels), then
resized to the model's grid and normalised exactly as the card's preprocessing does.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from precimed.imaging.preprocess import _resize, frame_image, normalise
from precimed.training.lesion_generator import FAMILIES, LESION_COUNTS, insert_lesions

SIZE = 64
SHAPE = (SIZE, SIZE, 1)
HI = 2 * SIZE  # lesions are drawn on this grid, then the image is resized to SIZE
PRESHRINK = 768  # big images are shrunk once to this size before cropping
MIN_SIDE = 20  # volume slices narrower than this are skipped

# (source, file, modality, group, split). A group is one patient/acquisition.
BACKGROUNDS: list[tuple[str, str, str, str, str]] = [
    ("pydicom", "RG3_UNCI.dcm", "CR", "leg-cr", "train"),
    ("pydicom", "CT_small.dcm", "CT", "spine-ct", "train"),
    ("pydicom", "693_UNCI.dcm", "CT", "head-ct-693", "train"),
    ("pydicom", "J2K_pixelrep_mismatch.dcm", "CT", "head-ct-jxd", "train"),
    ("pydicom", "eCT_Supplemental.dcm", "CT", "brain-ect", "train"),
    ("pydicom", "bad_sequence.dcm", "CT", "neck-ct", "train"),
    ("pydicom", "MR_small.dcm", "MR", "mr-small", "train"),
    ("pydicom", "MR-SIEMENS-DICOM-WithOverlays.dcm", "MR", "abdomen-mr", "train"),
    ("pydicom", "examples_overlay.dcm", "MR", "abdomen-mr", "train"),
    ("pydicom", "emri_small.dcm", "MR", "brain-emri", "train"),
    ("nibabel-volume", "anatomical.nii", "MR", "brain-t1-anatomical", "train"),
    ("nibabel-volume", "small.mnc", "MR", "brain-t1-minc", "train"),
    # held out
    ("pydicom", "RG1_UNCI.dcm", "CR", "chest-cr", "test"),
    ("pydicom", "explicit_VR-UN.dcm", "CT", "abdomen-ct", "test"),
    ("pydicom", "MR2_UNCI.dcm", "MR", "shoulder-mr", "test"),
    ("nibabel-dicom", "slicethickness_empty_string.dcm", "MR", "brain-mip-siemens", "test"),
    ("nibabel-volume", "example4d.nii.gz", "MR", "brain-epi", "test"),  # axial slices only
]


@dataclass
class Background:
    name: str
    modality: str
    group: str
    split: str
    images: list[np.ndarray]  # grey, higher = brighter, shrunk to ≤ PRESHRINK
    native_size: tuple[int, int]


def nibabel_dir(sub: str = "nicom/tests/data") -> Path:
    """A folder of nibabel's test data (DICOM files in ``nicom/tests/data``, volumes in
    ``tests/data``)."""
    try:
        import nibabel
    except ImportError:
        raise FileNotFoundError("nibabel is not installed; `pip install nibabel` (train extra)") from None
    return Path(nibabel.__file__).parent / sub


def pydicom_path(name: str) -> str:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    if path is None:
        raise FileNotFoundError(f"{name} is not installed; `pip install pydicom-data` (train extra)")
    return str(path)


def read_dicom(source: str, name: str) -> tuple[bytes, str]:
    """(bytes, file name) of a pydicom or nibabel DICOM test file; ``.gz`` unpacked."""
    path = Path(pydicom_path(name)) if source == "pydicom" else nibabel_dir() / name
    data = path.read_bytes()
    return (gzip.decompress(data), name[:-3]) if name.endswith(".gz") else (data, name)


def volume_slices(name: str, axes: tuple[int, ...] = (0, 1, 2)) -> list[np.ndarray]:
    """The slices of a nibabel test volume with anatomy in them (first volume of a 4-D file):
    every slice along ``axes`` at least :data:`MIN_SIDE` pixels wide, a quarter of it above
    10 % of the volume's range; rotated so that the first axis runs down the image."""
    import nibabel

    img: Any = nibabel.load(str(nibabel_dir("tests/data") / name))
    vol = np.asarray(img.dataobj, dtype=np.float32)
    while vol.ndim > 3:
        vol = vol[..., 0]
    lo, hi = np.percentile(vol, [1, 99])
    out = []
    for axis in axes:
        for k in range(vol.shape[axis]):
            sl = np.rot90(np.take(vol, k, axis=axis))
            if min(sl.shape) >= MIN_SIDE and ((sl - lo) / max(hi - lo, 1e-9) > 0.1).mean() > 0.25:
                out.append(np.ascontiguousarray(sl))
    return out


def _shrink(img: np.ndarray) -> np.ndarray:
    scale = PRESHRINK / max(img.shape)
    if scale < 1:
        return _resize(img, round(img.shape[0] * scale), round(img.shape[1] * scale))
    return img.astype(np.float32)


def load_backgrounds() -> list[Background]:
    """Every background image, decoded with PreciMed's own DICOM reader where it is DICOM."""
    from precimed.dicom import load_bytes

    out = []
    for source, name, modality, group, split in BACKGROUNDS:
        if source == "nibabel-volume":
            # 4-D files are acquisitions of thick slices: only their own plane is an image
            images = volume_slices(name, (2,) if name.startswith("example4d") else (0, 1, 2))
            native = images[0].shape
        else:
            frames = load_bytes(*read_dicom(source, name)).frames
            images = [frame_image(fr) for fr in frames]
            native = frames[0].shape
        out.append(Background(name, modality, group, split, [_shrink(i) for i in images],
                              (int(native[0]), int(native[1]))))
    return out


def _crop(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """A random square crop (40–100 % of the short side) or, one time in four, the whole image
    (stretched to a square later, as the app does); random flips and quarter turns."""
    h, w = img.shape
    if rng.random() < 0.25:
        out = img
    else:
        side = max(int(rng.uniform(0.4, 1.0) * min(h, w)), 16)
        y0 = int(rng.integers(0, h - side + 1))
        x0 = int(rng.integers(0, w - side + 1))
        out = img[y0:y0 + side, x0:x0 + side]
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(np.rot90(out, int(rng.integers(0, 4))))


def _warp(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """A random rotation (any angle), scale and shear, and at times an elastic deformation:
    new anatomy shapes from the few images there are."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    y0, x0 = yy - (h - 1) / 2, xx - (w - 1) / 2
    ang, scale, shear = rng.uniform(-np.pi, np.pi), rng.uniform(0.8, 1.25), rng.uniform(-0.15, 0.15)
    ys = (np.cos(ang) * y0 - np.sin(ang) * x0) / scale + shear * x0 + (h - 1) / 2
    xs = (np.sin(ang) * y0 + np.cos(ang) * x0) / scale + (w - 1) / 2
    if rng.random() < 0.5:
        sigma, alpha = rng.uniform(0.06, 0.12) * h, rng.uniform(0.02, 0.06) * h
        for grid in (ys, xs):
            field = gaussian_filter(rng.normal(size=(h, w)), sigma)
            grid += alpha * field / max(float(np.abs(field).max()), 1e-9)
    return map_coordinates(img, [ys, xs], order=1, mode="reflect").astype(np.float32)


def _augment(rng: np.random.Generator, img01: np.ndarray, backgrounds: list[Background]) -> np.ndarray:
    """New textures from few images (training only): sometimes warped (see :func:`_warp`),
    blended with another training image, windowed (clipped to a random intensity range) or
    blurred."""
    from scipy.ndimage import gaussian_filter

    out = _warp(rng, img01) if rng.random() < 0.5 else img01
    if rng.random() < 0.25:
        other = backgrounds[int(rng.integers(len(backgrounds)))]
        mix = normalise(_resize(_crop(rng, other.images[int(rng.integers(len(other.images)))]), *out.shape))
        a = rng.uniform(0.5, 0.8)
        out = a * out + (1 - a) * mix
    if rng.random() < 0.2:
        lo, hi = rng.uniform(0.0, 0.3), rng.uniform(0.6, 1.0)
        out = np.clip((out - lo) / (hi - lo), 0, 1)
    if rng.random() < 0.15:
        out = gaussian_filter(out, rng.uniform(0.5, 2.0))
    return out.astype(np.float32)


def make_set(backgrounds: list[Background], n: int, seed: int, *, families: tuple[str, ...],
             augment: bool = False, paired: bool = False) -> dict[str, np.ndarray]:
    """``n`` images, half with 1–3 lesions of ``families``.

    ``augment`` (training): backgrounds inverted, blended, windowed or blurred at times (see
    :func:`_augment`), and a random gamma and noise after normalisation. ``paired`` (training):
    images come in pairs, the same crop without and with lesions, so that the lesions are the
    only difference the network can learn from.

    Returns:
        x (n, 64, 64, 1), y, masks (n, 64, 64), source (background index), count (lesions),
        family (index in FAMILIES of the first lesion, −1 for none).
    """
    rng = np.random.default_rng(seed)
    x = np.zeros((n,) + SHAPE, np.float32)
    y = (np.arange(n) % 2).astype(np.int64)
    if not paired:
        rng.shuffle(y)
    masks = np.zeros((n, SIZE, SIZE), bool)
    source = np.zeros(n, np.int64)
    count = np.zeros(n, np.int64)
    family = np.full(n, -1, np.int64)
    counts, weights = zip(*LESION_COUNTS, strict=True)
    for i in range(n):
        if not (paired and y[i]):  # a positive of a pair reuses its negative's crop and draws
            b = int(rng.integers(len(backgrounds)))
            bg = backgrounds[b]
            clean = normalise(_resize(_crop(rng, bg.images[int(rng.integers(len(bg.images)))]), HI, HI))
            if augment:
                clean = _augment(rng, clean, backgrounds)
            gamma, noise = rng.uniform(0.7, 1.4), rng.uniform(0, 0.02)
            noise_seed = int(rng.integers(2**31))
        hi = clean
        if y[i]:
            ins = insert_lesions(rng, clean, families, n_lesions=int(rng.choice(counts, p=weights)),
                                 model_size=SIZE, normalise=normalise, resize=_resize)
            hi = ins.image
            masks[i] = _resize(ins.mask.astype(np.float32), SIZE, SIZE) >= 0.5
            count[i] = len(ins.families)
            family[i] = FAMILIES.index(ins.families[0]) if ins.families else -1
            if not ins.families:  # nowhere visible (a flat image): not a positive
                y[i] = 0
        img = normalise(_resize(hi, SIZE, SIZE))
        if augment:
            jitter = np.random.default_rng(noise_seed).normal(0, noise, img.shape)
            img = np.clip(img ** gamma + jitter, 0, 1)
        x[i, ..., 0] = img
        source[i] = b
    return {"x": x, "y": y, "masks": masks, "source": source, "count": count, "family": family}
