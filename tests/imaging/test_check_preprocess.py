"""Input check against the card, preprocessing as the card states it, region finding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from precimed.dicom import load_path
from precimed.dicom.frames import ImageFrame
from precimed.errors import PrecimedInputError
from precimed.imaging import check_frame, frame_image, model_input, strongest_regions
from precimed.imaging.preprocess import normalise

CARD = {"id": "t", "inputs": [{
    "name": "image", "shape": [64, 64, 1], "modalities": ["CR", "CT", "MR"],
    "photometric": ["MONOCHROME1", "MONOCHROME2"], "pixel_spacing_mm": None,
    "preprocessing": {"intensity": {"low": 0.5, "high": 99.5},
                      "training_image_size_px": {"min": 64, "max": 1955}}}]}


def _data(name: str) -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file(name, download=False))


def _frame(pixels: np.ndarray, *, modality: str = "CT", photometric: str = "MONOCHROME2",
           spacing: tuple[float, float] | None = (0.7, 0.7)) -> ImageFrame:
    return ImageFrame("x.dcm", 0, 1, pixels, photometric, modality, spacing)


def test_a_ct_slice_like_the_training_data_passes() -> None:
    frame = load_path(_data("CT_small.dcm")).frames[0]
    assert check_frame(CARD, frame) == []


@pytest.mark.parametrize("name, words", [
    ("US1_UNCI.dcm", ["modality US", "photometric interpretation RGB", "converted to greyscale"]),
    ("JPEG2000_UNC.dcm", ["modality NM", "stretched"]),  # 1024×256 nuclear medicine
    ("SC_rgb_small_odd.dcm", ["modality OT", "3×3 pixels, far from the training images"]),
])
def test_images_unlike_the_card_are_flagged(name: str, words: list[str]) -> None:
    frame = load_path(_data(name)).frames[0]
    text = " | ".join(check_frame(CARD, frame))
    for w in words:
        assert w in text, text


def test_size_and_spacing_checks() -> None:
    card = {**CARD, "inputs": [{**CARD["inputs"][0], "pixel_spacing_mm": [0.7, 0.7]}]}
    assert check_frame(card, _frame(np.random.default_rng(0).random((512, 512)))) == []
    big = check_frame(card, _frame(np.random.default_rng(0).random((4000, 4000))))
    assert any("4000×4000 pixels, far from the training images (expected: 64–1955" in w for w in big)
    coarse = check_frame(card, _frame(np.random.default_rng(0).random((512, 512)), spacing=(2.0, 2.0)))
    assert any("pixel spacing 2×2 mm differs from the model's by more than 25% "
               "(expected: 0.7×0.7 mm)" in w for w in coarse)
    none = check_frame(card, _frame(np.random.default_rng(0).random((512, 512)), spacing=None))
    assert any("states no pixel spacing" in w for w in none)


def test_a_uniform_image_is_flagged() -> None:
    assert any("uniform" in w for w in check_frame(CARD, _frame(np.zeros((128, 128), np.float32))))


def test_model_input_follows_the_card() -> None:
    rng = np.random.default_rng(1)
    img = rng.normal(100, 20, (300, 200)).astype(np.float32)
    x = model_input(CARD, img)
    assert x.shape == (64, 64, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    lo, hi = np.percentile(x, [0.5, 99.5])
    assert lo == pytest.approx(0.0, abs=0.02) and hi == pytest.approx(1.0, abs=0.02)
    # independent of the viewer's window and of an affine change of units
    np.testing.assert_allclose(model_input(CARD, img * 3 - 1000), x, atol=1e-4)


def test_monochrome1_and_colour_become_higher_is_brighter() -> None:
    frame = load_path(_data("RG1_UNCI.dcm")).frames[0]
    img = frame_image(frame)
    np.testing.assert_array_equal(img, -frame.pixels)
    colour = load_path(_data("US1_UNCI.dcm")).frames[0]
    x = model_input(CARD, frame_image(colour))
    assert x.shape == (64, 64, 1)
    rgb_card = {**CARD, "inputs": [{**CARD["inputs"][0], "shape": [32, 32, 3]}]}
    assert model_input(rgb_card, frame_image(colour)).shape == (32, 32, 3)
    assert model_input(rgb_card, img).shape == (32, 32, 3)


def test_model_input_refuses_what_is_not_an_image() -> None:
    with pytest.raises(PrecimedInputError, match="cannot be used"):
        model_input(CARD, np.zeros((4, 4, 5)))
    with pytest.raises(PrecimedInputError):
        model_input({"id": "tab", "inputs": [{"name": "age", "dtype": "float"}]}, np.zeros((8, 8)))


def test_normalise_of_a_constant_image_is_zero() -> None:
    assert not normalise(np.full((8, 8), 7.0)).any()


def test_strongest_regions_are_ranked_and_scaled_to_the_image() -> None:
    v = np.zeros((64, 64))
    v[10:14, 40:44] = 1.0   # strong
    v[50:52, 5:7] = 0.8     # weaker
    v[30, 30] = -5.0        # negative: never a region
    regions = strongest_regions(v, (512, 512))
    assert [r.rank for r in regions] == [1, 2]
    first = regions[0]
    assert 10 * 8 <= first.row <= 14 * 8 and 40 * 8 <= first.col <= 44 * 8
    assert first.share > regions[1].share and first.share + regions[1].share == pytest.approx(1.0)
    assert strongest_regions(-np.abs(v), (64, 64)) == []
