"""Class probabilities for images, through the bundle's Keras CNN.

Example:
    >>> from precimed.registry import get_bundle  # doctest: +SKIP
    >>> bundle = get_bundle("lesion-cnn-synthetic")  # doctest: +SKIP
    >>> predict_images(bundle, [np.zeros((512, 512))]).shape  # doctest: +SKIP
    (1, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from precimed import audit
from precimed.errors import PrecimedInputError
from precimed.imaging.preprocess import input_shape, model_input
from precimed.predict import raw_output, to_probabilities

if TYPE_CHECKING:
    from precimed.registry import Bundle

BATCH = 256


def predict_model_inputs(bundle: Bundle, batch: np.ndarray) -> np.ndarray:
    """Probabilities (n, classes), card class order, for model-ready inputs (n, H, W, C).

    Raises:
        PrecimedInputError: the batch does not have the card's input shape.
    """
    x = np.asarray(batch, dtype=np.float32)
    want = input_shape(bundle)
    if x.ndim == 3:
        x = x[np.newaxis]
    if x.ndim != 4 or tuple(x.shape[1:]) != want:
        raise PrecimedInputError(f"model input of shape {x.shape}",
                                 expected=f"(n, {want[0]}, {want[1]}, {want[2]}) from model_input()")
    probs = to_probabilities(raw_output(bundle.model(), x, batch=BATCH), bundle.card)
    audit.record("predict", bundle, x, audit.probabilities_output(probs, bundle.classes))
    return probs


def predict_images(bundle: Bundle, arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Probabilities (n, classes) for grey (H, W) or RGB (H, W, 3) images of any size
    (preprocessed with :func:`precimed.imaging.preprocess.model_input`)."""
    if len(arrays) == 0:
        return np.zeros((0, len(bundle.classes)))
    return predict_model_inputs(bundle, np.stack([model_input(bundle, a) for a in arrays]))
