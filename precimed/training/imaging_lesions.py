"""Simulated lesions for ``lesion-cnn-synthetic``: several generator families, widely randomised.

Each family draws a profile in 0–1 (how much of the lesion's contrast each pixel gets) and a
mask (where the lesion is) on the model grid. Every draw randomises size, aspect, orientation,
edge sharpness and contrast **sign** (bright or dark against the surroundings); a positive
image carries one to three lesions, anywhere the lesion stays visible (not only on flat, dark
patches). The families:

- ``lobulated``: an ellipse with a lobulated border and a logistic edge of random width;
- ``spiculated``: a small core with 4–12 thin, tapering spikes;
- ``textured``: a lobulated blob whose inside is heterogeneous (smoothed noise);
- ``cluster``: 3–7 small blobs close together (multifocal);
- ``ground_glass``: a large, faint, very soft patch;
- ``rim``: a ring (bright or dark wall) around a centre of random filling.

One family is never drawn in training (:data:`HELDOUT_FAMILY`); the card reports it separately,
so that "it generalises beyond its own simulator" is measured, not assumed.

Written by hand: no package ships a lesion simulator for 2-D images (TorchIO's ``RandomLabelsToImage``
needs label maps and PyTorch).

Example:
    >>> rng = np.random.default_rng(0)
    >>> prof, mask = draw_profile(rng, "rim", (64, 64), 32.0, 32.0, 6.0)
    >>> prof.shape, bool(mask[32, 26]), float(prof.max()) <= 1.0
    ((64, 64), True, True)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

FAMILIES = ("lobulated", "spiculated", "textured", "cluster", "ground_glass", "rim")
HELDOUT_FAMILY = "rim"
TRAIN_FAMILIES = tuple(f for f in FAMILIES if f != HELDOUT_FAMILY)
RADIUS = (1.8, 9.0)  # model pixels (a 64-pixel input); ground glass up to 1.5× this
MIN_VISIBLE = 0.12  # mean |change| inside the mask after normalisation, else redrawn

Profile = tuple[np.ndarray, np.ndarray]


def _grid(shape: tuple[int, int], cy: float, cx: float, theta: float) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    dy, dx = yy - cy, xx - cx
    return (dx * np.cos(theta) + dy * np.sin(theta)), (-dx * np.sin(theta) + dy * np.cos(theta))


def _logistic(d: np.ndarray, scale: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(np.clip(d / max(scale, 1e-3), -50, 50)))


def lobulated_distance(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float,
                       theta: float, amp: float, k: int, phase: float) -> np.ndarray:
    """Normalised distance (1 = on the border) of a lobulated ellipse."""
    u, v = _grid(shape, cy, cx, theta)
    u, v = u / rx, v / ry
    return np.hypot(u, v) / (1.0 + amp * np.sin(k * np.arctan2(v, u) + phase))


def _lobulated(rng: np.random.Generator, shape: tuple[int, int], cy: float, cx: float,
               r: float) -> Profile:
    ry, rx = r * rng.uniform(0.6, 1.0, size=2)
    d = lobulated_distance(shape, cy, cx, ry, rx, rng.uniform(0, np.pi), rng.uniform(0, 0.3),
                           int(rng.integers(2, 7)), rng.uniform(0, 2 * np.pi))
    r_mean = (ry + rx) / 2
    prof = _logistic((d - 1.0) * r_mean, rng.uniform(0.25, 1.6))
    return prof, d <= 1.0 + 0.5 / r_mean


def _spiculated(rng: np.random.Generator, shape: tuple[int, int], cy: float, cx: float,
                r: float) -> Profile:
    core = max(r * rng.uniform(0.35, 0.6), 1.2)
    u, v = _grid(shape, cy, cx, 0.0)
    dist = np.hypot(u, v)
    prof = _logistic(dist - core, rng.uniform(0.3, 0.8))
    ang = np.arctan2(v, u)
    for _ in range(int(rng.integers(4, 13))):
        a = rng.uniform(0, 2 * np.pi)
        length = r * rng.uniform(0.8, 1.6)
        along = dist * np.cos(ang - a)
        across = np.abs(dist * np.sin(ang - a))
        width = rng.uniform(0.35, 0.8) * np.clip(1 - along / length, 0, 1)  # tapering
        spike = np.where((along > 0) & (along < length), np.exp(-(across / np.maximum(width, 0.2)) ** 2), 0)
        prof = np.maximum(prof, spike * np.clip(1.2 - along / length, 0, 1))
    return prof, prof >= 0.3


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    n = gaussian_filter(rng.normal(size=shape), sigma)
    n = (n - n.min()) / max(float(n.max() - n.min()), 1e-9)
    return n


def _textured(rng: np.random.Generator, shape: tuple[int, int], cy: float, cx: float,
              r: float) -> Profile:
    prof, mask = _lobulated(rng, shape, cy, cx, max(r, 3.0))
    tex = _smooth_noise(rng, shape, rng.uniform(0.6, 1.8))
    return prof * (rng.uniform(0.2, 0.55) + (1 - 0.3) * tex), mask


def _cluster(rng: np.random.Generator, shape: tuple[int, int], cy: float, cx: float,
             r: float) -> Profile:
    prof = np.zeros(shape)
    spread = max(r, 3.0)
    u, v = _grid(shape, cy, cx, 0.0)
    for _ in range(int(rng.integers(3, 8))):
        oy, ox = rng.normal(0, spread / 2, size=2)
        s = rng.uniform(0.8, 1.8)
        prof = np.maximum(prof, np.exp(-((u - ox) ** 2 + (v - oy) ** 2) / (2 * s * s)))
    return prof, prof >= 0.3


def _ground_glass(rng: np.random.Generator, shape: tuple[int, int], cy: float, cx: float,
                  r: float) -> Profile:
    r = r * rng.uniform(1.0, 1.5)
    ry, rx = max(r, 4.0) * rng.uniform(0.6, 1.0, size=2)
    d = lobulated_distance(shape, cy, cx, ry, rx, rng.uniform(0, np.pi), rng.uniform(0, 0.2),
                           int(rng.integers(2, 5)), rng.uniform(0, 2 * np.pi))
    prof = _logistic((d - 1.0) * (ry + rx) / 2, rng.uniform(1.5, 3.0))
    prof = prof * (0.75 + 0.25 * _smooth_noise(rng, shape, 1.5))
    return prof, d <= 1.0


def _rim(rng: np.random.Generator, shape: tuple[int, int], cy: float, cx: float,
         r: float) -> Profile:
    r = max(r, 3.0)
    ry, rx = r * rng.uniform(0.7, 1.0, size=2)
    u, v = _grid(shape, cy, cx, rng.uniform(0, np.pi))
    d = np.hypot(u / rx, v / ry) * (ry + rx) / 2  # ≈ pixels from the centre
    wall = rng.uniform(0.8, 2.0)
    ring = np.exp(-((d - r) / wall) ** 2)
    centre = rng.uniform(0.0, 0.35) * _logistic(d - (r - wall), 0.5)
    return np.maximum(ring, centre), d <= r + wall


DRAW: dict[str, Callable[[np.random.Generator, tuple[int, int], float, float, float], Profile]] = {
    "lobulated": _lobulated, "spiculated": _spiculated, "textured": _textured,
    "cluster": _cluster, "ground_glass": _ground_glass, "rim": _rim,
}


def draw_profile(rng: np.random.Generator, family: str, shape: tuple[int, int], cy: float,
                 cx: float, r: float) -> Profile:
    """(profile 0–1, mask) of one lesion of ``family`` centred at (cy, cx), size about ``r``."""
    prof, mask = DRAW[family](rng, shape, cy, cx, r)
    return np.clip(prof, 0, 1).astype(np.float32), np.asarray(mask, bool)


def insert_lesions(rng: np.random.Generator, small: np.ndarray, families: tuple[str, ...], *,
                   n_lesions: int, normalise: Callable[[np.ndarray], np.ndarray],
                   ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Add ``n_lesions`` lesions (families drawn from ``families``) to a model-size image in its own
    units; each must stay visible after normalisation (else it is redrawn, up to 40 times).

    Returns:
        (image with lesions, union of the masks, the family of each lesion inserted).
    """
    h, w = small.shape
    lo, hi = np.percentile(small, [0.5, 99.5])
    span = float(hi - lo) or 1.0
    base = normalise(small)
    out = small.astype(np.float64).copy()
    masks = np.zeros((h, w), bool)
    drawn: list[str] = []
    for _ in range(n_lesions):
        family = families[int(rng.integers(len(families)))]
        for _attempt in range(40):
            r = rng.uniform(*RADIUS)
            m = min(r + 2, h / 2 - 2)
            cy, cx = rng.uniform(m, h - m), rng.uniform(m, w - m)
            prof, mask = draw_profile(rng, family, (h, w), cy, cx, r)
            if not mask.any() or (mask & masks).any():
                continue
            local = float(base[mask].mean())
            # bright on dark ground, dark on bright ground, either in between
            sign = -1.0 if local > 0.7 else 1.0 if local < 0.3 else float(rng.choice([-1.0, 1.0]))
            amp = rng.uniform(0.2, 0.45) if family == "ground_glass" else rng.uniform(0.3, 0.9)
            trial = out + sign * amp * span * prof
            changed = np.abs(normalise(trial.astype(np.float32)) - base)
            if float(changed[mask].mean()) >= MIN_VISIBLE:
                out, masks = trial, masks | mask
                drawn.append(family)
                break
    return out.astype(np.float32), masks, drawn
