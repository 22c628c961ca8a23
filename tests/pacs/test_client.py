"""Search, list and retrieve against a real Orthanc; credentials, dead port, unknown study, limits."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
from pacs_helpers import ACCESSION, CANARY_NAME, Pacs

from precimed.dicom import load_path
from precimed.dicom.archive import ZipLimits
from precimed.errors import PrecimedInputError
from precimed.pacs import PacsClient, image_series, pacs_config
from precimed.pacs.local_orthanc import free_port


def test_search_by_each_filter(pacs: Pacs) -> None:
    ct = pacs.datasets["ct"]
    by_patient = pacs.client.search_studies(patient_id="1CT1")
    assert [s.study_uid for s in by_patient] == [ct.StudyInstanceUID]
    [study] = by_patient
    assert study.study_date == "20040119" and "CT" in study.modalities
    assert {s.modality for s in study.series} >= {"CT", "SR"}
    [ct_series] = [s for s in study.series if s.series_uid == ct.SeriesInstanceUID]
    assert ct_series.instances == 1
    assert [s.study_uid for s in pacs.client.search_studies(accession=ACCESSION)] == [ct.StudyInstanceUID]
    in_2004 = {s.study_uid for s in pacs.client.search_studies(study_date="20040101-20041231")}
    assert in_2004 == {ct.StudyInstanceUID, pacs.datasets["mr"].StudyInstanceUID}
    assert {s.study_uid for s in pacs.client.search_studies(study_date="20150101-")} == {
        pacs.datasets["lesion"].StudyInstanceUID}
    assert [s.study_uid for s in pacs.client.search_studies(modality="MR")] == [pacs.datasets["mr"].StudyInstanceUID]
    assert pacs.client.search_studies(patient_id="NOBODY") == []
    assert [s.modality for s in image_series(list(study.series))][:1] == ["CT"]


def test_retrieve_gives_what_an_upload_of_the_same_file_gives(pacs: Pacs) -> None:
    ct = pacs.datasets["ct"]
    got = pacs.client.retrieve_series(ct.StudyInstanceUID, ct.SeriesInstanceUID)
    [frame] = got.result.frames
    [local] = load_path(pacs.files["ct"]).frames
    assert frame.source == ct.SOPInstanceUID  # named by SOP Instance UID
    np.testing.assert_array_equal(frame.pixels, local.pixels)
    assert frame.modality == "CT" and frame.pixel_spacing_mm == local.pixel_spacing_mm
    assert set(got.datasets) == {ct.SOPInstanceUID}
    assert got.result.files[ct.SOPInstanceUID][128:132] == b"DICM"  # bytes kept for the de-identified export


def test_non_image_series_is_refused_with_the_readers_reason(pacs: Pacs) -> None:
    sr = pacs.datasets["sr"]
    with pytest.raises(PrecimedInputError, match="no image could be loaded.*structured report"):
        pacs.client.retrieve_series(sr.StudyInstanceUID, sr.SeriesInstanceUID)


def test_retrieval_obeys_the_upload_limits(pacs: Pacs) -> None:
    ct = pacs.datasets["ct"]
    tiny = PacsClient(pacs.config, limits=ZipLimits(max_total_bytes=10_000))
    with pytest.raises(PrecimedInputError, match="larger than|would be") as err:
        tiny.retrieve_series(ct.StudyInstanceUID, ct.SeriesInstanceUID)
    assert "upload limit" in str(err.value)
    few = PacsClient(pacs.config, limits=ZipLimits(max_entries=0))
    with pytest.raises(PrecimedInputError, match="1 instances"):
        few.retrieve_series(ct.StudyInstanceUID, ct.SeriesInstanceUID)


def test_wrong_credentials_and_token_are_refused(pacs: Pacs) -> None:
    wrong = PacsClient(pacs_config({"url": pacs.server.url, "user": pacs.server.user, "password": "wrong"}, env={}))
    with pytest.raises(PrecimedInputError, match=r"refused the user and password \(HTTP 401\)"):
        wrong.search_studies()
    token = PacsClient(pacs_config({"url": pacs.server.url, "token": "not-a-token"}, env={}))
    with pytest.raises(PrecimedInputError, match="refused the bearer token"):
        token.search_studies()
    anonymous = PacsClient(pacs_config({"url": pacs.server.url}, env={}))
    with pytest.raises(PrecimedInputError, match="refused anonymous access"):
        anonymous.list_series(pacs.datasets["ct"].StudyInstanceUID)


def test_dead_port_fails_fast_and_clearly() -> None:
    port = free_port()
    client = PacsClient(pacs_config({"url": f"http://127.0.0.1:{port}/dicom-web", "user": "u", "password": "p"},
                                    env={}))
    start = time.monotonic()
    with pytest.raises(PrecimedInputError, match=f"127.0.0.1:{port} is unreachable") as err:
        client.search_studies(patient_id="1CT1")
    assert time.monotonic() - start < 5  # no retries with back-off
    assert "1CT1" not in str(err.value)


def test_unknown_study_and_series(pacs: Pacs) -> None:
    with pytest.raises(PrecimedInputError, match="has no study 1.2.3.999"):
        pacs.client.list_series("1.2.3.999")
    ct = pacs.datasets["ct"]
    with pytest.raises(PrecimedInputError, match="has no series 1.2.3.999"):
        pacs.client.retrieve_series(ct.StudyInstanceUID, "1.2.3.999")


def test_no_phi_in_logs(pacs: Pacs, caplog: pytest.LogCaptureFixture) -> None:
    ct = pacs.datasets["ct"]
    with caplog.at_level(logging.DEBUG):
        pacs.client.search_studies(patient_id="1CT1")
        pacs.client.retrieve_series(ct.StudyInstanceUID, ct.SeriesInstanceUID)
        lesion = pacs.datasets["lesion"]
        pacs.client.retrieve_series(lesion.StudyInstanceUID, lesion.SeriesInstanceUID)
    text = caplog.text
    for phi in ("1CT1", str(ct.StudyInstanceUID), str(ct.SOPInstanceUID), CANARY_NAME, "PHICANARY",
                pacs.server.password):
        assert phi not in text
