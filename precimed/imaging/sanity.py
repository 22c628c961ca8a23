"""Sanity checks of image heatmaps (Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018).

**Cascading model-parameter randomisation.** Randomise the weights of the top weighted layer
(the one nearest the output), then of the top two, and so on, and explain the same images with
each randomised copy. A heatmap that still looks the same explains the image, not the model:
the rank correlation (Spearman ρ) of |heatmap| between the trained and the randomised model
must fall. Two randomisations are offered, because the figure depends on it:

- ``reinit``: each weight tensor re-initialised with the layer's own Keras initializer
  (Glorot-uniform kernels, zero biases; batch normalisation back to scale 1, shift 0 and
  running mean 0, variance 1), i.e. the layer as before training;
- ``spread``: each trainable weight tensor drawn from a normal with that tensor's own trained
  mean and standard deviation (the trained scale kept, the learned structure gone); running
  statistics of batch normalisation are kept.

**Data randomisation** (the same network trained on shuffled labels) needs a training run;
:func:`summary` compares its heatmaps the same way.

The explainer is the one the app uses (:class:`precimed.imaging.explain.Attributor`: SHAP's
GradientExplainer with the card's background, on the card's explained layer), rebuilt for each
randomised copy.

Example:
    >>> a = np.arange(16.0).reshape(4, 4)
    >>> round(spearman_abs(a, -a), 3), round(spearman_abs(a, a.max() - a), 3)
    (1.0, -1.0)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from precimed import lazy

if TYPE_CHECKING:
    from precimed.registry import Bundle

METHODS = {
    "reinit": "weights of the randomised layers re-initialised with each layer's own Keras "
              "initializer (Glorot-uniform kernels, zero biases; batch normalisation scale 1, "
              "shift 0, running mean 0, variance 1)",
    "spread": "trainable weights of the randomised layers drawn from a normal with each weight "
              "tensor's own trained mean and standard deviation (batch-normalisation running "
              "statistics kept)",
}


def spearman_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman ρ between |a| and |b| (flattened); ties ranked by their mean rank."""
    from scipy.stats import spearmanr

    x, y = np.abs(np.ravel(a)), np.abs(np.ravel(b))
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(spearmanr(x, y).statistic)


def weighted_layers(model: Any) -> list[Any]:
    """Layers with learned weights, from the input to the output. Layers named ``tta_*`` hold
    the fixed kernels of the test-time augmentation (:mod:`precimed.training.tta`: flips and
    the mean of the views), learn nothing and are left out."""
    from precimed.training.tta import PREFIX

    return [layer for layer in model.layers if layer.weights and not layer.name.startswith(PREFIX)]


def randomised_copy(model: Any, n_top: int, method: str, seed: int) -> Any:
    """A copy of ``model`` with its top ``n_top`` weighted layers randomised by ``method``."""
    keras = lazy.keras()
    if method not in METHODS:
        raise ValueError(f"unknown randomisation {method!r}; one of {sorted(METHODS)}")
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    rng = np.random.default_rng(seed)
    layers = weighted_layers(copy)[::-1][:n_top]
    for k, layer in enumerate(layers):
        for var in layer.weights:
            shape = tuple(var.shape)
            if method == "spread":
                if not var.trainable:  # running statistics (batch normalisation) stay trained
                    continue
                w = np.asarray(var.numpy())
                new = rng.normal(float(w.mean()), float(w.std()) or 1e-3, size=shape)
            else:
                attr = var.path.rsplit("/", 1)[-1]  # "kernel" or "bias"
                init = keras.initializers.get(getattr(layer, f"{attr}_initializer", "zeros"))
                if hasattr(init, "seed"):
                    init.seed = seed + 101 * k
                new = np.asarray(init(shape))
            var.assign(new.astype(np.float32))
    return copy


def summary(trained: np.ndarray, other: np.ndarray) -> dict[str, Any]:
    """Median (and IQR) over images of ρ(|trained heatmap|, |other heatmap|)."""
    rhos = [spearman_abs(a, b) for a, b in zip(trained, other, strict=True)]
    return {"median": round(float(np.median(rhos)), 4), "n": len(rhos),
            "iqr": [round(float(v), 4) for v in np.percentile(rhos, [25, 75])]}


def cascading_randomisation(model: Any, background: np.ndarray, x: np.ndarray, *, layer: str | None,
                            method: str, steps: int = 2, nsamples: int = 64,
                            seed: int = 7) -> list[dict[str, Any]]:
    """Median ρ(|heatmap| trained, |heatmap| randomised) over ``x`` after randomising the top 1,
    top 2, …, top ``steps`` weighted layers: entries for the card's ``explanation.sanity_checks``.
    Heatmaps come from :func:`precimed.imaging.explain.attributions`, the app's own code, with
    the card's explained ``layer``.
    """
    from precimed.imaging.explain import attributions

    trained = attributions(model, background, x, layer=layer, nsamples=nsamples, seed=seed)
    names = [lay.name for lay in weighted_layers(model)[::-1]]
    out = []
    for n in range(1, steps + 1):
        rand = attributions(randomised_copy(model, n, method, seed), background, x, layer=layer,
                            nsamples=nsamples, seed=seed)
        out.append({
            "randomised": f"top {n} weighted layer{'s' if n > 1 else ''}",
            "layers": names[:n],
            "method": METHODS[method],
            "spearman_abs": summary(trained, rand),
        })
    return out


def bundle_cascade(bundle: Bundle, x: np.ndarray, *, method: str, steps: int = 2,
                   nsamples: int = 64, seed: int = 7) -> list[dict[str, Any]]:
    """:func:`cascading_randomisation` of a bundle's model with its card's background and layer."""
    from precimed.imaging.explain import background

    return cascading_randomisation(bundle.model(), background(bundle), x,
                                   layer=bundle.card["explanation"].get("layer"), method=method,
                                   steps=steps, nsamples=nsamples, seed=seed)
