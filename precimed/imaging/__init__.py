"""Image models: preprocessing as the card describes it, prediction, SHAP heatmaps, input checks.

Stable entry points for other code (occlusion maps, what-if):

- :func:`model_input` (one preprocessed, model-ready array from a grey or RGB image) and
  :func:`predict_model_inputs` (probabilities for a batch of them);
- :func:`predict_images`, :func:`explain_image`, :func:`strongest_regions`, :func:`check_frame`.

TensorFlow and SHAP are imported only when a model is first used.
"""

from __future__ import annotations

from precimed.imaging.check import check_frame
from precimed.imaging.explain import ImageExplanation, explain_image, explain_input
from precimed.imaging.predict import predict_images, predict_model_inputs
from precimed.imaging.preprocess import frame_image, frame_input, image_spec, model_input
from precimed.imaging.regions import (
    Region,
    pointing_hit,
    positive_mass_inside,
    strongest_regions,
)

__all__ = [
    "ImageExplanation", "Region", "check_frame", "explain_image", "explain_input", "frame_image",
    "frame_input", "image_spec", "model_input", "pointing_hit", "positive_mass_inside",
    "predict_images", "predict_model_inputs", "strongest_regions",
]
