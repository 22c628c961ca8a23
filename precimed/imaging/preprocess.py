"""Model input for image bundles, exactly as the card's ``preprocessing`` describes it.

The steps (the same for every image bundle PreciMed trains, recorded in each card):

1. **greyscale**: the Modality-LUT output of the frame; MONOCHROME1 negated so that higher
   always means brighter (PS3.3 C.7.6.3.1.2); colour frames → luminance (ITU-R BT.601 weights).
   For 3-channel models, colour frames stay RGB and grey frames are repeated to 3 channels.
2. **resize** to the card's ``shape`` (H, W) with Pillow's antialiased bilinear filter
   (the aspect ratio is not kept: the card's input check warns when it is far from square).
3. **intensity**: per image, the ``low``–``high`` percentiles map to 0–1, clipped. This does
   not depend on the viewer's window, so the prediction is the same whatever is on screen.

:func:`model_input` and :func:`predict_model_inputs` are the stable entry points for code
that perturbs model inputs (an occlusion map, a what-if): perturb the array that
``model_input`` returns, batch, and call ``predict_model_inputs``.

Example:
    >>> import numpy as np
    >>> card = {"inputs": [{"name": "image", "shape": [4, 4, 1], "preprocessing":
    ...     {"intensity": {"low": 0.0, "high": 100.0}}}]}
    >>> x = model_input(card, np.arange(64, dtype="float32").reshape(8, 8))
    >>> x.shape, float(x.min()), float(x.max())
    ((4, 4, 1), 0.0, 1.0)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from precimed.errors import PrecimedInputError

if TYPE_CHECKING:
    from precimed.dicom.frames import ImageFrame
    from precimed.registry import Bundle

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601
DEFAULT_LOW, DEFAULT_HIGH = 0.5, 99.5


def _card(bundle_or_card: Bundle | dict[str, Any]) -> dict[str, Any]:
    return bundle_or_card if isinstance(bundle_or_card, dict) else bundle_or_card.card


def image_spec(bundle_or_card: Bundle | dict[str, Any]) -> dict[str, Any]:
    """The card's single image input (shape, modalities, photometric, preprocessing)."""
    card = _card(bundle_or_card)
    inputs = card.get("inputs") or []
    if not inputs or inputs[0].get("name") != "image":
        raise PrecimedInputError(f"model '{card.get('id', '?')}' does not take images",
                                 expected="an image model")
    spec: dict[str, Any] = inputs[0]
    return spec


def input_shape(bundle_or_card: Bundle | dict[str, Any]) -> tuple[int, int, int]:
    h, w, c = image_spec(bundle_or_card)["shape"]
    return int(h), int(w), int(c)


def frame_image(frame: ImageFrame) -> np.ndarray:
    """A frame as the model's step 1 sees it: grey float32 (H, W), higher = brighter, or RGB
    float32 (H, W, 3) in 0–1 for colour frames."""
    if frame.is_color:
        return frame.pixels.astype(np.float32) / float(max(frame.rgb_max, 1))
    pix = frame.pixels.astype(np.float32, copy=False)
    return -pix if frame.photometric == "MONOCHROME1" else pix


def _resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    if img.shape[:2] == (height, width):
        return img.astype(np.float32, copy=True)
    if img.ndim == 2:
        pil = Image.fromarray(np.ascontiguousarray(img, dtype=np.float32), mode="F")
        return np.asarray(pil.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    return np.stack([_resize(img[..., c], height, width) for c in range(img.shape[2])], axis=-1)


def normalise(img: np.ndarray, low: float = DEFAULT_LOW, high: float = DEFAULT_HIGH) -> np.ndarray:
    """Map the ``low``–``high`` percentiles of ``img`` to 0–1 and clip (step 3)."""
    finite = np.nan_to_num(img, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = np.percentile(finite, [low, high])
    if not hi > lo:
        lo, hi = float(finite.min()), float(finite.max())
    if not hi > lo:
        return np.zeros_like(finite, dtype=np.float32)
    return np.clip((finite - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def model_input(bundle_or_card: Bundle | dict[str, Any], image2d: np.ndarray) -> np.ndarray:
    """One model-ready array (H, W, C) float32 from a grey (H, W) or RGB (H, W, 3) image.

    ``image2d`` is in "higher = brighter" orientation (see :func:`frame_image`), any size.

    Raises:
        PrecimedInputError: not a 2-D grey or 3-channel image.
    """
    h, w, c = input_shape(bundle_or_card)
    prep = image_spec(bundle_or_card).get("preprocessing", {})
    intensity = prep.get("intensity", {})
    low = float(intensity.get("low", DEFAULT_LOW))
    high = float(intensity.get("high", DEFAULT_HIGH))
    img = np.asarray(image2d, dtype=np.float32)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3) or min(img.shape[:2]) < 2:
        raise PrecimedInputError(f"an image of shape {img.shape} cannot be used",
                                 expected="a 2-D greyscale or an RGB (H, W, 3) image")
    if c == 1 and img.ndim == 3:
        img = img @ LUMA
    out = _resize(img, h, w)
    if out.ndim == 2:
        out = normalise(out, low, high)[..., np.newaxis]
        if c == 3:
            out = np.repeat(out, 3, axis=-1)
    else:
        out = normalise(out, low, high)
    return out.astype(np.float32, copy=False)


def frame_input(bundle_or_card: Bundle | dict[str, Any], frame: ImageFrame) -> np.ndarray:
    """:func:`model_input` of a decoded DICOM frame."""
    return model_input(bundle_or_card, frame_image(frame))


def preprocessing_card(shape: tuple[int, int, int], training_sizes: tuple[int, int]) -> dict[str, Any]:
    """The ``preprocessing`` object trainers write into a card (documents the steps above)."""
    return {
        "greyscale": "Modality LUT output; MONOCHROME1 negated (higher = brighter); colour → "
                     "BT.601 luminance" + (" (3-channel model: RGB kept)" if shape[2] == 3 else ""),
        "resize": {"size": [shape[0], shape[1]], "method": "Pillow bilinear (antialiased)",
                   "aspect_ratio": "not kept"},
        "intensity": {"method": "per-image percentiles to 0-1, clipped", "low": DEFAULT_LOW,
                      "high": DEFAULT_HIGH},
        "training_image_size_px": {"min": int(training_sizes[0]), "max": int(training_sizes[1])},
    }
