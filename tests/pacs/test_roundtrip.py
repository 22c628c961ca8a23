"""The PACS round trip as a user runs it: search, predict, send back; the results read back from
Orthanc, checked with highdicom and dciodvfy; the command's errors."""

from __future__ import annotations

import io
import json

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pacs_helpers import Pacs, dciodvfy_errors

from precimed.cli.main import main
from precimed.dicom.results import read_probabilities
from precimed.imaging import explain_image, frame_image
from precimed.registry import get_bundle

MODEL = "lesion-cnn-synthetic"


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
        *args: str) -> tuple[int, str, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def sent(pacs: Pacs) -> dict[str, object]:
    """``precimed pacs predict --send --overlay`` on the lesion CT's study (in-process)."""
    import contextlib
    import os

    lesion = pacs.datasets["lesion"]
    old = {k: os.environ.get(k) for k in pacs.env()}
    os.environ.update(pacs.env())
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = main(["pacs", "predict", "--study", str(lesion.StudyInstanceUID), "--model", MODEL,
                         "--send", "--overlay", "--json"])
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert code == 0
    return {"rows": json.loads(out.getvalue())}


@pytest.mark.slow
def test_search_command_prints_the_conventions_shape(pacs: Pacs, capsys, monkeypatch) -> None:
    code, out, err = run(capsys, monkeypatch, pacs.env(), "pacs", "search", "--patient-id", "1CT1",
                         "--study-date", "20040101-20041231", "--modality", "CT", "--json")
    assert code == 0, err
    [study] = json.loads(out)
    assert set(study) == {"study_uid", "study_date", "modalities", "series"}
    assert study["study_uid"] == pacs.datasets["ct"].StudyInstanceUID and study["study_date"] == "20040119"
    ct = next(s for s in study["series"] if s["modality"] == "CT")
    assert ct == {"series_uid": pacs.datasets["ct"].SeriesInstanceUID, "modality": "CT", "instances": 1}


@pytest.mark.slow
def test_predict_send_matches_local_predict_and_reads_back(pacs: Pacs, sent, capsys, monkeypatch) -> None:
    lesion = pacs.datasets["lesion"]
    [row] = sent["rows"]
    assert row["source"] == lesion.SOPInstanceUID and row["study_uid"] == lesion.StudyInstanceUID
    assert len(row["sent"]) == 3  # SR, Parametric Map, Secondary Capture
    code, out, _ = run(capsys, monkeypatch, {}, "predict", "--model", MODEL, str(pacs.files["lesion"]), "--json")
    assert code == 0
    [local] = json.loads(out)
    for cls, p in local["probabilities"].items():
        assert abs(row["probabilities"][cls] - p) <= 1e-6
    assert row["prediction"] == local["prediction"]

    # Read the three objects back from the PACS (WADO-RS) and check them with highdicom.
    series = pacs.client.list_series(str(lesion.StudyInstanceUID))
    ours = [s for s in series if s.description.startswith("PreciMed")]
    assert {s.modality for s in ours} >= {"SR"} and len(ours) == 3
    back = {}
    for s in ours:
        for ds in pacs.client._client.iter_series(str(lesion.StudyInstanceUID), s.series_uid):
            if str(ds.SOPInstanceUID) in row["sent"]:
                back[str(ds.SOPClassUID)] = ds
    assert set(back) == {"1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.5.1.4.1.1.30", "1.2.840.10008.5.1.4.1.1.7"}
    sr = hd.sr.srread(io.BytesIO(_bytes(back["1.2.840.10008.5.1.4.1.1.88.34"])))
    assert sr.StudyInstanceUID == lesion.StudyInstanceUID and sr.PatientID == lesion.PatientID
    assert str(sr.ContentTemplateSequence[0].TemplateIdentifier) == "1500"
    probs = read_probabilities(sr)
    for cls, p in local["probabilities"].items():
        assert abs(probs[cls] - p) <= 1e-6, (cls, probs[cls], p)
    [group] = sr.content.get_planar_roi_measurement_groups() or sr.content.get_image_measurement_groups()
    refs = [str(i.referenced_sop_instance_uid) for i in group.source_images]
    assert refs == [lesion.SOPInstanceUID]
    decision = next(e for e in group.get_qualitative_evaluations())
    assert decision.value.meaning == local["prediction"]
    card = get_bundle(MODEL).card
    texts = _texts(sr)
    assert card["name"] in texts and str(card["version"]) in texts
    assert any(card["weights_sha256"] in t for t in texts)
    thresholds = [m for m in group.get_measurements() if m.name.value == "THRESHOLD"]
    assert [m.value for m in thresholds] == [pytest.approx(card["threshold"])]

    pm = hd.pm.ParametricMap.from_dataset(back["1.2.840.10008.5.1.4.1.1.30"])
    assert pm.StudyInstanceUID == lesion.StudyInstanceUID
    assert pm.SourceImageSequence[0].ReferencedSOPInstanceUID == lesion.SOPInstanceUID
    heat = pm.pixel_array.astype(np.float32).squeeze()
    [frame] = pacs.client.retrieve_series(str(lesion.StudyInstanceUID), str(lesion.SeriesInstanceUID)).result.frames
    want = explain_image(get_bundle(MODEL), frame_image(frame)).heatmap
    np.testing.assert_array_equal(heat, want.astype(np.float32))  # float32 exactly, same seed
    sc = back["1.2.840.10008.5.1.4.1.1.7"]
    assert sc.StudyInstanceUID == lesion.StudyInstanceUID and sc.pixel_array.shape == (512, 512, 3)


@pytest.mark.slow
def test_objects_have_no_dciodvfy_errors_beyond_the_sources(pacs: Pacs, sent, tmp_path) -> None:
    lesion = pacs.datasets["lesion"]
    [row] = sent["rows"]
    source_errors = set(dciodvfy_errors(pacs.files["lesion"]))
    checked = 0
    for s in pacs.client.list_series(str(lesion.StudyInstanceUID)):
        if not s.description.startswith("PreciMed"):
            continue
        for ds in pacs.client._client.iter_series(str(lesion.StudyInstanceUID), s.series_uid):
            if str(ds.SOPInstanceUID) not in row["sent"]:
                continue
            path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
            ds.save_as(path, enforce_file_format=True)
            extra = set(dciodvfy_errors(path)) - source_errors
            assert not extra, (s.modality, sorted(extra))
            checked += 1
    assert checked == 3


@pytest.mark.slow
@pytest.mark.parametrize("case", ["credentials", "dead port", "unknown study"])
def test_command_errors_are_one_line_exit_2(pacs: Pacs, capsys, monkeypatch, case: str) -> None:
    from precimed.pacs.local_orthanc import free_port

    env = pacs.env()
    study = str(pacs.datasets["ct"].StudyInstanceUID)
    if case == "credentials":
        env["PRECIMED_PACS_PASSWORD"] = "wrong"
    elif case == "dead port":
        env["PRECIMED_PACS_URL"] = f"http://127.0.0.1:{free_port()}/dicom-web"
    else:
        study = "1.2.3.4.5.6.7"
    code, out, err = run(capsys, monkeypatch, env, "pacs", "predict", "--study", study, "--model", MODEL,
                         "--send", "--json")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert {"credentials": "refused the user and password (HTTP 401)", "dead port": "is unreachable",
            "unknown study": "has no study 1.2.3.4.5.6.7"}[case] in lines[0]
    assert "wrong" not in lines[0]


def _bytes(ds: pydicom.Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _texts(sr: pydicom.Dataset) -> list[str]:
    out: list[str] = []

    def walk(seq):
        for item in seq:
            if "TextValue" in item:
                out.append(str(item.TextValue))
            if "ContentSequence" in item:
                walk(item.ContentSequence)
    walk(sr.ContentSequence)
    return out
