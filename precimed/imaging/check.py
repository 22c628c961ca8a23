"""Does this image fit the model? Warnings when it does not look like the card's training data.

Checked against the card's image input: modality, photometric interpretation, image size
(far outside the training images' sizes, or far from square when the model stretches), pixel
spacing when the card states one, and a flat image (nothing to see after normalisation).
The answer is a list of sentences for the page and the command line; an empty list means no
objection. A warning never blocks the prediction: the user decides.

Example:
    >>> import numpy as np
    >>> from precimed.dicom.frames import ImageFrame
    >>> card = {"id": "m", "inputs": [{"name": "image", "shape": [64, 64, 1],
    ...     "modalities": ["CT"], "photometric": ["MONOCHROME2"], "preprocessing": {}}]}
    >>> fr = ImageFrame("us.dcm", 0, 1, np.zeros((480, 640, 3), "uint8"), "RGB", "US", None)
    >>> for w in check_frame(card, fr): print(w[:60])
    modality US is not one the model was trained on (CT)
    photometric interpretation RGB is not one the model was trai
    the image is uniform: there is nothing for the model to see
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from precimed.imaging.preprocess import image_spec

if TYPE_CHECKING:
    from precimed.dicom.frames import ImageFrame

SIZE_FACTOR = 2.0  # "far" = more than this factor outside the training size range
ASPECT_LIMIT = 1.6
SPACING_TOLERANCE = 0.25


def check_frame(card: dict[str, Any], frame: ImageFrame) -> list[str]:
    """Warnings (plain sentences) for ``frame`` against ``card``'s image input."""
    spec = image_spec(card)
    out: list[str] = []
    modalities = list(spec.get("modalities") or [])
    if modalities and frame.modality not in modalities:
        out.append(f"modality {frame.modality} is not one the model was trained on "
                   f"({', '.join(modalities)})")
    photometric = list(spec.get("photometric") or [])
    if photometric and frame.photometric not in photometric:
        conv = ("; the image is converted to greyscale" if frame.is_color and spec["shape"][2] == 1
                else "")
        out.append(f"photometric interpretation {frame.photometric} is not one the model was "
                   f"trained on ({', '.join(photometric)}){conv}")
    h, w = frame.shape
    sizes = (spec.get("preprocessing") or {}).get("training_image_size_px")
    if sizes:
        lo, hi = float(sizes["min"]), float(sizes["max"])
        if max(h, w) > hi * SIZE_FACTOR or min(h, w) < lo / SIZE_FACTOR:
            out.append(f"the image is {h}×{w} pixels, far from the training images "
                       f"({lo:.0f}–{hi:.0f} pixels a side)")
    else:
        th, tw = spec["shape"][:2]
        if min(h, w) < min(th, tw) / SIZE_FACTOR:
            out.append(f"the image is {h}×{w} pixels, smaller than half the model input ({th}×{tw})")
    if max(h, w) / max(min(h, w), 1) > ASPECT_LIMIT:
        out.append(f"the image is {h}×{w} pixels: it is stretched to the model's square input, "
                   "which distorts shapes")
    want = spec.get("pixel_spacing_mm")
    if want:
        got = frame.pixel_spacing_mm
        if got is None or min(got) <= 0:
            out.append(f"the image states no pixel spacing; the model expects {want[0]}×{want[1]} mm")
        elif any(abs(g - t) / t > SPACING_TOLERANCE for g, t in zip(got, want, strict=False)):
            out.append(f"pixel spacing {got[0]:.3g}×{got[1]:.3g} mm differs from the model's "
                       f"{want[0]}×{want[1]} mm by more than {SPACING_TOLERANCE:.0%}")
    pix = frame.pixels
    if pix.size and float(np.nanmax(pix)) == float(np.nanmin(pix)):
        out.append("the image is uniform: there is nothing for the model to see")
    return out
