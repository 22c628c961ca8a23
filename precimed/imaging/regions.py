"""Where the attribution is: strongest regions, and fidelity against a known lesion mask.

Regions: the positive SHAP map is lightly smoothed (σ = 1 model pixel, so that one noisy
pixel is not a "region"), thresholded at a fraction of its maximum, and split into connected
components (scipy.ndimage); each region reports its share of the total positive attribution,
computed on the unsmoothed values.

Fidelity (on images whose lesion mask is known, i.e. the simulated test set):

- pointing game (Zhang et al., ECCV 2016): a hit when the highest-attribution pixel lies in
  the lesion mask;
- positive attribution mass inside the mask: Σ max(v, 0) over the mask / Σ max(v, 0).

Example:
    >>> v = np.zeros((8, 8)); v[2:4, 5:7] = 1.0; v[6, 0] = 0.5
    >>> [(r.row, r.col, round(r.share, 2)) for r in strongest_regions(v, (8, 8), k=2)]
    [(2.5, 5.5, 0.89), (6.0, 0.0, 0.11)]
    >>> mask = np.zeros((8, 8), bool); mask[2:4, 5:7] = True
    >>> pointing_hit(v, mask), round(positive_mass_inside(v, mask), 2)
    (True, 0.89)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

THRESHOLD = 0.3  # fraction of the smoothed maximum that starts a region


@dataclass(frozen=True)
class Region:
    """A region of positive attribution, in image pixel coordinates (row, col = centroid)."""

    rank: int
    row: float
    col: float
    top: int
    left: int
    bottom: int
    right: int
    share: float

    def to_json(self, spacing_mm: tuple[float, float] | None = None) -> dict[str, Any]:
        out = asdict(self)
        if spacing_mm:
            out.update(self.in_mm(spacing_mm))
        return out

    def in_mm(self, spacing_mm: tuple[float, float]) -> dict[str, float]:
        """Centre (from the image's top-left corner) and size in millimetres.

        ``spacing_mm`` is DICOM Pixel Spacing (0028,0030): row spacing (between rows, i.e.
        vertical), then column spacing, PS3.3 C.7.6.2.1.7.
        """
        dy, dx = float(spacing_mm[0]), float(spacing_mm[1])
        return {"centre_down_mm": (self.row + 0.5) * dy, "centre_right_mm": (self.col + 0.5) * dx,
                "height_mm": (self.bottom - self.top + 1) * dy, "width_mm": (self.right - self.left + 1) * dx}

    def describe(self, spacing_mm: tuple[float, float] | None = None) -> str:
        """In millimetres when the pixel spacing is known, otherwise in pixels."""
        share = f"{self.share:.0%} of the positive attribution"
        if spacing_mm:
            mm = self.in_mm(spacing_mm)
            return (f"region {self.rank}: {mm['width_mm']:.0f} × {mm['height_mm']:.0f} mm, centred "
                    f"{mm['centre_right_mm']:.0f} mm from the left and {mm['centre_down_mm']:.0f} mm "
                    f"from the top, {share}")
        return (f"region {self.rank}: rows {self.top}–{self.bottom}, columns {self.left}–{self.right} "
                f"(centre {self.row:.0f}, {self.col:.0f}; pixel spacing unknown), {share}")


def calls_out_regions(card: dict[str, Any], probabilities: dict[str, float], class_name: str) -> bool:
    """Whether regions should be outlined: only when the model decided for ``class_name`` and it
    is a finding (the positive class, or for multiclass the predicted class).

    Boxing the "strongest" noise of a negative image reads like a finding (issue 16).
    """
    import numpy as np

    from precimed.predict import decide

    classes = list(card["classes"])
    decided = classes[int(decide(np.array([[probabilities[c] for c in classes]]), card)[0])]
    positive = card.get("positive_class")
    return decided == class_name and (positive is None or class_name == positive)


def strongest_regions(values: np.ndarray, image_shape: tuple[int, int], *, k: int = 3,
                      threshold: float = THRESHOLD) -> list[Region]:
    """The ``k`` regions holding the most positive attribution, scaled to ``image_shape``."""
    from scipy import ndimage

    v = np.asarray(values, dtype=np.float64)
    pos = np.clip(v, 0, None)
    total = pos.sum()
    if total <= 0:
        return []
    smooth = ndimage.gaussian_filter(pos, sigma=1.0) if min(v.shape) > 8 else pos
    if smooth.max() <= 0:
        return []
    labels, n = ndimage.label(smooth >= threshold * smooth.max())
    sy = image_shape[0] / v.shape[0]
    sx = image_shape[1] / v.shape[1]
    found = []
    for lab, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        inside = labels == lab
        mass = float(pos[inside].sum())
        weights = pos * inside
        if weights.sum() > 0:
            cy, cx = ndimage.center_of_mass(weights)
        else:
            cy, cx = (sl[0].start + sl[0].stop - 1) / 2, (sl[1].start + sl[1].stop - 1) / 2
        found.append((mass, cy, cx, sl))
    found.sort(key=lambda t: -t[0])
    regions = []
    for rank, (mass, cy, cx, sl) in enumerate(found[:k], start=1):
        regions.append(Region(
            rank=rank, row=float((cy + 0.5) * sy - 0.5), col=float((cx + 0.5) * sx - 0.5),
            top=int(sl[0].start * sy), left=int(sl[1].start * sx),
            bottom=int(np.ceil(sl[0].stop * sy)) - 1, right=int(np.ceil(sl[1].stop * sx)) - 1,
            share=float(mass / total)))
    return regions


def pointing_hit(values: np.ndarray, mask: np.ndarray) -> bool:
    """True if the highest attribution falls inside ``mask`` (same shape as ``values``)."""
    idx = np.unravel_index(int(np.argmax(values)), values.shape)
    return bool(mask[idx])


def positive_mass_inside(values: np.ndarray, mask: np.ndarray) -> float:
    """Share of the positive attribution that lies inside ``mask`` (0 when there is none)."""
    pos = np.clip(np.asarray(values, dtype=np.float64), 0, None)
    total = pos.sum()
    return float(pos[mask].sum() / total) if total > 0 else 0.0
