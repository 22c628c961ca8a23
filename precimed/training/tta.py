"""Test-time augmentation built into a detector's graph: the mean P over the 8 flips and turns.

A grid detector (:func:`precimed.training.imaging_cnn.build_detector`) sees each image in the
8 orientations of the square (identity, the three quarter turns and their mirror images). Each
copy's last convolutional map is turned back into the image's frame, the 8 maps are
concatenated (``tta_maps``), every cell of every copy is scored by the trained 1×1 kernel
(``tta_logits``, 16 × 16 × 8 for the shipped detector), and the head takes each copy's highest
cell and averages the 8 probabilities.

The explained layer is ``tta_logits``. The cell logit is linear in the convolutional map, and
expected gradients interpolate linearly between background and input, so the attributions of
the logits, summed over the views, equal those of the 8 maps summed over their channels (with
the same samples), at 1/96 of the features: explaining ``tta_maps`` took 613 ms an image
against 170 ms for ``tta_logits`` (both before the trunk's activations went through the traced
call), since SHAP's sampling works on NumPy arrays of every feature.

Why in the graph, not in the caller: every consumer of the bundle (the page, the CLI, cohort
and PACS scoring, the what-if occlusion, the explainer) then gets the same prediction from
``model(x)``. Why these layers: Keras has no deterministic flip layer, and a ``Lambda`` is
refused by safe-mode loading, so a flip is a ``Dense`` with a fixed anti-identity kernel on the
flipped axis (``Permute`` brings that axis last). Products with 0 and 1 and sums with zeros
are exact in floating point, so each copy is the flipped image bit for bit. The head after
``tta_maps`` is a chain of layers, which :func:`precimed.imaging.explain.split_model` needs.

Layers named ``tta_*`` hold fixed weights (not trainable) and learn nothing:
:func:`precimed.imaging.sanity.weighted_layers` leaves them out of the randomisation cascade.

Example:
    >>> _, infer = build_detector((64, 64, 1))  # doctest: +SKIP
    >>> model = with_tta(infer, "conv4_relu")  # doctest: +SKIP
    >>> model.get_layer("tta_logits").output.shape  # doctest: +SKIP
    (None, 16, 16, 8)
"""

from __future__ import annotations

from typing import Any

import numpy as np

PREFIX = "tta_"
MAPS = f"{PREFIX}maps"
LOGITS = f"{PREFIX}logits"  # the explained layer
N_VIEWS = 8


def views() -> list[tuple[bool, bool, bool]]:
    """The 8 orientations as (transpose, flip rows, flip columns), applied in that order."""
    return [(t, r, c) for t in (False, True) for r in (False, True) for c in (False, True)]


def orient(x: np.ndarray, view: tuple[bool, bool, bool], *, inverse: bool = False) -> np.ndarray:
    """NumPy reference of one view on (n, H, W, C) arrays (the tests check the graph with it)."""
    t, r, c = view
    if not inverse and t:
        x = np.swapaxes(x, 1, 2)
    if r:
        x = x[:, ::-1]
    if c:
        x = x[:, :, ::-1]
    if inverse and t:
        x = np.swapaxes(x, 1, 2)
    return np.ascontiguousarray(x)


def with_tta(model: Any, layer: str) -> Any:
    """A new model: ``model`` (a grid detector, input → ``layer`` → ``cell_logit`` → global max
    → sigmoid) averaged over the 8 views, sharing its trained layers.

    Args:
        model: the inference detector; its input must be square.
        layer: the last convolutional block's output (the layer before ``cell_logit``).
    """
    import keras
    from keras import layers

    trunk = keras.Model(model.inputs, model.get_layer(layer).output)
    cell = model.get_layer("cell_logit")
    h, w, _ = (int(d) for d in model.inputs[0].shape[1:])
    if h != w:
        raise ValueError(f"test-time augmentation needs a square input, not {h}×{w}")
    gh, gw, channels = (int(d) for d in model.get_layer(layer).output.shape[1:])

    flips: dict[int, Any] = {}

    def flip_last(x: Any, size: int) -> Any:
        if size not in flips:
            flips[size] = layers.Dense(size, use_bias=False, trainable=False,
                                       name=f"{PREFIX}flip{size}")
        return flips[size](x)

    def swap(x: Any) -> Any:
        return layers.Permute((2, 1, 3))(x)

    def flip_rows(x: Any, size: int) -> Any:  # (H, W, C) → C, W, H → flip H → back
        x = layers.Permute((3, 2, 1))(x)
        return layers.Permute((3, 2, 1))(flip_last(x, size))

    def flip_cols(x: Any, size: int) -> Any:  # (H, W, C) → H, C, W → flip W → back
        x = layers.Permute((1, 3, 2))(x)
        return layers.Permute((1, 3, 2))(flip_last(x, size))

    inputs = keras.Input(shape=(h, w, int(model.inputs[0].shape[3])), name="image")
    maps = []
    for t, r, c in views():
        x = swap(inputs) if t else inputs
        x = flip_rows(x, h) if r else x
        x = flip_cols(x, w) if c else x
        # The trunk's own layers applied to this view in the outer graph (shared weights, not a
        # nested model, so that layer names and the sanity cascade see them); any DAG works, e.g.
        # the fine grid's skip connection. Keras has no public call for this re-application.
        x = trunk._run_through_graph([x], operation_fn=lambda op: op)
        x = flip_rows(x, gh) if r else x  # back to the image's frame (flips are their own inverse)
        x = flip_cols(x, gw) if c else x
        maps.append(swap(x) if t else x)
    x = layers.Concatenate(name=MAPS)(maps)
    x = layers.Reshape((gh, gw, N_VIEWS, channels), name=f"{PREFIX}views")(x)
    x = layers.Dense(1, name="cell_logit")(x)  # the trained 1×1 kernel, shared by the views
    x = layers.Reshape((gh, gw, N_VIEWS), name=LOGITS)(x)
    x = layers.Reshape((gh * gw, N_VIEWS), name=f"{PREFIX}cells")(x)
    x = layers.GlobalMaxPooling1D(name="max_cell")(x)  # each view's highest cell
    x = layers.Activation("sigmoid", name=f"{PREFIX}p_views")(x)
    mean = layers.Dense(1, use_bias=False, trainable=False, name=f"{PREFIX}mean")
    out = mean(x)
    tta = keras.Model(inputs, out, name=f"{model.name}_tta")
    for size, dense in flips.items():
        dense.set_weights([np.eye(size, dtype=np.float32)[::-1]])
    kernel, bias = cell.get_weights()
    tta.get_layer("cell_logit").set_weights([kernel.reshape(channels, 1), bias])
    mean.set_weights([np.full((N_VIEWS, 1), 1.0 / N_VIEWS, np.float32)])
    return tta
