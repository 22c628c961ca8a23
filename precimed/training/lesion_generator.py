"""Simulated lesions for ``lesion-cnn-synthetic``: seven generator families, widely randomised.

Each family draws a *profile* in 0–1 (how much of the lesion's contrast each pixel gets) and a
*mask* (where the lesion is) on any pixel grid, centred at (cy, cx) with a size of about ``r``
pixels. Every draw randomises size, aspect, orientation and edge; :func:`insert_lesions` then
randomises how the lesion meets the image (added to the tissue, or replacing it), its contrast
**sign** (brighter or darker than its surroundings), its amplitude and noise, how many lesions
an image carries (one to three) and where they go (mostly inside the body, anywhere else at
times), and redraws any lesion that would not be visible after the model's preprocessing.

The families:

- ``nodule``: an ellipse with a lobulated border and a logistic edge, sharp to very soft;
- ``spiculated``: a small core with 4–13 thin, tapering spikes;
- ``textured``: a lobulated blob with a heterogeneous inside (smoothed noise, sometimes with
  darker or brighter spots);
- ``cluster``: 3–8 small blobs close together (multifocal);
- ``ground_glass``: a large, faint, very soft patch;
- ``irregular``: an amoeboid shape from a thresholded random field;
- ``rim``: a ring (wall of random thickness) around a centre of random filling.

:data:`HELDOUT_FAMILY` is never drawn in training: the card reports it separately, so that "it
generalises beyond its own simulator" is measured, not assumed.

Written by hand: no installable package ships a 2-D lesion simulator (TorchIO's
``RandomLabelsToImage`` needs label maps and PyTorch).

Example:
    >>> rng = np.random.default_rng(0)
    >>> prof, mask = draw_profile(rng, "rim", (64, 64), 32.0, 32.0, 6.0)
    >>> prof.shape, bool(mask[32, 26]), 0.0 <= float(prof.min()) <= float(prof.max()) <= 1.0
    ((64, 64), True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

FAMILIES = ("nodule", "spiculated", "textured", "cluster", "ground_glass", "irregular", "rim")
HELDOUT_FAMILY = "rim"
TRAIN_FAMILIES = tuple(f for f in FAMILIES if f != HELDOUT_FAMILY)
RADIUS = (1.5, 9.0)  # model pixels (64-pixel input), log-uniform
MIN_VISIBLE = 0.10  # mean |change| inside the mask after normalisation (0–1 scale), and …
MIN_CNR = 2.0  # … |mean inside − mean of a 3-pixel ring around| ≥ this × (ring's std + 0.02)
LESION_COUNTS = ((1, 0.6), (2, 0.25), (3, 0.15))  # lesions per positive image

Profile = tuple[np.ndarray, np.ndarray]


def _grid(shape: tuple[int, int], cy: float, cx: float, theta: float) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    dy, dx = yy - cy, xx - cx
    return dx * np.cos(theta) + dy * np.sin(theta), -dx * np.sin(theta) + dy * np.cos(theta)


def _logistic(d: np.ndarray, scale: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(np.clip(d / max(scale, 1e-3), -50, 50)))


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-smoothed white noise rescaled to 0–1."""
    from scipy.ndimage import gaussian_filter

    n = gaussian_filter(rng.normal(size=shape), max(sigma, 0.3))
    return (n - n.min()) / max(float(n.max() - n.min()), 1e-9)


def lobulated_distance(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float,
                       theta: float, amp: float, k: int, phase: float) -> np.ndarray:
    """Normalised distance (1 = on the border) of an ellipse with a lobulated border."""
    u, v = _grid(shape, cy, cx, theta)
    u, v = u / rx, v / ry
    return np.hypot(u, v) / (1.0 + amp * np.sin(k * np.arctan2(v, u) + phase))


def _nodule(rng: np.random.Generator, shape: tuple[int, int], cy: float, cx: float, r: float) -> Profile:
    ry, rx = r * rng.uniform(0.55, 1.0, size=2)
    d = lobulated_distance(shape, cy, cx, ry, rx, rng.uniform(0, np.pi), rng.uniform(0, 0.3),
                           int(rng.integers(2, 8)), rng.uniform(0, 2 * np.pi))
    r_mean = (ry + rx) / 2
    prof = _logistic((d - 1.0) * r_mean, r_mean * rng.uniform(0.03, 0.35))
    return prof, d <= 1.0 + 0.5 / r_mean


