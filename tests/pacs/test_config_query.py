"""PACS configuration (secrets, environment, flags) and QIDO filters: no server needed."""

from __future__ import annotations

import pytest

from precimed.errors import PrecimedInputError
from precimed.pacs import pacs_config, study_filters
from precimed.pacs.query import SeriesInfo, StudyInfo, decoded_bytes, study_from_json

URL = "http://127.0.0.1:8042/dicom-web"


def test_precedence_flags_then_secrets_then_environment() -> None:
    env = {"PRECIMED_PACS_URL": "http://env:1/dicom-web", "PRECIMED_PACS_USER": "envuser",
           "PRECIMED_PACS_PASSWORD": "envpw"}
    assert pacs_config(None, env=env).url == "http://env:1/dicom-web"
    assert pacs_config(None, env=env).user == "envuser"
    cfg = pacs_config({"url": URL + "/", "token": "tok", "timeout_s": 5}, env={})
    assert (cfg.url, cfg.auth_kind, cfg.timeout_s) == (URL, "bearer", 5.0)
    # typed credentials replace the configured ones as a whole (no mixing a token with a user)
    cfg = pacs_config({"url": URL, "token": "tok"}, env=env, user="me", password="pw")
    assert (cfg.user, cfg.password, cfg.token, cfg.auth_kind) == ("me", "pw", None, "basic")
    assert pacs_config({"url": URL}, env=env).user == "envuser"  # secrets lack a user: environment


def test_secrets_never_shown() -> None:
    cfg = pacs_config({"url": URL, "user": "u", "password": "s3cret-pw"}, env={})
    assert "s3cret-pw" not in repr(cfg) and "s3cret-pw" not in cfg.host
    tok = pacs_config({"url": URL, "token": "s3cret-token"}, env={})
    assert "s3cret-token" not in repr(tok)


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({}, "no PACS is configured"),
    ({"url": "ftp://host/x"}, "is not an http(s) URL"),
    ({"url": "http://u:p@host/dicom-web"}, "carries credentials"),
    ({"url": URL, "user": "u"}, "needs a password"),
    ({"url": URL, "password": "p"}, "needs a password"),
    ({"url": URL, "user": "u", "password": "p", "token": "t"}, "both a bearer token and a user"),
    ({"url": URL, "timeout_s": 0}, "between 0 and 600"),
])
def test_bad_configuration_says_what_is_expected(kwargs, needle) -> None:
    with pytest.raises(PrecimedInputError, match="expected") as err:
        pacs_config(None, env={}, **kwargs)
    assert needle in str(err.value)
    assert "s3cret" not in str(err.value)


def test_study_filters() -> None:
    assert study_filters(patient_id=" P1 ", accession="A-2", study_date="20240101-20241231",
                         modality="ct") == {"PatientID": "P1", "AccessionNumber": "A-2",
                                            "StudyDate": "20240101-20241231", "ModalitiesInStudy": "CT"}
    assert study_filters(study_date="-20240101") == {"StudyDate": "-20240101"}
    assert study_filters() == {}
    for bad in ("2024", "20241301", "20240201-20240101", "20240101-2024", "-", "yesterday"):
        with pytest.raises(PrecimedInputError, match="YYYYMMDD"):
            study_filters(study_date=bad)
    with pytest.raises(PrecimedInputError, match="wildcard"):
        study_filters(patient_id="DOE*")
    with pytest.raises(PrecimedInputError, match="modality code"):
        study_filters(modality="C T")


def test_dicom_json_parsing_and_decode_estimate() -> None:
    item = {"0020000D": {"vr": "UI", "Value": ["1.2.3"]}, "00080020": {"vr": "DA", "Value": ["20240115"]},
            "00080061": {"vr": "CS", "Value": ["MR", "CT"]}, "00080050": {"vr": "SH"}}
    study = study_from_json(item)
    assert (study.study_uid, study.study_date, study.modalities, study.accession) == (
        "1.2.3", "20240115", ("CT", "MR"), "")
    study = study.with_series([SeriesInfo("1.2.3.4", "SR", 1)])
    assert study.to_json() == {"study_uid": "1.2.3", "study_date": "20240115", "modalities": ["CT", "MR", "SR"],
                               "series": [{"series_uid": "1.2.3.4", "modality": "SR", "instances": 1}]}
    assert "2024-01-15" in study.label() and isinstance(study, StudyInfo)
    big = {"00280010": {"vr": "US", "Value": [4096]}, "00280011": {"vr": "US", "Value": [4096]},
           "00280008": {"vr": "IS", "Value": [100]}, "00280100": {"vr": "US", "Value": [16]}}
    assert decoded_bytes(big) == 4096 * 4096 * 100 * 2
    assert decoded_bytes({}) is None
