"""Display: VOI LUT / window (PS3.3 C.11.2), MONOCHROME1 inversion, CT presets, 8-bit output.

The windowing itself is pydicom's ``apply_windowing`` (LINEAR, LINEAR_EXACT and SIGMOID, PS3.3
C.11.2.1.2–3) and ``apply_voi_lut`` (a VOI LUT Sequence). To get an 8-bit result directly,
the window is applied through a small VOI data set that declares an 8-bit unsigned output
range, so pydicom's function maps the window onto 0–255.

CT presets (centre, width in HU) are the usual radiology ones (e.g. Radiopaedia, "Windowing
(CT)"): lung −600/1500, mediastinum 50/350, bone 400/1800, brain 40/80, soft tissue 50/400.
Other modalities use the file's own window(s), else an automatic window.

Example:
    >>> import numpy as np
    >>> from precimed.dicom.frames import ImageFrame
    >>> fr = ImageFrame("x", 0, 1, np.array([[-1000, 40], [80, 3000]], "float32"),
    ...                 "MONOCHROME2", "CT", None)
    >>> render(fr, PRESETS["brain"]).tolist()
    [[0, 129], [255, 255]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from precimed.dicom.frames import ImageFrame

AUTO_PERCENTILES = (0.5, 99.5)


@dataclass(frozen=True)
class Window:
    """A VOI window: centre and width in the Modality-LUT output units (HU for CT)."""

    center: float
    width: float
    function: str = "LINEAR"
    label: str = ""


PRESETS: dict[str, Window] = {
    "lung": Window(-600.0, 1500.0, label="CT lung"),
    "mediastinum": Window(50.0, 350.0, label="CT mediastinum"),
    "bone": Window(400.0, 1800.0, label="CT bone"),
    "brain": Window(40.0, 80.0, label="CT brain"),
    "soft tissue": Window(50.0, 400.0, label="CT soft tissue"),
}


def _values(elem_value: Any) -> list[float]:
    if elem_value is None:
        return []
    if isinstance(elem_value, str | bytes | int | float):
        elem_value = [elem_value]
    out = []
    for v in elem_value:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            continue
    return out


def file_windows(frame: ImageFrame) -> list[Window]:
    """The windows the file itself defines (Window Center/Width may hold several views)."""
    lut = frame.lut
    if lut is None or frame.is_color:
        return []
    centers = _values(lut.get("WindowCenter"))
    widths = _values(lut.get("WindowWidth"))
    expl = lut.get("WindowCenterWidthExplanation")
    names = [str(e) for e in expl] if expl is not None and not isinstance(expl, str) else (
        [str(expl)] if expl else [])
    function = str(lut.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
    out = []
    for i, (c, w) in enumerate(zip(centers, widths, strict=False)):
        if w > 0 and np.isfinite(c) and np.isfinite(w):
            label = names[i] if i < len(names) and names[i] else f"file window {i + 1}"
            out.append(Window(c, w, function, label))
    return out


def has_voi_lut_sequence(frame: ImageFrame) -> bool:
    return frame.lut is not None and bool(frame.lut.get("VOILUTSequence"))


def auto_window(pixels: np.ndarray) -> Window:
    """A window spanning the 0.5th–99.5th percentiles (robust to a few extreme pixels).

    Written here because pydicom has no automatic window; percentiles rather than min/max so
    that a metal implant or padding value does not flatten the image.
    """
    finite = pixels[np.isfinite(pixels)] if pixels.dtype.kind == "f" else pixels
    if finite.size == 0:
        return Window(0.0, 1.0, label="automatic")
    lo, hi = np.percentile(finite, AUTO_PERCENTILES)
    if hi <= lo:
        lo, hi = float(finite.min()), float(finite.max())
    width = max(float(hi - lo), 1.0)
    return Window(float(lo + hi) / 2.0, width, label="automatic")


def default_window(frame: ImageFrame) -> Window:
    """The file's first window if it has one, else :func:`auto_window`."""
    own = file_windows(frame)
    return own[0] if own else auto_window(frame.pixels)


def window_choices(frame: ImageFrame) -> dict[str, Window | None]:
    """Named choices for a viewer: the file's windows, CT presets (CT only), automatic.

    ``None`` stands for the file's VOI LUT Sequence (a lookup table, not a window).
    """
    choices: dict[str, Window | None] = {}
    if has_voi_lut_sequence(frame):
        choices["file VOI LUT"] = None
    for w in file_windows(frame):
        choices[w.label] = w
    if frame.modality == "CT":
        for name, w in PRESETS.items():
            choices[f"CT {name}"] = w
    choices["automatic"] = auto_window(frame.pixels)
    return choices


def _window_dataset(window: Window) -> Any:
    """A VOI LUT Module whose output range is 0–255 (8-bit unsigned, no rescale)."""
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsStored = 8
    ds.PixelRepresentation = 0
    ds.WindowCenter = float(window.center)
    ds.WindowWidth = float(window.width)
    ds.VOILUTFunction = window.function
    return ds


def apply_window(pixels: np.ndarray, window: Window) -> np.ndarray:
    """Grey values → 0–255 float with pydicom's ``apply_windowing``."""
    from pydicom.pixels import apply_windowing

    w = window
    if w.function in ("LINEAR", "") and w.width < 1:
        w = Window(w.center, 1.0, "LINEAR", w.label)  # PS3.3 C.11.2.1.2.1: width ≥ 1
    elif w.width <= 0:
        w = Window(w.center, 1e-3, w.function, w.label)
    return np.asarray(apply_windowing(pixels, _window_dataset(w)), dtype=np.float32)


def apply_file_voi_lut(frame: ImageFrame) -> np.ndarray:
    """The file's VOI LUT Sequence (pydicom's ``apply_voi_lut``) → 0–255 float."""
    from pydicom.pixels import apply_voi_lut

    lut = frame.lut
    assert lut is not None
    item = lut.VOILUTSequence[0]
    bits = int(item.LUTDescriptor[2])
    arr = np.rint(frame.pixels).astype(np.int64)  # LUT input is the integer modality output
    out = apply_voi_lut(arr, lut, prefer_lut=True)
    return np.asarray(out, dtype=np.float32) * (255.0 / (2**bits - 1))


def render(frame: ImageFrame, window: Window | None = None, *, voi_lut: bool = False) -> np.ndarray:
    """The frame as displayed: uint8 (H, W) for greyscale, (H, W, 3) for colour.

    Args:
        frame: a decoded frame.
        window: the VOI window; ``None`` → :func:`default_window`.
        voi_lut: use the file's VOI LUT Sequence instead of a window, if it has one.

    MONOCHROME1 (minimum value shown white, PS3.3 C.7.6.3.1.2) is inverted after the VOI
    transformation, as PS3.3 C.11.2 prescribes, so that all output is "higher = brighter".
    """
    if frame.is_color:
        scale = 255.0 / max(frame.rgb_max, 1)
        if frame.rgb_max == 255 and frame.pixels.dtype == np.uint8:
            return frame.pixels
        return np.clip(frame.pixels.astype(np.float32) * scale + 0.5, 0, 255).astype(np.uint8)
    if voi_lut and has_voi_lut_sequence(frame):
        out = apply_file_voi_lut(frame)
    else:
        out = apply_window(frame.pixels, window or default_window(frame))
    if frame.photometric == "MONOCHROME1":
        out = 255.0 - out
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def to_png(image: np.ndarray) -> bytes:
    """PNG bytes of a rendered uint8 image (for the export button)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()
