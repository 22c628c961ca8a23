"""Occlusion for image models: hide a region and re-predict; occlusion-sensitivity maps.

Occlusion sensitivity (Zeiler & Fergus, ECCV 2014): slide a patch over the model input,
replace the pixels under it, and record how much the probability of the explained class drops.
A region whose hiding lowers the probability supports the class, so the map has the same sign
convention as SHAP (positive = toward the class) and can be compared with the SHAP heatmap.

Everything works on the model input that :func:`precimed.imaging.model_input` returns (the
card's resize and intensity steps already applied) and predicts with
:func:`precimed.imaging.predict_model_inputs`, all patch positions of a map in a few batched
calls. Boxes given in the image's own pixels are scaled to the model grid.

Fill (what replaces the hidden pixels): ``blur`` (default: the image blurred with a Gaussian of
σ = the patch size, so the local brightness stays and small structures vanish; the same idea as
SHAP's ``blur`` image masker), ``mean`` (the image's mean) or ``zero``.

Written by hand: SHAP has no occlusion explainer, Captum's ``Occlusion`` is for PyTorch, and
the method is a few lines of array indexing around one batched model call.

Example:
    >>> x = np.zeros((8, 8, 1), dtype="float32"); x[2:4, 2:4] = 1.0
    >>> float(occlude(x, Box(2, 2, 3, 3), fill="zero").sum())
    0.0
    >>> grid_box((64, 64), grid=4, row=1, col=2)
    Box(top=16, left=32, bottom=31, right=47)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from precimed import audit
from precimed.errors import PrecimedInputError

if TYPE_CHECKING:
    from precimed.registry import Bundle

FILLS = ("blur", "mean", "zero")
# Patch positions per model call: bounds memory, and with the lesion CNN's 8 views 32 ran the
# 225-position map in 1.65-2.03 s against 2.05-2.57 s at 128 (3 runs each; the larger
# batches' activations fall out of the 2-core machine's caches).
CHUNK = 32


@dataclass(frozen=True)
class Box:
    """A rectangle of pixels, bounds inclusive: rows ``top``–``bottom``, columns
    ``left``–``right``."""

    top: int
    left: int
    bottom: int
    right: int

    def to_json(self) -> dict[str, int]:
        return {"top": self.top, "left": self.left, "bottom": self.bottom, "right": self.right}

    def check(self, shape: tuple[int, int]) -> Box:
        """The box, if it lies inside an image of ``shape`` (H, W) and is not empty.

        Raises:
            PrecimedInputError: otherwise.
        """
        h, w = shape
        if not (0 <= self.top <= self.bottom < h and 0 <= self.left <= self.right < w):
            raise PrecimedInputError(
                f"box rows {self.top}–{self.bottom}, columns {self.left}–{self.right} is not "
                f"inside the {h}×{w} image",
                expected=f"0 ≤ top ≤ bottom < {h} and 0 ≤ left ≤ right < {w}")
        return self


def scale_box(box: Box, from_shape: tuple[int, int], to_shape: tuple[int, int]) -> Box:
    """The pixels of ``to_shape`` covered by ``box`` given on ``from_shape`` (image → model).

    Example:
        >>> scale_box(Box(0, 0, 99, 49), (200, 100), (64, 64))
        Box(top=0, left=0, bottom=31, right=31)
    """
    sy, sx = to_shape[0] / from_shape[0], to_shape[1] / from_shape[1]
    top = min(int(math.floor(box.top * sy)), to_shape[0] - 1)
    left = min(int(math.floor(box.left * sx)), to_shape[1] - 1)
    bottom = max(top, min(int(math.ceil((box.bottom + 1) * sy)) - 1, to_shape[0] - 1))
    right = max(left, min(int(math.ceil((box.right + 1) * sx)) - 1, to_shape[1] - 1))
    return Box(top, left, bottom, right)


def grid_box(shape: tuple[int, int], *, grid: int, row: int, col: int) -> Box:
    """Cell (``row``, ``col``) of a ``grid`` × ``grid`` partition of an image of ``shape``.

    Raises:
        PrecimedInputError: the cell is outside the grid.
    """
    if not (grid >= 1 and 0 <= row < grid and 0 <= col < grid):
        raise PrecimedInputError(f"grid cell ({row}, {col}) of a {grid}×{grid} grid",
                                 expected=f"row and column between 0 and {grid - 1}")
    h, w = shape
    ys = np.linspace(0, h, grid + 1).round().astype(int)
    xs = np.linspace(0, w, grid + 1).round().astype(int)
    return Box(int(ys[row]), int(xs[col]), int(ys[row + 1]) - 1, int(xs[col + 1]) - 1)


def fill_image(x: np.ndarray, fill: str = "blur", *, sigma: float = 8.0) -> np.ndarray:
    """The values that replace occluded pixels of ``x`` (H, W, C), per pixel.

    Raises:
        PrecimedInputError: unknown fill.
    """
    if fill == "zero":
        return np.zeros_like(x)
    if fill == "mean":
        return np.broadcast_to(x.mean(axis=(0, 1), keepdims=True), x.shape).astype(x.dtype)
    if fill == "blur":
        from scipy import ndimage

        return ndimage.gaussian_filter(x, sigma=(sigma, sigma, 0), mode="nearest").astype(x.dtype)
    raise PrecimedInputError(f"unknown fill '{fill}'", expected=f"one of {', '.join(FILLS)}")


def occlude(x: np.ndarray, box: Box, fill: str = "blur", *, filler: np.ndarray | None = None,
            sigma: float = 8.0) -> np.ndarray:
    """A copy of the model input ``x`` (H, W, C) with ``box`` replaced by the fill."""
    box.check(x.shape[:2])
    source = filler if filler is not None else fill_image(x, fill, sigma=sigma)
    out = np.array(x, copy=True)
    out[box.top:box.bottom + 1, box.left:box.right + 1] = source[box.top:box.bottom + 1,
                                                                 box.left:box.right + 1]
    return out


def _class(bundle: Bundle, class_name: str | None, probs: np.ndarray) -> int:
    classes = bundle.classes
    if class_name is None:
        pos = bundle.card.get("positive_class")
        return classes.index(pos) if pos else int(np.argmax(probs))
    if class_name not in classes:
        raise PrecimedInputError(f"unknown class '{class_name}'", expected=f"one of {classes}")
    return classes.index(class_name)


@dataclass
class OcclusionResult:
    """One box hidden: probabilities before and after, for every class."""

    box: Box
    model_box: Box
    fill: str
    class_name: str
    before: dict[str, float]
    after: dict[str, float]

    @property
    def delta(self) -> dict[str, float]:
        """Class → probability after − before."""
        return {c: self.after[c] - self.before[c] for c in self.before}

    def to_json(self) -> dict[str, Any]:
        return {"box": self.box.to_json(), "model_box": self.model_box.to_json(),
                "fill": self.fill, "class": self.class_name, "before": self.before,
                "after": self.after, "delta": self.delta}


def occlude_image(bundle: Bundle, image2d: np.ndarray, box: Box, *, fill: str = "blur",
                  class_name: str | None = None) -> OcclusionResult:
    """Hide ``box`` (in the image's own pixels) and re-predict.

    Raises:
        PrecimedInputError: box outside the image, unknown fill or class.
    """
    from precimed.imaging import model_input, predict_model_inputs

    img = np.asarray(image2d)
    box.check(img.shape[:2])
    x = model_input(bundle, img)
    mbox = scale_box(box, img.shape[:2], x.shape[:2])
    hidden = occlude(x, mbox, fill, sigma=_sigma(x, mbox))
    probs = predict_model_inputs(bundle, np.stack([x, hidden]))
    c = _class(bundle, class_name, probs[0])
    classes = bundle.classes
    audit.record("occlusion", bundle, x[np.newaxis],
                 {"box": mbox.to_json(), "fill": fill, "class": classes[c],
                  "before": float(probs[0, c]), "after": float(probs[1, c])})
    return OcclusionResult(box, mbox, fill, classes[c],
                           {k: float(probs[0, j]) for j, k in enumerate(classes)},
                           {k: float(probs[1, j]) for j, k in enumerate(classes)})


def _sigma(x: np.ndarray, box: Box) -> float:
    return float(max(box.bottom - box.top + 1, box.right - box.left + 1, 2))


@dataclass
class OcclusionMap:
    """Mean drop of P(``class_name``) when a patch covering each pixel is hidden.

    ``values`` is on the model grid (h, w); :meth:`heatmap` resizes it to an image.
    """

    values: np.ndarray
    class_name: str
    probability: float
    patch: int
    stride: int
    fill: str
    positions: int
    seconds: float
    method: str = "occlusion sensitivity (Zeiler & Fergus 2014), batched"

    def heatmap(self, shape: tuple[int, int]) -> np.ndarray:
        """The map resized (bilinear) to an image of ``shape`` (H, W); values unchanged in
        scale (a drop in probability, not a sum like SHAP)."""
        from scipy import ndimage

        h, w = self.values.shape
        return ndimage.zoom(self.values, (shape[0] / h, shape[1] / w), order=1,
                            grid_mode=True, mode="nearest").astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "class": self.class_name, "probability": self.probability,
                "patch": self.patch, "stride": self.stride, "fill": self.fill,
                "positions": self.positions, "shape": list(self.values.shape),
                "max_drop": float(self.values.max()), "max_rise": float(-self.values.min()),
                "seconds": round(self.seconds, 4)}


def positions_along(size: int, patch: int, stride: int) -> list[int]:
    """Patch start offsets covering ``0 … size-1`` (the last one flush with the edge).

    Example:
        >>> positions_along(10, 4, 3)
        [0, 3, 6]
        >>> positions_along(11, 4, 3)
        [0, 3, 6, 7]
    """
    starts = list(range(0, max(size - patch, 0) + 1, stride))
    if starts[-1] + patch < size:
        starts.append(size - patch)
    return starts


def occlusion_map_input(bundle: Bundle, x: np.ndarray, *, patch: int | None = None,
                        stride: int | None = None, fill: str = "blur",
                        class_name: str | None = None) -> OcclusionMap:
    """Occlusion-sensitivity map of one model input ``x`` (h, w, c).

    Defaults: patch = 1/8 of the smaller side (at least 2 pixels), stride = patch / 2.

    Raises:
        PrecimedInputError: patch or stride out of range, unknown fill or class.
    """
    from precimed.imaging import predict_model_inputs

    start = time.perf_counter()
    h, w = x.shape[:2]
    patch = patch or max(2, min(h, w) // 8)
    stride = stride or max(1, patch // 2)
    if not (1 <= patch <= min(h, w)) or stride < 1:
        raise PrecimedInputError(f"patch {patch}, stride {stride}",
                                 expected=f"1 ≤ patch ≤ {min(h, w)} and stride ≥ 1 (model pixels)")
    filler = fill_image(x, fill, sigma=float(patch))
    base = predict_model_inputs(bundle, x[np.newaxis])[0]
    c = _class(bundle, class_name, base)
    boxes = [Box(t, left, t + patch - 1, left + patch - 1)
             for t in positions_along(h, patch, stride)
             for left in positions_along(w, patch, stride)]
    drops = np.empty(len(boxes))
    for k in range(0, len(boxes), CHUNK):
        chunk = boxes[k:k + CHUNK]
        batch = np.repeat(x[np.newaxis], len(chunk), axis=0)
        for i, b in enumerate(chunk):
            batch[i, b.top:b.bottom + 1, b.left:b.right + 1] = filler[b.top:b.bottom + 1,
                                                                      b.left:b.right + 1]
        drops[k:k + len(chunk)] = base[c] - predict_model_inputs(bundle, batch)[:, c]
    total = np.zeros((h, w))
    count = np.zeros((h, w))
    for b, d in zip(boxes, drops, strict=True):
        total[b.top:b.bottom + 1, b.left:b.right + 1] += d
        count[b.top:b.bottom + 1, b.left:b.right + 1] += 1
    values = (total / np.maximum(count, 1)).astype(np.float32)
    audit.record("occlusion-map", bundle, x[np.newaxis],
                 {"class": bundle.classes[c], "patch": patch, "stride": stride, "fill": fill,
                  "probability": float(base[c]), "max_drop": float(values.max())})
    return OcclusionMap(values, bundle.classes[c], float(base[c]), patch, stride, fill,
                        len(boxes), time.perf_counter() - start)


def occlusion_map(bundle: Bundle, image2d: np.ndarray, **kwargs: Any) -> OcclusionMap:
    """:func:`occlusion_map_input` of a grey (H, W) or RGB (H, W, 3) image."""
    from precimed.imaging import model_input

    return occlusion_map_input(bundle, model_input(bundle, np.asarray(image2d)), **kwargs)


def occlusion_for_path(bundle: Bundle, path: str, *, frame: int = 0,
                       box: tuple[int, int, int, int] | None = None, patch: int | None = None,
                       stride: int | None = None, fill: str = "blur",
                       class_name: str | None = None, map_out: str | None = None,
                       allow_out_of_scope: bool = False) -> dict[str, Any]:
    """What ``precimed occlusion`` prints: one box hidden (``box`` = top, left, bottom, right in
    image pixels), or else the occlusion map (optionally saved with ``np.save``).

    Raises:
        PrecimedInputError: no such frame, a box outside the image, bad patch/stride/fill/class,
            an unwritable ``map_out``, an out-of-scope frame without ``allow_out_of_scope``.
        DicomInputError: unusable input.
    """
    from pathlib import Path

    from precimed.imaging import frame_image
    from precimed.imaging.check import refusal
    from precimed.imaging.service import load_frame

    fr = load_frame(path, frame)
    warnings = refusal(bundle.card, fr, allow=allow_out_of_scope)
    image = frame_image(fr)
    out: dict[str, Any] = {"source": fr.label, "index": frame, "image_shape": list(image.shape[:2]),
                           "warnings": warnings}
    if box is not None:
        out.update(occlude_image(bundle, image, Box(*box), fill=fill,
                                 class_name=class_name).to_json())
        return out
    omap = occlusion_map(bundle, image, patch=patch, stride=stride, fill=fill,
                         class_name=class_name)
    out.update(omap.to_json())
    if map_out:
        target = Path(map_out)
        if not target.parent.is_dir():
            raise PrecimedInputError(f"cannot write the map to {map_out}: no such folder",
                                     expected="a path in an existing folder")
        np.save(target, omap.heatmap(image.shape[:2]))
        saved = target if target.suffix == ".npy" else target.with_name(target.name + ".npy")
        out["map"] = str(saved)
    return out
