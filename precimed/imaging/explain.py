"""SHAP heatmaps for image CNNs with ``shap.GradientExplainer`` (expected gradients).

Why GradientExplainer: it needs only gradients, so it works with every Keras layer, and a
failure cannot poison the process. ``shap.DeepExplainer`` rewrites TensorFlow's gradient
registry; after one failure every later gradient in the process fails (shared/NOTES-stack.md),
which in a long-running Streamlit server would break explanations for every user.

What is explained. By default the input pixels. A card may name a layer instead
(``explanation.layer``): the model is split there, GradientExplainer explains the rest of the
network (the *head*) on that layer's activations, with the background images' activations as
its background, and the values (channels summed) are upsampled to the input grid. On the
input, expected gradients against a black image are about input × gradient, which follows
the image's own bright structures whatever the weights are: the bundled lesion CNN's input
heatmap failed the model-randomisation sanity check (:mod:`precimed.imaging.sanity`); its
grid-cell logits (``tta_logits``, linear in the last convolutional layer) pass it. The app
and the sanity check call the same :class:`Attributor`.

Additivity. Expected gradients estimate the path integral from the background to the input by
Monte Carlo (``nsamples`` points, each on the line from a random background sample to the
input), so ``base_value + Σ values`` equals the output only up to sampling error; the card
records the median and 95th percentile of the gap on its held-out lesions, and
:attr:`ImageExplanation.additivity_error` reports it for every explanation. The base value is
the model's mean output over the background images, which is what the estimate converges to.

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
_CACHE: dict[tuple[str, str], Attributor] = {}


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


def split_model(model: Any, layer: str | None) -> tuple[Any | None, Any]:
    """(trunk: input → ``layer``'s output, head: that output → the model's output), sharing the
    model's weights; ``layer`` None gives (None, model). The head re-applies the layers after
    ``layer`` in order, so only a chain can be split (every PreciMed image model is one):
    :class:`Attributor` checks that head(trunk(x)) reproduces the model."""
    if not layer:
        return None, model
    keras = lazy.keras()
    names = [lay.name for lay in model.layers]
    if layer not in names:
        raise BundleError(f"the model has no layer '{layer}'", expected=f"one of {names}")
    target = model.get_layer(layer)
    trunk = keras.Model(model.inputs, target.output)
    x = inp = keras.Input(shape=tuple(target.output.shape[1:]), name=f"{layer}_activations")
    for lay in model.layers[names.index(layer) + 1:]:
        x = lay(x)
    return trunk, keras.Model(inp, x)


class Attributor:
    """GradientExplainer for one model, one background and one explained layer.

    ``values(x, index)`` gives SHAP values (n, H, W) on the input grid, channels summed, for
    output ``index``; the app (through :func:`explain_input`), the held-out fidelity figures and
    the sanity checks all compute heatmaps with it.
    """

    def __init__(self, model: Any, bg: np.ndarray, layer: str | None = None) -> None:
        shap = lazy.shap()
        self.model, self.layer = model, layer
        self.trunk, head = split_model(model, layer)
        self.input_hw = (int(model.inputs[0].shape[1]), int(model.inputs[0].shape[2]))
        feats = bg if self.trunk is None else raw_activations(self.trunk, bg)
        self.explainer = shap.GradientExplainer(head, feats, batch_size=64)
        out = raw_output(model, bg)
        if self.trunk is not None and not np.allclose(raw_output(head, feats), out, atol=1e-5):
            raise BundleError(f"the model cannot be split at '{layer}'",
                              expected="a chain of layers after it")
        self.base = out.mean(axis=0)

    def values(self, x: np.ndarray, index: int = 0, *, nsamples: int = NSAMPLES,
               seed: int = SEED) -> np.ndarray:
        batch = np.asarray(x, dtype=np.float32)
        feats = batch if self.trunk is None else raw_activations(self.trunk, batch)
        state = np.random.get_state()  # shap reseeds NumPy's global generator: restore it
        try:
            raw, _ = self.explainer.shap_values(feats, nsamples=nsamples, rseed=seed,
                                                ranked_outputs=np.full((len(feats), 1), index),
                                                output_rank_order="custom")
        finally:
            np.random.set_state(state)
        vals = np.asarray(raw[0] if isinstance(raw, list) else raw, dtype=np.float64)
        vals = vals.reshape(feats.shape + (-1,))[..., 0].sum(axis=-1)  # (n, h, w)
        if vals.shape[1:] != self.input_hw:
            vals = np.stack([upsample(v, self.input_hw) for v in vals]).astype(np.float64)
        return vals


def raw_activations(trunk: Any, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """``trunk``'s output for ``x`` (float32), through the traced call: an eager call walks the
    layer graph in Python, 340 ms an image for the 8-view lesion model's 90 layer calls."""
    from precimed.predict import compiled_call

    call = compiled_call(trunk)
    x = np.asarray(x, dtype=np.float32)
    return np.concatenate([np.asarray(call(x[i:i + batch]), dtype=np.float32)
                           for i in range(0, len(x), batch)])


def attributions(model: Any, bg: np.ndarray, x: np.ndarray, *, layer: str | None,
                 nsamples: int = NSAMPLES, seed: int = SEED, index: int = 0) -> np.ndarray:
    """SHAP values (n, H, W) of ``model`` for ``x`` (n, H, W, C), as the app computes them."""
    return Attributor(model, bg, layer).values(x, index, nsamples=nsamples, seed=seed)


def _attributor(bundle: Bundle) -> Attributor:
    """The bundle's :class:`Attributor`, built once per bundle."""
    key = (str(bundle.path), bundle.card["weights_sha256"])
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = Attributor(bundle.model(), background(bundle),
                                     bundle.card["explanation"].get("layer"))
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
    attributor = _attributor(bundle)
    batch = np.asarray(x, dtype=np.float32)[np.newaxis]
    with _LOCK:  # one SHAP call at a time (it reseeds NumPy's global generator)
        vals = attributor.values(batch, idx, nsamples=nsamples, seed=seed)[0]
    out = float(raw_output(bundle.model(), batch)[0, idx])
    base_value = float(attributor.base[idx])
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
