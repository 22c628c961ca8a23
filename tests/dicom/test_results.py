"""Result objects without a PACS: what the Imaging page downloads (SR, Parametric Map, SC)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from precimed.dicom import load_path
from precimed.dicom.results import (
    ModelResult,
    SeriesPlan,
    file_name,
    kind,
    overlay_rgb,
    read_probabilities,
    result_objects,
    to_bytes,
)
from precimed.errors import PrecimedInputError
from precimed.pacs.service import build_results

CARD = json.loads((Path(__file__).resolve().parents[2] / "assets/models/lesion-cnn-synthetic/card.json").read_text())


def _result(heat: np.ndarray | None, frame_number: int | None = None) -> ModelResult:
    return ModelResult.from_card(CARD, {"no lesion": 0.25, "lesion": 0.75}, "lesion", explained_class="lesion",
                                 heatmap=heat, frame_number=frame_number)


@pytest.fixture(scope="module")
def ct() -> pydicom.Dataset:
    return pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))


def test_objects_in_the_source_study_referencing_it(ct) -> None:
    heat = np.linspace(-0.01, 0.02, 128 * 128, dtype=np.float32).reshape(128, 128)
    plan = SeriesPlan()
    sr, pm, sc = result_objects(ct, _result(heat), overlay=overlay_rgb(np.zeros((128, 128), np.uint8), heat),
                                plan=plan)
    for obj in (sr, pm, sc):
        assert obj.StudyInstanceUID == ct.StudyInstanceUID and obj.PatientID == ct.PatientID
        assert obj.SeriesInstanceUID != ct.SeriesInstanceUID
        back = pydicom.dcmread(io.BytesIO(to_bytes(obj)))  # a valid PS3.10 file
        assert back.SOPInstanceUID == obj.SOPInstanceUID
    assert [o.SeriesInstanceUID for o in (sr, pm, sc)] == [plan.uids[k] for k in ("SR", "PM", "SC")]
    assert read_probabilities(sr) == {"no lesion": 0.25, "lesion": 0.75}
    np.testing.assert_array_equal(pm.pixel_array.squeeze(), heat)
    assert pm.SourceImageSequence[0].ReferencedSOPInstanceUID == ct.SOPInstanceUID
    assert file_name(sr).startswith("precimed_sr_") and file_name(pm).startswith("precimed_pm_")
    assert file_name(sc).startswith("precimed_sc_")
    # the overlay: red where the map pushes toward the class, blue away, grey where it is zero
    rgb = sc.pixel_array
    assert rgb[-1, -1, 0] > rgb[-1, -1, 2] and rgb[0, 0, 2] > rgb[0, 0, 0]


def test_de_identified_objects_carry_the_de_identified_identity(ct) -> None:
    [frame] = load_path(get_testdata_file("CT_small.dcm", download=False)).frames

    class Bundle:
        card = CARD

    heat = np.zeros((128, 128), np.float32)

    class Expl:
        class_name, heatmap = "lesion", heat

    objs = build_results(Bundle(), ct, frame, {"no lesion": 0.25, "lesion": 0.75}, "lesion", Expl(),
                         deidentified=True)
    for obj in objs:
        assert str(obj.PatientName) != str(ct.PatientName) and obj.PatientID != ct.PatientID
        assert obj.StudyInstanceUID != ct.StudyInstanceUID
    assert objs[0].CurrentRequestedProcedureEvidenceSequence[0].StudyInstanceUID == objs[0].StudyInstanceUID
    assert "CT_small" not in to_bytes(objs[0]).decode("latin-1")


def test_multi_frame_source_gets_an_sr_for_its_frame_only() -> None:
    mf = pydicom.dcmread(get_testdata_file("emri_small.dcm", download=False))
    n = int(mf.NumberOfFrames)
    objs = result_objects(mf, _result(np.zeros((int(mf.Rows), int(mf.Columns)), np.float32), frame_number=n))
    [sr] = objs
    ref = sr.ContentSequence  # the SR references the frame
    text = str(ref)
    assert "Referenced Frame Number" in text and str(n) in text


def test_bad_heatmap_is_refused(ct) -> None:
    with pytest.raises(PrecimedInputError, match="heatmap of shape"):
        result_objects(ct, _result(np.zeros((64, 64), np.float32)))


@pytest.mark.slow
def test_projection_image_gets_a_fractional_seg_clean_under_dciodvfy(tmp_path) -> None:
    """A CR has no patient geometry: the heatmap goes out as a fractional SEG (highdicom cannot
    build its Parametric Map); every object passes dciodvfy with no error the CR lacks."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pacs"))
    from pacs_helpers import dciodvfy_errors

    path = Path(__file__).resolve().parents[2] / "assets/samples/lesion-cnn-synthetic/cr_chest_heldout_J2K.dcm"
    [frame] = load_path(path).frames
    heat = np.zeros(frame.shape, np.float32)
    heat[100:200, 300:400] = 0.02
    heat[900:950, 900:950] = -0.01
    objs = result_objects(frame.header, _result(heat), overlay=overlay_rgb(np.zeros(frame.shape, np.uint8), heat))
    assert [kind(o) for o in objs] == ["sr", "seg", "sc"]
    seg = objs[1]
    assert seg.SegmentationType == "FRACTIONAL" and seg.StudyInstanceUID == frame.header.StudyInstanceUID
    frac = seg.pixel_array.astype(float) / float(seg.MaximumFractionalValue)
    assert frac[150, 350] == pytest.approx(1.0) and frac[920, 920] == 0 and frac[0, 0] == 0
    source_errors = set(dciodvfy_errors(path))
    for obj in objs:
        out = tmp_path / file_name(obj)
        out.write_bytes(to_bytes(obj))
        assert not set(dciodvfy_errors(out)) - source_errors, kind(obj)


def test_building_objects_warns_nothing_identifying(ct, recwarn) -> None:
    """highdicom's person-name warning quotes the name: it must not reach stderr or logs."""
    named = ct.copy()
    named.PatientName = "CANARYNAME"
    result_objects(named, _result(np.zeros((128, 128), np.float32)))
    assert not [w for w in recwarn if "CANARYNAME" in str(w.message)]
