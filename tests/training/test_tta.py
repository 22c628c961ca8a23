"""Test-time augmentation in the lesion detector's graph (precimed/training/tta.py).

The shipped bundle claims "P(lesion) averaged over the image's 8 flips and quarter turns". These
tests check that claim on the bundle itself: its output equals the mean of its own single-view
detector over the 8 orientations computed in NumPy, each view's map lands in the image's frame,
the explained layer's heatmap equals the last convolutional layer's (channels summed), and the
sanity cascade randomises the learned layers, not the fixed plumbing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from precimed.imaging.explain import Attributor
from precimed.imaging.sanity import weighted_layers
from precimed.registry import get_bundle
from precimed.training import tta

MODEL_ID = "lesion-cnn-synthetic"


def _trunk(model: Any) -> Any:
    """The bundle's trunk on the unturned view (the first input of ``tta_maps``): input → the
    last convolutional map, through the trained layers."""
    import keras

    return keras.Model(model.inputs, model.get_layer(tta.MAPS).input[0])


def _single_view(model: Any) -> Any:
    """The bundle's detector on one view: its trunk, the 1×1 cell kernel, the highest cell and
    the sigmoid (as build_detector's inference model)."""
    import keras
    from keras import layers

    trunk = _trunk(model)
    x = model.get_layer("cell_logit")(trunk.output)  # Dense on the channels = the 1×1 convolution
    x = layers.GlobalMaxPooling2D()(x)
    return keras.Model(trunk.inputs, layers.Activation("sigmoid")(x))


@pytest.fixture(scope="module")
def bundle() -> Any:
    return get_bundle(MODEL_ID)


@pytest.fixture(scope="module")
def images(bundle) -> np.ndarray:
    with np.load(bundle.path / bundle.card["evaluation"]["fidelity"]["file"]) as npz:
        x = npz["x"][:12].astype(np.float32)
    rng = np.random.default_rng(0)  # and two images the model has never seen anything like
    return np.concatenate([x, rng.random((2,) + x.shape[1:], dtype=np.float32)])


def test_the_eight_views_are_the_dihedral_group() -> None:
    x = np.arange(2 * 5 * 5 * 1, dtype=np.float32).reshape(2, 5, 5, 1)
    seen = {tta.orient(x, v).tobytes() for v in tta.views()}
    assert len(tta.views()) == tta.N_VIEWS == len(seen) == 8
    expected = {np.rot90(m, k, axes=(1, 2)).tobytes() for k in range(4) for m in (x, x[:, :, ::-1])}
    assert seen == expected
    for v in tta.views():
        np.testing.assert_array_equal(tta.orient(tta.orient(x, v), v, inverse=True), x)


def test_the_bundle_averages_its_detector_over_the_eight_views(bundle, images) -> None:
    from precimed.predict import raw_output

    model = bundle.model()
    single = _single_view(model)
    per_view = np.stack([raw_output(single, tta.orient(images, v))[:, 0] for v in tta.views()])
    got = raw_output(model, images)[:, 0]
    np.testing.assert_allclose(got, per_view.mean(axis=0), atol=1e-6)
    # the views disagree (else the averaging would be a no-op), most on the lesion-free noise
    assert np.ptp(per_view, axis=0).max() > 0.01


def test_each_views_map_is_turned_back_to_the_images_frame(bundle, images) -> None:
    import keras

    model = bundle.model()
    trunk = _trunk(model)
    maps = keras.Model(model.inputs, model.get_layer(tta.MAPS).output)(images[:3]).numpy()
    grid = maps.shape[1:3]
    maps = maps.reshape(3, *grid, tta.N_VIEWS, -1)
    for k, v in enumerate(tta.views()):
        own = tta.orient(trunk(tta.orient(images[:3], v)).numpy(), v, inverse=True)
        np.testing.assert_array_equal(maps[..., k, :], own)  # flips by 0/1 kernels are exact


def test_the_explained_logits_give_the_last_conv_layers_heatmap(bundle, images) -> None:
    """Cell logits are linear in the maps, and expected gradients interpolate linearly, so both
    layers give the same heatmap (channels or views summed) from the same samples."""
    from precimed.imaging.explain import background

    assert bundle.card["explanation"]["layer"] == tta.LOGITS
    bg = background(bundle)
    on_logits = Attributor(bundle.model(), bg, tta.LOGITS).values(images[:4], nsamples=32)
    on_maps = Attributor(bundle.model(), bg, tta.MAPS).values(images[:4], nsamples=32)
    assert np.abs(on_logits).max() > 1e-3
    np.testing.assert_allclose(on_logits, on_maps, atol=1e-6 * np.abs(on_maps).max() + 1e-8)


def test_the_sanity_cascade_randomises_learned_layers_only(bundle) -> None:
    model = bundle.model()
    names = [layer.name for layer in weighted_layers(model)]
    assert names[-1] == "cell_logit" and names[0] == "conv1"
    assert not [n for n in names if n.startswith(tta.PREFIX)]
    fixed = [layer for layer in model.layers if layer.name.startswith(tta.PREFIX) and layer.weights]
    assert {layer.name for layer in fixed} == {"tta_flip64", "tta_flip16", "tta_mean"}
    assert not any(layer.trainable for layer in fixed)


@pytest.mark.parametrize("fine_grid", [False, True])
def test_with_tta_on_a_fresh_detector_equals_the_numpy_average(fine_grid: bool) -> None:
    """Any trunk, a chain or the fine grid's skip connection (a DAG), is re-applied per view."""
    from precimed.predict import raw_output
    from precimed.training.imaging_cnn import build_detector

    _, infer = build_detector((64, 64, 1), width=4, batchnorm=True, fine_grid=fine_grid)
    model = tta.with_tta(infer, "fuse_relu" if fine_grid else "conv4_relu")
    x = np.random.default_rng(1).random((6, 64, 64, 1), dtype=np.float32)
    want = np.mean([raw_output(infer, tta.orient(x, v))[:, 0] for v in tta.views()], axis=0)
    np.testing.assert_allclose(raw_output(model, x)[:, 0], want, atol=1e-6)
    assert model.get_layer(tta.LOGITS).output.shape[1:] == ((32, 32, 8) if fine_grid else (16, 16, 8))


def test_with_tta_refuses_a_non_square_input() -> None:
    from precimed.training.imaging_cnn import build_detector

    _, infer = build_detector((64, 32, 1), width=4, batchnorm=True)
    with pytest.raises(ValueError, match="square input"):
        tta.with_tta(infer, "conv4_relu")
