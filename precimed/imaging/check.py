"""Does this image fit the model? The one place that decides whether an image is in scope.

Checked against the card's image input: modality, photometric interpretation, image size
(far outside the training images' sizes), pixel spacing when the card states one, and a flat
image (nothing to see after normalisation). Each failure is a reason the image is **out of
scope**: by default it gets no prediction and no heatmap (the page shows why, the command line
gives it an ``error`` beginning ``out of scope:``); an explicit override (``allow`` here, the
page's toggle, ``--allow-out-of-scope``) scores it and lists the reasons under ``warnings``.

One finding is a *caution*, not a refusal: a far-from-square image is stretched to the model's
square input. It is in scope (the model saw stretched crops of every size in training), and the
caution goes into ``warnings``.

The page, ``precimed predict/explain/occlusion``, cohort scoring and the what-if image mode all
call :func:`assess_frame` (or :func:`refusal`); nothing else decides scope.

Example:
    >>> import numpy as np
    >>> from precimed.dicom.frames import ImageFrame
    >>> card = {"id": "m", "inputs": [{"name": "image", "shape": [64, 64, 1],
    ...     "modalities": ["CT"], "photometric": ["MONOCHROME2"], "preprocessing": {}}]}
    >>> fr = ImageFrame("us.dcm", 0, 1, np.zeros((480, 640, 3), "uint8"), "RGB", "US", None)
    >>> scope = assess_frame(card, fr)
    >>> scope.in_scope
    False
    >>> print(scope.error[:57])
    out of scope: modality US (expected: CT); photometric int
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from precimed.errors import PrecimedInputError
from precimed.imaging.preprocess import image_spec

if TYPE_CHECKING:
    from precimed.dicom.frames import ImageFrame

SIZE_FACTOR = 2.0  # "far" = more than this factor outside the training size range
ASPECT_LIMIT = 1.6
SPACING_TOLERANCE = 0.25
PREFIX = "out of scope: "


@dataclass(frozen=True)
class Scope:
    """The verdict on one image.

    Attributes:
        reasons: why the image is outside the card's scope, each ``what (expected: …)``;
            empty when it is in scope.
        cautions: findings that do not refuse the image (a stretched aspect ratio).
    """

    reasons: list[str] = field(default_factory=list)
    cautions: list[str] = field(default_factory=list)

    @property
    def in_scope(self) -> bool:
        return not self.reasons

    @property
    def error(self) -> str:
        """``out of scope: <reason>; <reason>``, or ``""`` when in scope."""
        return PREFIX + "; ".join(self.reasons) if self.reasons else ""

    def warnings(self) -> list[str]:
        """What goes into a scored result's ``warnings``: the reasons (prefixed, when the
        override scored it anyway), then the cautions."""
        return [PREFIX + r for r in self.reasons] + list(self.cautions)

    def may_score(self, allow: bool) -> bool:
        return self.in_scope or allow


def assess_frame(card: dict[str, Any], frame: ImageFrame) -> Scope:
    """Scope verdict for ``frame`` against ``card``'s image input."""
    spec = image_spec(card)
    reasons: list[str] = []
    cautions: list[str] = []
    modalities = list(spec.get("modalities") or [])
    if modalities and frame.modality not in modalities:
        reasons.append(f"modality {frame.modality} (expected: {', '.join(modalities)})")
    photometric = list(spec.get("photometric") or [])
    if photometric and frame.photometric not in photometric:
        conv = (", which would be converted to greyscale"
                if frame.is_color and spec["shape"][2] == 1 else "")
        reasons.append(f"photometric interpretation {frame.photometric}{conv} "
                       f"(expected: {', '.join(photometric)})")
    h, w = frame.shape
    sizes = (spec.get("preprocessing") or {}).get("training_image_size_px")
    if sizes:
        lo, hi = float(sizes["min"]), float(sizes["max"])
        if max(h, w) > hi * SIZE_FACTOR or min(h, w) < lo / SIZE_FACTOR:
            reasons.append(f"the image is {h}×{w} pixels, far from the training images "
                           f"(expected: {lo:.0f}–{hi:.0f} pixels a side, within a factor "
                           f"{SIZE_FACTOR:g})")
    else:
        th, tw = spec["shape"][:2]
        if min(h, w) < min(th, tw) / SIZE_FACTOR:
            reasons.append(f"the image is {h}×{w} pixels, smaller than half the model input "
                           f"(expected: at least {th // 2}×{tw // 2})")
    want = spec.get("pixel_spacing_mm")
    if want:
        got = frame.pixel_spacing_mm
        if got is None or min(got) <= 0:
            reasons.append(f"the image states no pixel spacing (expected: {want[0]}×{want[1]} mm)")
        elif any(abs(g - t) / t > SPACING_TOLERANCE for g, t in zip(got, want, strict=False)):
            reasons.append(f"pixel spacing {got[0]:.3g}×{got[1]:.3g} mm differs from the "
                           f"model's by more than {SPACING_TOLERANCE:.0%} "
                           f"(expected: {want[0]}×{want[1]} mm)")
    pix = frame.pixels
    if pix.size and float(np.nanmax(pix)) == float(np.nanmin(pix)):
        reasons.append("the image is uniform: there is nothing for the model to see "
                       "(expected: an image with some contrast)")
    if max(h, w) / max(min(h, w), 1) > ASPECT_LIMIT:
        cautions.append(f"the image is {h}×{w} pixels: it is stretched to the model's square "
                        "input, which distorts shapes")
    return Scope(reasons, cautions)


def check_frame(card: dict[str, Any], frame: ImageFrame) -> list[str]:
    """Every finding as a sentence (the out-of-scope reasons, then the cautions); empty = none."""
    scope = assess_frame(card, frame)
    return scope.reasons + scope.cautions


def refusal(card: dict[str, Any], frame: ImageFrame, *, allow: bool) -> list[str]:
    """The ``warnings`` of a result for ``frame``, or an error when it may not be scored.

    Raises:
        PrecimedInputError: the frame is out of scope and ``allow`` is false; the message is
            :attr:`Scope.error` (``out of scope: modality US (expected: CR, CT, MR)``).
    """
    scope = assess_frame(card, frame)
    if not scope.may_score(allow):
        raise PrecimedInputError(scope.error)
    return scope.warnings()


def scope_message(scope: Scope, *, scored: bool) -> str:
    """What the Imaging page and the image what-if show at the top of the result area."""
    reasons = "; ".join(scope.reasons)
    if scored:
        return (f"**Out of scope — shown only because you asked.** This image is outside what the "
                f"model was trained and tested on: {reasons}. Its result means nothing about it.")
    return (f"**Out of scope: no prediction.** {reasons[0].upper() + reasons[1:]}. The model "
            "was not trained or tested on such images, so it gives no result for this one. "
            "Turn on 'Score out-of-scope images anyway' to see what it would say.")