def _spiculated(rng: np.random.Generator, shape: tuple[int, int], cy: float, cx: float, r: float) -> Profile:
    core = max(r * rng.uniform(0.35, 0.6), 1.2)
    u, v = _grid(shape, cy, cx, 0.0)
    dist = np.hypot(u, v)
    prof = _logistic(dist - core, max(0.1 * core, 0.3))
    ang = np.arctan2(v, u)
    for _ in range(int(rng.integers(4, 14))):
        a = rng.uniform(0, 2 * np.pi)
        length = r * rng.uniform(0.8, 1.7)
        along = dist * np.cos(ang - a)
        across = np.abs(dist * np.sin(ang - a))
        width = max(r * rng.uniform(0.05, 0.12), 0.35) * np.clip(1 - along / length, 0, 1)
        spike = np.where((along > 0) & (along < length),
                         np.exp(-(across / np.maximum(width, 0.2)) ** 2), 0.0)
        prof = np.maximum(prof, spike * np.clip(1.2 - along / length, 0, 1))
    return prof, prof >= 0.3


def _textured(rng: np.random.Generator, shape: tuple[int, int], cy: float, cx: float, r: float) -> Profile:
    prof, mask = _nodule(rng, shape, cy, cx, max(r, 2.5))
    tex = smooth_noise(rng, shape, max(r, 2.5) * rng.uniform(0.1, 0.3))
    low = rng.uniform(0.0, 0.5)
    return prof * (low + (1 - low) * tex), mask


def _cluster(rng: np.random.Generator, shape: tuple[int, int], cy: float, cx: float, r: float) -> Profile:
    prof = np.zeros(shape)
    spread = max(r, 3.0)
    u, v = _grid(shape, cy, cx, 0.0)
    for _ in range(int(rng.integers(3, 9))):
        oy, ox = rng.normal(0, spread / 2.5, size=2)
        s = spread * rng.uniform(0.12, 0.3)
        prof = np.maximum(prof, np.exp(-((u - ox) ** 2 + (v - oy) ** 2) / (2 * s * s)))
    return prof, prof >= 0.3


def _ground_glass(rng: np.random.Generator, shape: tuple[int, int], cy: float, cx: float, r: float) -> Profile:
    r = max(r * rng.uniform(1.1, 1.6), 3.0)
    ry, rx = r * rng.uniform(0.6, 1.0, size=2)
    d = lobulated_distance(shape, cy, cx, ry, rx, rng.uniform(0, np.pi), rng.uniform(0, 0.2),
                           int(rng.integers(2, 5)), rng.uniform(0, 2 * np.pi))
    prof = _logistic((d - 1.0) * (ry + rx) / 2, r * rng.uniform(0.2, 0.45))
    prof = prof * (0.7 + 0.3 * smooth_noise(rng, shape, r * 0.15))
    return prof, d <= 1.0


def _irregular(rng: np.random.Generator, shape: tuple[int, int], cy: float, cx: float, r: float) -> Profile:
    from scipy.ndimage import binary_fill_holes, gaussian_filter, label

    r = max(r, 2.0)
    u, v = _grid(shape, cy, cx, 0.0)
    envelope = np.exp(-(u * u + v * v) / (2 * (0.7 * r) ** 2))
    field = envelope * (0.5 + smooth_noise(rng, shape, r * rng.uniform(0.25, 0.5)))
    blob = field > 0.55 * field.max()
    lab, _ = label(blob)
    centre = lab[int(round(np.clip(cy, 0, shape[0] - 1))), int(round(np.clip(cx, 0, shape[1] - 1)))]
    blob = binary_fill_holes(lab == centre) if centre else blob
    prof = gaussian_filter(blob.astype(np.float64), r * rng.uniform(0.03, 0.2))
    return prof / max(float(prof.max()), 1e-9), prof >= 0.3 * prof.max()


def _rim(rng: np.random.Generator, shape: tuple[int, int], cy: float, cx: float, r: float) -> Profile:
    r = max(r, 3.0)
    ry, rx = r * rng.uniform(0.7, 1.0, size=2)
    u, v = _grid(shape, cy, cx, rng.uniform(0, np.pi))
    d = np.hypot(u / rx, v / ry) * (ry + rx) / 2  # about pixels from the centre
    wall = r * rng.uniform(0.12, 0.3)
    ring = np.exp(-((d - r) / wall) ** 2)
    centre = rng.uniform(0.0, 0.35) * _logistic(d - (r - wall), 0.1 * r)
    return np.maximum(ring, centre), d <= r + wall


DRAW: dict[str, Callable[[np.random.Generator, tuple[int, int], float, float, float], Profile]] = {
    "nodule": _nodule, "spiculated": _spiculated, "textured": _textured, "cluster": _cluster,
    "ground_glass": _ground_glass, "irregular": _irregular, "rim": _rim,
}


