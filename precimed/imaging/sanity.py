"""Sanity checks of image heatmaps (Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018).

**Cascading model-parameter randomisation.** Randomise the weights of the top weighted layer
(the one nearest the output), then of the top two, and so on, and explain the same images with
each randomised copy. A heatmap that still looks the same explains the image, not the model:
the rank correlation (Spearman ρ) of |heatmap| between the trained and the randomised model
must fall. Two randomisations are offered, because the figure depends on it:

- ``reinit``: each weight tensor re-initialised with the layer's own Keras initializer
  (Glorot-uniform kernels, zero biases for the layers used here);
- ``spread``: each weight tensor drawn from a normal with that tensor's own trained mean and
  standard deviation (the trained scale kept, the learned structure gone).

**Data randomisation** (the same network trained on shuffled labels) needs a training run;
:func:`spearman_abs` compares its heatmaps the same way.

The explainer is the one the app uses (:mod:`precimed.imaging.explain`: SHAP's
GradientExplainer with the card's background), rebuilt for each randomised copy.

Example:
    >>> a = np.arange(16.0).reshape(4, 4)
    >>> round(spearman_abs(a, -a), 3), round(spearman_abs(a, a.max() - a), 3)
    (1.0, -1.0)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from precimed.registry import Bundle

METHODS = {
    "reinit": "weights of the randomised layers re-initialised with each layer's own Keras "
              "initializer (Glorot-uniform kernels, zero biases)",
    "spread": "weights of the randomised layers drawn from a normal with each weight tensor's own "
              "trained mean and standard deviation",
}


def spearman_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman ρ between |a| and |b| (flattened); ties ranked by their mean rank."""
    from scipy.stats import spearmanr

    x, y = np.abs(np.ravel(a)), np.abs(np.ravel(b))
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(spearmanr(x, y).statistic)


def weighted_layers(model: Any) -> list[Any]:
    """Layers with weights, from the input to the output."""
    return [layer for layer in model.layers if layer.weights]


def randomised_copy(model: Any, n_top: int, method: str, seed: int) -> Any:
    """A copy of ``model`` with its top ``n_top`` weighted layers randomised by ``method``."""
    import keras

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


def attributions(model: Any, background: np.ndarray, x: np.ndarray, *, nsamples: int,
                 seed: int) -> np.ndarray:
    """Expected-gradient attributions (n, H, W), channels summed, for output 0."""
    import shap

    explainer = shap.GradientExplainer(model, background, batch_size=64)
    state = np.random.get_state()
    try:
        raw = explainer.shap_values(np.asarray(x, np.float32), nsamples=nsamples, rseed=seed)
    finally:
        np.random.set_state(state)
    vals = np.asarray(raw[0] if isinstance(raw, list) else raw, dtype=np.float64)
    return vals.reshape(x.shape + (-1,))[..., 0].sum(axis=-1)


def cascading_randomisation(model: Any, background: np.ndarray, x: np.ndarray, *, method: str,
                            steps: int = 2, nsamples: int = 64, seed: int = 7) -> list[dict[str, Any]]:
    """Median ρ(|heatmap| trained, |heatmap| randomised) over ``x`` after randomising the top 1,
    top 2, …, top ``steps`` weighted layers: entries for the card's ``explanation.sanity_checks``.
    """
    trained = attributions(model, background, x, nsamples=nsamples, seed=seed)
    names = [layer.name for layer in weighted_layers(model)[::-1]]
    out = []
    for n in range(1, steps + 1):
        rand = attributions(randomised_copy(model, n, method, seed), background, x,
                            nsamples=nsamples, seed=seed)
        rhos = [spearman_abs(a, b) for a, b in zip(trained, rand, strict=True)]
        out.append({
            "randomised": f"top {n} weighted layer{'s' if n > 1 else ''}",
            "layers": names[:n],
            "method": METHODS[method],
            "spearman_abs": {"median": round(float(np.median(rhos)), 4), "n": len(rhos),
                             "iqr": [round(float(v), 4) for v in np.percentile(rhos, [25, 75])]},
        })
    return out


def bundle_cascade(bundle: Bundle, x: np.ndarray, *, method: str, steps: int = 2,
                   nsamples: int = 64, seed: int = 7) -> list[dict[str, Any]]:
    """:func:`cascading_randomisation` of a bundle's model with its card's background."""
    from precimed.imaging.explain import background

    return cascading_randomisation(bundle.model(), background(bundle), x, method=method,
                                   steps=steps, nsamples=nsamples, seed=seed)
