"""SHAP heatmaps for image CNNs with ``shap.GradientExplainer`` (expected gradients).

Why GradientExplainer: it needs only gradients, so it works with every Keras layer, and a
failure cannot poison the process. ``shap.DeepExplainer`` rewrites TensorFlow's gradient
registry; after one failure every later gradient in the process fails (shared/NOTES-stack.md),
which in a long-running Streamlit server would break explanations for every user.

Additivity. Expected gradients estimate the path integral from the background image(s) to
the input by Monte Carlo (``nsamples`` points, each on the line from a random background image
to the input), so ``base_value + Σ values`` equals the output only up to sampling error. With
the bundled lesion CNN (a black baseline, 128 samples) the gap on its recorded test lesions has
a median of about 0.03 and a tail up to about 0.2 (probability units; the card records the
median and 95th percentile); 512 samples halve it at four times the cost.
:attr:`ImageExplanation.additivity_error` reports it for every explanation;
``tests/imaging/test_model_explain.py`` checks median ≤ 0.06 and maximum ≤ 0.25 on 40 of those
images, and that the gap shrinks as ``nsamples`` grows. The base value is the model's mean
output over the same background images, which is what the estimate converges to.

Example:
    >>> from precimed.registry import get_bundle  # doctest: +SKIP
    >>> e = explain_image(get_bundle("lesion-cnn-synthetic"), image2d)  # doctest: +SKIP
    >>> e.heatmap.shape == image2d.shape, e.additivity_error < 0.25  # doctest: +SKIP
    (True, True)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from precimed import audit, lazy
from precimed.errors import BundleError, PrecimedInputError
from precimed.imaging.preprocess import _resize, input_shape, model_input
from precimed.predict import raw_output

if TYPE_CHECKING:
    from precimed.registry import Bundle

NSAMPLES = 128
SEED = 20261125
METHOD = "shap.GradientExplainer (expected gradients)"
_LOCK = threading.Lock()
_CACHE: dict[tuple[str, str], tuple[Any, np.ndarray, np.ndarray]] = {}


@dataclass
class ImageExplanation:
    """One image's explanation for one class, on the probability scale.

    Attributes:
        values: SHAP values at the model's input resolution (h, w), channels summed.
        heatmap: ``values`` resized to the image's own resolution (H, W) and scaled by the area
            ratio, so that its sum approximates ``values.sum()``.
        base_value: mean model output over the background images.
        output: the model's output for this image (probability of ``class_name``).
    """

    class_name: str
    base_value: float
    output: float
    values: np.ndarray
    heatmap: np.ndarray
    method: str = METHOD
    nsamples: int = NSAMPLES
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def additivity_error(self) -> float:
        """``|base_value + Σ values − output|`` (Monte Carlo error of expected gradients)."""
        return float(abs(self.base_value + float(self.values.sum()) - self.output))


def background(bundle: Bundle) -> np.ndarray:
    """The bundle's background images (n, H, W, C), checked against the card's SHA-256."""
    from precimed.registry import sha256_file

    expl = bundle.card["explanation"]
    name = expl.get("background_file")
    if not name:
        raise BundleError(f"model '{bundle.id}' keeps no background images",
                          expected="explanation.background_file in the card")
    path = bundle.path / name
    if not path.is_file():
        raise BundleError(f"model '{bundle.id}': {name} is missing", expected=str(path))
    want = expl.get("background_sha256")
    if want and sha256_file(path) != want:
        raise BundleError(f"model '{bundle.id}': {name} does not match its checksum")
    arr = np.load(path, allow_pickle=False)
    if tuple(arr.shape[1:]) != input_shape(bundle):
        raise BundleError(f"model '{bundle.id}': background shape {arr.shape} does not match "
                          f"the input {input_shape(bundle)}")
    return arr.astype(np.float32)


def _explainer(bundle: Bundle) -> tuple[Any, np.ndarray, np.ndarray]:
    """(GradientExplainer, background, base values per output), built once per bundle."""
    key = (str(bundle.path), bundle.card["weights_sha256"])
    with _LOCK:
        if key not in _CACHE:
            shap = lazy.shap()

            model = bundle.model()
            bg = background(bundle)
            explainer = shap.GradientExplainer(model, bg, batch_size=64)
            base = raw_output(model, bg).mean(axis=0)
            _CACHE[key] = (explainer, bg, base)
        return _CACHE[key]


def class_index(bundle: Bundle, class_name: str | None) -> tuple[str, int, float]:
    """(class, output index, sign): binary models have one output, P(positive class); the
    other class is explained as 1 − P, i.e. the same values with the sign flipped."""
    card = bundle.card
    classes = list(card["classes"])
    if class_name is None:
        class_name = card.get("positive_class") or classes[-1]
    if class_name not in classes:
        raise PrecimedInputError(f"class '{class_name}' is not one of the model's classes",
                                 expected=f"one of {classes}")
    if card["task"] == "binary":
        return class_name, 0, 1.0 if class_name == card["positive_class"] else -1.0
    return class_name, classes.index(class_name), 1.0


def explain_input(bundle: Bundle, x: np.ndarray, *, class_name: str | None = None,
                  nsamples: int = NSAMPLES, seed: int = SEED) -> tuple[str, float, float, np.ndarray]:
    """Explain one model-ready input (H, W, C).

    Returns:
        (class, base value, output, values (H, W) with channels summed).
    """
    name, idx, sign = class_index(bundle, class_name)
    explainer, _, base = _explainer(bundle)
    batch = np.asarray(x, dtype=np.float32)[np.newaxis]
    with _LOCK:  # shap reseeds NumPy's global generator: restore it, one call at a time
        state = np.random.get_state()
        try:
            raw, _ = explainer.shap_values(batch, nsamples=nsamples, rseed=seed,
                                           ranked_outputs=np.array([[idx]]),
                                           output_rank_order="custom")
        finally:
            np.random.set_state(state)
    vals = np.asarray(raw[0] if isinstance(raw, list) else raw, dtype=np.float64)
    vals = vals.reshape(batch.shape[1:] + (-1,))[..., 0].sum(axis=-1)  # (H, W)
    out = float(raw_output(bundle.model(), batch)[0, idx])
    base_value = float(base[idx])
    audit.record("explain", bundle, batch, {"class": name, "output": out if sign > 0 else 1.0 - out,
                                            "base_value": base_value if sign > 0 else 1.0 - base_value,
                                            "method": METHOD})
    if sign < 0:
        return name, 1.0 - base_value, 1.0 - out, -vals
    return name, base_value, out, vals


def explain_image(bundle: Bundle, image2d: np.ndarray, *, class_name: str | None = None,
                  nsamples: int = NSAMPLES) -> ImageExplanation:
    """SHAP explanation of a grey (H, W) or RGB (H, W, 3) image, heatmap at its resolution."""
    x = model_input(bundle, image2d)
    name, base, out, vals = explain_input(bundle, x, class_name=class_name, nsamples=nsamples)
    height, width = np.asarray(image2d).shape[:2]
    return ImageExplanation(name, base, out, vals, upsample(vals, (height, width)), nsamples=nsamples)


def upsample(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Values on the model grid → the image grid, scaled so the sum is (about) preserved."""
    h, w = values.shape
    big = _resize(values.astype(np.float32), shape[0], shape[1])
    return (big * (h * w) / float(shape[0] * shape[1])).astype(np.float32)


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()