def draw_profile(rng: np.random.Generator, family: str, shape: tuple[int, int], cy: float,
                 cx: float, r: float) -> Profile:
    """(profile 0–1, mask) of one lesion of ``family`` centred at (cy, cx), size about ``r``.

    Drawn in a window of ±(3r + 3) pixels around the centre (every family is negligible beyond
    it), then placed on the full grid."""
    h, w = shape
    reach = 3 * r + 3
    y0, y1 = max(int(cy - reach), 0), min(int(np.ceil(cy + reach)) + 1, h)
    x0, x1 = max(int(cx - reach), 0), min(int(np.ceil(cx + reach)) + 1, w)
    prof = np.zeros(shape, np.float32)
    mask = np.zeros(shape, bool)
    p, m = DRAW[family](rng, (y1 - y0, x1 - x0), cy - y0, cx - x0, r)
    prof[y0:y1, x0:x1] = np.clip(p, 0, 1)
    mask[y0:y1, x0:x1] = m
    return prof, mask


@dataclass
class Inserted:
    """What :func:`insert_lesions` did."""

    image: np.ndarray  # the image with its lesions, same grid and units as the input
    mask: np.ndarray  # union of the lesion masks on the same grid
    families: list[str]


def _body(img01: np.ndarray) -> np.ndarray:
    """Pixels inside the imaged body (not air or padding): smoothed intensity above 8 %."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(img01, max(img01.shape) / 64) > 0.08


def insert_lesions(rng: np.random.Generator, img01: np.ndarray, families: tuple[str, ...], *,
                   n_lesions: int, model_size: int,
                   normalise: Callable[[np.ndarray], np.ndarray],
                   resize: Callable[[np.ndarray, int, int], np.ndarray]) -> Inserted:
    """Add ``n_lesions`` lesions (families drawn from ``families``) to a square image in 0–1
    units (any resolution, a multiple of ``model_size``), each redrawn (up to 30 times) until it
    is visible at the model's resolution after ``normalise``.
    """
    h, w = img01.shape
    scale = h / model_size
    out = img01.astype(np.float64).copy()
    masks = np.zeros((h, w), bool)
    body = _body(img01)
    body_idx = np.flatnonzero(body)
    drawn: list[str] = []
    base_small = normalise(resize(img01.astype(np.float32), model_size, model_size))
    for _ in range(n_lesions):
        family = families[int(rng.integers(len(families)))]
        for _attempt in range(30):
            r = float(np.exp(rng.uniform(*np.log(RADIUS)))) * scale
            m = min(r + 2 * scale, h / 2 - 2)
            if rng.random() < 0.85 and body_idx.size:
                iy, ix = np.unravel_index(int(rng.choice(body_idx)), (h, w))
                cy = float(np.clip(iy + rng.uniform(-0.5, 0.5), m, h - m))
                cx = float(np.clip(ix + rng.uniform(-0.5, 0.5), m, w - m))
            else:
                cy, cx = float(rng.uniform(m, h - m)), float(rng.uniform(m, w - m))
            prof, mask = draw_profile(rng, family, (h, w), cy, cx, r)
            if not mask.any() or (mask & masks).any():
                continue
            trial = _apply(rng, out, prof, mask, family)
            small_mask = resize(mask.astype(np.float32), model_size, model_size) >= 0.5
            if not small_mask.any():
                continue
            small = normalise(resize(trial.astype(np.float32), model_size, model_size))
            if visible(small, base_small, small_mask):
                out, masks = trial, masks | mask
                drawn.append(family)
                break
    return Inserted(out.astype(np.float32), masks, drawn)


def visible(img: np.ndarray, before: np.ndarray, mask: np.ndarray) -> bool:
    """Whether a lesion (``mask``) stands out at the model's resolution: it changed the image
    enough, and its inside differs from a 3-pixel ring around it by :data:`MIN_CNR` times the
    ring's own variation (a contrast-to-noise ratio)."""
    from scipy.ndimage import binary_dilation

    if float(np.abs(img - before)[mask].mean()) < MIN_VISIBLE:
        return False
    ring = binary_dilation(mask, iterations=3) & ~mask
    if not ring.any():
        return False
    cnr = abs(float(img[mask].mean()) - float(img[ring].mean())) / (float(img[ring].std()) + 0.02)
    return cnr >= MIN_CNR


def _apply(rng: np.random.Generator, img: np.ndarray, prof: np.ndarray, mask: np.ndarray,
           family: str) -> np.ndarray:
    """The image with one lesion: added to the tissue (its texture shows through) or replacing
    it with a level of its own; brighter or darker; a little noise of its own at times."""
    local = float(img[mask].mean())
    sign = -1.0 if local > 0.75 else 1.0 if local < 0.2 else float(rng.choice([-1.0, 1.0]))
    amp = rng.uniform(0.15, 0.45) if family == "ground_glass" else rng.uniform(0.25, 0.9)
    if rng.random() < 0.2:  # own noise, at the image's pixel scale
        prof = prof * (1.0 + rng.uniform(0.05, 0.3) * rng.normal(size=prof.shape))
    if rng.random() < 0.5:
        return img + sign * amp * prof
    target = np.clip(local + sign * amp, -0.2, 1.2)
    alpha = rng.uniform(0.7, 1.0) * np.clip(prof, 0, 1)
    return img * (1 - alpha) + target * alpha
