"""Slice order, Modality LUT, windowing against pydicom's own functions, MONOCHROME1, colour."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from helpers_dicom import ct_slice, data_file, zip_bytes
from pydicom.pixels import apply_modality_lut, apply_voi_lut, apply_windowing

from precimed.dicom import PRESETS, Window, default_window, load_bytes, load_path, render
from precimed.dicom.window import auto_window, file_windows, window_choices


def test_slices_follow_the_normal_not_the_file_order() -> None:
    zs = [7.5, -2.5, 12.5, 0.0, 5.0]
    members = {f"IM{i}.dcm": ct_slice(z=z, instance=10 - i, value=i) for i, z in enumerate(zs)}
    result = load_bytes(zip_bytes(members), "s.zip")
    assert [f.position[2] for f in result.frames] == sorted(zs)


def test_oblique_stacks_use_the_projection_on_the_normal() -> None:
    # Sagittal: rows along +y, columns along −z → normal = row × column = −x, so slices are
    # ordered by decreasing x (increasing distance along the normal); instance numbers disagree.
    sag = (0, 1, 0, 0, 0, -1)
    members = {f"S{i}.dcm": ct_slice(z=x, instance=i, orientation=sag)
               for i, x in enumerate([-10.0, 30.0, 10.0])}
    result = load_bytes(zip_bytes(members), "sag.zip")
    assert [f.position[0] for f in result.frames] == [30.0, 10.0, -10.0]


def test_instance_number_orders_slices_without_position() -> None:
    members = {}
    for i, inst in enumerate([3, 1, 2]):
        ds = pydicom.dcmread(__import__("io").BytesIO(ct_slice(z=0.0, instance=inst)))
        del ds.ImagePositionPatient
        ds.SOPInstanceUID = f"1.2.3.{inst}"
        buf = __import__("io").BytesIO()
        ds.save_as(buf)
        members[f"N{i}.dcm"] = buf.getvalue()
    result = load_bytes(zip_bytes(members), "n.zip")
    assert [f.instance_number for f in result.frames] == [1, 2, 3]


def test_modality_lut_gives_hounsfield_units_like_pydicom() -> None:
    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    frame = load_path(data_file("CT_small.dcm")).frames[0]
    np.testing.assert_allclose(frame.pixels, apply_modality_lut(ds.pixel_array, ds), rtol=1e-6)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_ct_presets_match_pydicom_windowing(preset: str) -> None:
    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    frame = load_path(data_file("CT_small.dcm")).frames[0]
    w = PRESETS[preset]
    ref = ds.copy()
    ref.WindowCenter, ref.WindowWidth = w.center, w.width
    hu = apply_modality_lut(ds.pixel_array, ds)
    expected = apply_windowing(hu, ref)  # output range: the stored data's (signed 16-bit)
    lo, hi = -(2 ** (ds.BitsStored - 1)), 2 ** (ds.BitsStored - 1) - 1
    lo, hi = lo * float(ds.RescaleSlope) + float(ds.RescaleIntercept), hi * float(
        ds.RescaleSlope) + float(ds.RescaleIntercept)
    expected_8bit = (expected - lo) / (hi - lo) * 255
    out = render(frame, w).astype(float)
    assert np.abs(out - expected_8bit).max() <= 1.0


def test_file_window_and_voi_lut_sequence_match_pydicom() -> None:
    path = data_file("vlut_04.dcm")  # VOI LUT Sequence
    ds = pydicom.dcmread(path)
    frame = load_path(path).frames[0]
    assert "file VOI LUT" in window_choices(frame)
    ref = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds, prefer_lut=True)
    bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
    out = render(frame, voi_lut=True).astype(float)
    assert np.abs(out - ref / (2**bits - 1) * 255).max() <= 1.0
    # MR_small has its own window: that is the default
    mr = load_path(data_file("MR_small.dcm")).frames[0]
    mr_ds = pydicom.dcmread(data_file("MR_small.dcm"))
    own = file_windows(mr)
    if "WindowCenter" in mr_ds:
        assert own and default_window(mr) == own[0]
    else:
        assert default_window(mr).label == "automatic"


def test_a_file_without_window_gets_an_automatic_one() -> None:
    frame = load_path(data_file("CT_small.dcm")).frames[0]
    assert file_windows(frame) == []
    w = default_window(frame)
    assert w.label == "automatic"
    lo, hi = np.percentile(frame.pixels, [0.5, 99.5])
    assert w.center == pytest.approx((lo + hi) / 2) and w.width == pytest.approx(hi - lo)
    shown = render(frame)
    assert shown.min() == 0 and shown.max() == 255  # uses the full display range


def test_monochrome1_is_inverted_after_windowing() -> None:
    frame = load_path(data_file("RG1_UNCI.dcm")).frames[0]
    assert frame.photometric == "MONOCHROME1"
    w = Window(float(frame.pixels.min() + frame.pixels.max()) / 2, float(np.ptp(frame.pixels)))
    shown = render(frame, w).astype(int)
    lowest = np.unravel_index(np.argmin(frame.pixels), frame.pixels.shape)
    highest = np.unravel_index(np.argmax(frame.pixels), frame.pixels.shape)
    assert shown[lowest] > 200 and shown[highest] < 50  # minimum value shown white
    as_mono2 = render(type(frame)(**{**frame.__dict__, "photometric": "MONOCHROME2"}), w).astype(int)
    assert np.abs(shown + as_mono2 - 255).max() <= 1


def test_ybr_is_converted_to_rgb_like_pydicom() -> None:
    for name in ("SC_ybr_full_uncompressed.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm",
                 "examples_ybr_color.dcm"):
        path = data_file(name)
        ref = pydicom.dcmread(path).pixel_array  # pydicom converts YBR → RGB by default
        frames = load_path(path).frames
        got = np.stack([f.pixels for f in frames]) if len(frames) > 1 else frames[0].pixels
        assert got.shape == ref.shape
        assert np.abs(got.astype(int) - ref.astype(int)).max() <= 2, name
        assert render(frames[0]).shape == frames[0].pixels.shape


def test_palette_colour_uses_the_lut() -> None:
    frame = load_path(data_file("OBXXXX1A.dcm")).frames[0]
    assert frame.is_color and frame.pixels.shape == (600, 800, 3)
    assert render(frame).dtype == np.uint8


def test_multiframe_enhanced_frames_have_their_own_position() -> None:
    result = load_path(data_file("eCT_Supplemental.dcm"))
    assert [f.label for f in result.frames] == ["eCT_Supplemental.dcm#1", "eCT_Supplemental.dcm#0"] or [
        f.label for f in result.frames] == ["eCT_Supplemental.dcm#0", "eCT_Supplemental.dcm#1"]
    positions = [f.position for f in result.frames]
    assert all(p is not None for p in positions) and positions[0] != positions[1]
    from precimed.dicom import slice_location

    locs = [slice_location(f) for f in result.frames]
    assert locs == sorted(locs)


def test_auto_window_ignores_a_few_extreme_pixels() -> None:
    pix = np.zeros((100, 100), np.float32)
    pix[:50] = 100.0
    pix[0, 0] = 1e6  # one metal pixel
    w = auto_window(pix)
    assert w.width < 200
