"""Occlusion: boxes and grids, the effect of hiding a simulated lesion, and the map
(shape, location, batched = one-by-one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_bundle import blob_dicom, blob_image

from precimed.errors import PrecimedInputError
from precimed.imaging import model_input, predict_model_inputs
from precimed.registry import Bundle, get_bundle
from precimed.samples import sample_files
from precimed.whatif.occlusion import (
    Box,
    grid_box,
    occlude,
    occlude_image,
    occlusion_for_path,
    occlusion_map,
    occlusion_map_input,
    scale_box,
)

LESION = (40.0, 20.0)  # row, column in the 64 x 64 test image


def test_boxes() -> None:
    assert grid_box((64, 48), grid=4, row=3, col=3) == Box(48, 36, 63, 47)
    cells = [grid_box((30, 30), grid=3, row=r, col=c) for r in range(3) for c in range(3)]
    covered = np.zeros((30, 30), int)
    for b in cells:
        covered[b.top:b.bottom + 1, b.left:b.right + 1] += 1
    assert (covered == 1).all()
    assert scale_box(Box(10, 10, 10, 10), (64, 64), (32, 32)) == Box(5, 5, 5, 5)
    with pytest.raises(PrecimedInputError, match="not inside"):
        Box(0, 0, 64, 10).check((64, 64))
    with pytest.raises(PrecimedInputError, match="grid cell"):
        grid_box((64, 64), grid=4, row=4, col=0)
    x = np.ones((8, 8, 1), np.float32)
    hidden = occlude(x, Box(2, 3, 4, 5), fill="zero")
    assert hidden.sum() == 64 - 9 and x.sum() == 64
    with pytest.raises(PrecimedInputError, match="unknown fill"):
        occlude(x, Box(0, 0, 1, 1), fill="noise")


def test_hiding_the_lesion_lowers_the_probability(cnn: Bundle) -> None:
    image = blob_image(centre=LESION)
    on = occlude_image(cnn, image, Box(33, 13, 47, 27))
    assert on.before["lesion"] > 0.9
    assert on.delta["lesion"] < -0.5 and on.after["lesion"] < cnn.card["threshold"]
    off = occlude_image(cnn, image, Box(4, 40, 18, 54))
    assert abs(off.delta["lesion"]) < 0.05
    assert on.model_box == Box(16, 6, 23, 13)
    assert on.to_json()["delta"]["no lesion"] == pytest.approx(-on.delta["lesion"])


def test_occlusion_map_finds_the_lesion(cnn: Bundle) -> None:
    image = blob_image(centre=LESION)
    omap = occlusion_map(cnn, image, patch=6, stride=2, fill="mean")
    assert omap.values.shape == (32, 32) and omap.patch == 6 and omap.stride == 2
    assert omap.positions == 14 * 14
    peak = np.unravel_index(int(np.argmax(omap.values)), omap.values.shape)
    assert abs(peak[0] - LESION[0] / 2) <= 2 and abs(peak[1] - LESION[1] / 2) <= 2
    assert omap.values.max() > 0.3 and omap.class_name == "lesion"
    far = omap.values[:8, 20:]  # the top-right corner, far from the lesion
    assert np.abs(far).max() < 0.02
    heat = omap.heatmap(image.shape)
    assert heat.shape == image.shape
    hy, hx = np.unravel_index(int(np.argmax(heat)), heat.shape)
    assert abs(hy - LESION[0]) <= 5 and abs(hx - LESION[1]) <= 5


def test_batched_map_equals_one_by_one(cnn: Bundle) -> None:
    x = model_input(cnn, blob_image(centre=LESION))
    omap = occlusion_map_input(cnn, x, patch=8, stride=8, fill="zero")
    base = predict_model_inputs(cnn, x[np.newaxis])[0, 1]
    for top, left in [(0, 0), (16, 8), (24, 24)]:
        one = predict_model_inputs(cnn, occlude(x, Box(top, left, top + 7, left + 7), "zero"))[0, 1]
        assert omap.values[top + 3, left + 3] == pytest.approx(base - one, abs=1e-6)


def test_no_lesion_no_signal(cnn: Bundle) -> None:
    omap = occlusion_map(cnn, blob_image(centre=None), fill="blur")
    assert omap.probability < 0.5 and np.abs(omap.values).max() < 0.2


def test_occlusion_for_a_dicom_file(cnn: Bundle, tmp_path: Path) -> None:
    path = blob_dicom(tmp_path / "blob.dcm", blob_image(centre=LESION))
    out = occlusion_for_path(cnn, str(path), box=(33, 13, 47, 27), fill="blur")
    assert out["image_shape"] == [64, 64] and out["delta"]["lesion"] < -0.5
    saved = tmp_path / "map.npy"
    out = occlusion_for_path(cnn, str(path), map_out=str(saved))
    assert out["positions"] > 0 and np.load(saved).shape == (64, 64)
    with pytest.raises(PrecimedInputError, match="frame 3 does not exist"):
        occlusion_for_path(cnn, str(path), frame=3)


def _shipped_cnn() -> Bundle | None:
    try:
        bundle = get_bundle("lesion-cnn-synthetic")
    except PrecimedInputError:
        return None
    return bundle if any("simulated-lesion" in p.name for p in sample_files(bundle.id)) else None


@pytest.mark.skipif(_shipped_cnn() is None, reason="the lesion CNN bundle is not installed")
def test_shipped_cnn_occluding_the_simulated_lesion() -> None:
    from precimed.dicom import load_path
    from precimed.imaging import frame_image

    bundle = _shipped_cnn()
    assert bundle is not None
    sample = next(p for p in sample_files(bundle.id) if "simulated-lesion" in p.name)
    image = frame_image(load_path(sample).frames[0])
    h, w = image.shape[:2]
    # The lesion was written at (38, 24) of the 64 x 64 model grid
    # (precimed/training/imaging_synthetic.py: write_samples).
    cy, cx = (38 + 0.5) * h / 64, (24 + 0.5) * w / 64
    r = int(8 * h / 64)
    result = occlude_image(bundle, image, Box(int(cy) - r, int(cx) - r, int(cy) + r, int(cx) + r))
    assert result.delta["lesion"] < 0
    omap = occlusion_map(bundle, image)
    peak = np.unravel_index(int(np.argmax(omap.values)), omap.values.shape)
    assert abs(peak[0] - 38) <= 8 and abs(peak[1] - 24) <= 8
