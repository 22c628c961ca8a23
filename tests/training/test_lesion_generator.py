"""The lesion simulator of lesion-cnn-synthetic: families, visibility, splits, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from precimed.imaging.preprocess import _resize, normalise
from precimed.training.lesion_generator import (
    FAMILIES,
    HELDOUT_FAMILY,
    TRAIN_FAMILIES,
    draw_profile,
    insert_lesions,
    visible,
)

pytest.importorskip("nibabel")
pytest.importorskip("data_store")  # pydicom-data


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_draws_a_profile_and_a_mask_around_its_centre(family) -> None:
    rng = np.random.default_rng(1)
    for r in (3.0, 8.0, 16.0):
        prof, mask = draw_profile(rng, family, (128, 128), 64.0, 60.0, r)
        assert prof.shape == mask.shape == (128, 128)
        assert 0.0 <= prof.min() and prof.max() <= 1.0 and prof.max() > 0.5
        ys, xs = np.nonzero(mask)
        assert mask.sum() >= 4
        # the mask stays near the centre: within 3 radii
        assert np.hypot(ys - 64.0, xs - 60.0).max() <= 3 * r + 3


def test_the_heldout_family_is_not_a_training_family() -> None:
    assert HELDOUT_FAMILY in FAMILIES and HELDOUT_FAMILY not in TRAIN_FAMILIES
    assert set(TRAIN_FAMILIES) | {HELDOUT_FAMILY} == set(FAMILIES)


def test_inserted_lesions_are_visible_bright_or_dark() -> None:
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:128, 0:128]
    img = (0.5 + 0.2 * np.sin(xx / 9.0) * np.cos(yy / 13.0)).astype(np.float32)
    signs = []
    for _ in range(12):
        ins = insert_lesions(rng, img, TRAIN_FAMILIES, n_lesions=2, model_size=64,
                             normalise=normalise, resize=_resize)
        assert 1 <= len(ins.families) <= 2 and ins.mask.any()
        small_mask = _resize(ins.mask.astype(np.float32), 64, 64) >= 0.5
        before = normalise(_resize(img, 64, 64))
        after = normalise(_resize(ins.image, 64, 64))
        assert np.abs(after - before)[small_mask].mean() >= 0.05
        signs.append(np.sign((ins.image - img)[ins.mask].mean()))
        assert np.abs(ins.image - img)[~ins.mask].max() < 0.5  # the rest of the image is kept
    assert {-1.0, 1.0} <= set(signs)


def test_visibility_refuses_a_lesion_lost_in_texture() -> None:
    rng = np.random.default_rng(0)
    noisy = rng.random((64, 64)).astype(np.float32)
    mask = np.zeros((64, 64), bool)
    mask[30:34, 30:34] = True
    faint = noisy + 0.12 * mask
    assert not visible(faint, noisy, mask)
    flat = np.full((64, 64), 0.3, np.float32)
    assert visible(flat + 0.4 * mask, flat, mask)


def test_image_sets_are_reproducible_and_paired() -> None:
    from precimed.training.lesion_data import load_backgrounds, make_set

    bgs = [b for b in load_backgrounds() if b.split == "train"][:3]
    a = make_set(bgs, 12, 5, families=TRAIN_FAMILIES, augment=True, paired=True)
    b = make_set(bgs, 12, 5, families=TRAIN_FAMILIES, augment=True, paired=True)
    np.testing.assert_array_equal(a["x"], b["x"])
    assert a["x"].shape == (12, 64, 64, 1) and 0 <= a["x"].min() and a["x"].max() <= 1
    assert list(a["y"][:4]) == [0, 1, 0, 1]
    for i in range(0, 12, 2):  # same crop; the lesion (masked) is the difference
        if a["y"][i + 1]:
            diff = np.abs(a["x"][i + 1, ..., 0] - a["x"][i, ..., 0])
            assert diff[a["masks"][i + 1]].mean() > diff[~a["masks"][i + 1]].mean()
    assert set(FAMILIES[f] for f in a["family"] if f >= 0) <= set(TRAIN_FAMILIES)


def test_training_and_heldout_backgrounds_share_no_patient() -> None:
    from precimed.training.lesion_data import BACKGROUNDS

    train = {g for _, _, _, g, split in BACKGROUNDS if split == "train"}
    test = {g for _, _, _, g, split in BACKGROUNDS if split == "test"}
    assert train and test and not train & test
    assert {"nibabel-dicom", "nibabel-volume"} <= {s for s, *_ in BACKGROUNDS}
