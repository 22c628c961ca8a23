"""Out-of-scope images are refused, not scored: engine verdict, CLI, cohort and what-if.

Ultrasound (colour, and multi-frame colour) and an SR from pydicom's test data, against the
shipped ``lesion-cnn-synthetic`` card (CR, CT, MR; MONOCHROME1/2).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from precimed.dicom import load_path
from precimed.errors import PrecimedInputError
from precimed.imaging.check import assess_frame, refusal
from precimed.registry import get_bundle
from precimed.samples import sample_files

MODEL = "lesion-cnn-synthetic"
US_COLOUR = "US1_UNCI.dcm"  # single-frame RGB ultrasound
US_MULTIFRAME = "examples_ybr_color.dcm"  # multi-frame YBR ultrasound


def _data(name: str) -> Path:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    assert path, f"{name} is not installed"
    return Path(path)


class _Run:
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.code, self.stdout, self.stderr = code, stdout, stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def cli(capsys):  # in-process: TensorFlow loads once for the module, not once per command
    from precimed.cli.main import main

    def run(*args: str) -> _Run:
        code = main(list(args))
        out = capsys.readouterr()
        return _Run(code, out.out, out.err)

    return run


def _ct() -> Path:
    return next(p for p in sample_files(MODEL) if p.name == "ct_abdomen_heldout.dcm")


@pytest.fixture(scope="module")
def card() -> dict:  # type: ignore[type-arg]
    return get_bundle(MODEL).card


@pytest.mark.parametrize("name", [US_COLOUR, US_MULTIFRAME])
def test_ultrasound_is_out_of_scope(card, name) -> None:
    frames = load_path(_data(name)).frames
    assert frames
    for fr in frames:
        scope = assess_frame(card, fr)
        assert not scope.in_scope
        assert scope.error.startswith("out of scope: modality US (expected: CR, CT, MR)")
        assert "photometric interpretation" in scope.error
        with pytest.raises(PrecimedInputError, match="^out of scope: modality US"):
            refusal(card, fr, allow=False)
        assert refusal(card, fr, allow=True)[0].startswith("out of scope: modality US")


def test_a_training_like_ct_is_in_scope(card) -> None:
    [fr] = load_path(_ct()).frames
    scope = assess_frame(card, fr)
    assert scope.in_scope and scope.error == "" and scope.warnings() == []


def test_cli_refuses_ultrasound_and_exits_2(cli) -> None:
    res = cli("predict", "--model", MODEL, str(_data(US_COLOUR)), "--json")
    assert res.code == 2
    [row] = res.json()
    assert "probabilities" not in row and "prediction" not in row
    assert row["error"].startswith("out of scope: modality US (expected: CR, CT, MR)")
    [line] = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert "no image in US1_UNCI.dcm could be scored" in line and "--allow-out-of-scope" in line


def test_cli_override_scores_under_warnings(cli) -> None:
    res = cli("predict", "--model", MODEL, str(_data(US_MULTIFRAME)), "--allow-out-of-scope",
              "--json")
    assert res.code == 0, res.stderr
    rows = res.json()
    assert len(rows) > 1 and all("probabilities" in r for r in rows)
    assert all(r["out_of_scope"] is True for r in rows)
    assert all(r["warnings"][0].startswith("out of scope: modality US") for r in rows)
    text = cli("predict", "--model", MODEL, str(_data(US_COLOUR)), "--allow-out-of-scope")
    assert text.code == 0 and "[OUT OF SCOPE]" in text.stdout


def test_cli_zip_scores_only_what_is_in_scope(cli, tmp_path) -> None:
    path = tmp_path / "mixed.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(_ct(), "s/ct.dcm")
        zf.write(_data(US_COLOUR), "s/us.dcm")
        zf.write(_data("test-SR.dcm"), "s/report.dcm")
    res = cli("predict", "--model", MODEL, str(path), "--json")
    assert res.code == 0, res.stderr
    rows = {r["source"]: r for r in res.json()}
    assert "probabilities" in rows["s/ct.dcm"] and rows["s/ct.dcm"]["out_of_scope"] is False
    assert rows["s/us.dcm"]["error"].startswith("out of scope: modality US")
    assert "probabilities" not in rows["s/us.dcm"]
    assert "not an image" in rows["s/report.dcm"]["error"]


def test_cli_explain_and_occlusion_refuse(cli) -> None:
    us = str(_data(US_COLOUR))
    for cmd in (["explain"], ["occlusion", "--box", "0,0,10,10"]):
        res = cli(*cmd, "--model", MODEL, us, "--json")
        assert res.code == 2 and res.stdout == ""
        assert res.stderr.strip().splitlines()[-1].startswith(
            "error: out of scope: modality US (expected: CR, CT, MR)"), res.stderr
    ok = cli("explain", "--model", MODEL, us, "--allow-out-of-scope", "--json")
    assert ok.code == 0, ok.stderr
    assert ok.json()["out_of_scope"] is True
    assert ok.json()["warnings"][0].startswith("out of scope: modality US")


def test_an_sr_alone_is_refused(cli) -> None:
    res = cli("predict", "--model", MODEL, str(_data("test-SR.dcm")), "--json")
    assert res.code == 2 and res.stdout == ""
    assert "not an image" in res.stderr


def test_cohort_scoring_refuses_unless_allowed(tmp_path) -> None:
    from precimed.cohort.images import score_image_bytes

    bundle = get_bundle(MODEL)
    path = tmp_path / "c.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(_ct(), "ct.dcm")
        zf.write(_data(US_COLOUR), "us.dcm")
    table = score_image_bytes(bundle, path.read_bytes(), "c.zip").set_index("source")
    assert table.loc["us.dcm", "error"].startswith("out of scope: modality US")
    assert pd.isna(table.loc["us.dcm", "prediction"]) and pd.isna(table.loc["us.dcm", "P(lesion)"])
    assert pd.isna(table.loc["ct.dcm", "error"])
    allowed = score_image_bytes(bundle, path.read_bytes(), "c.zip",
                                allow_out_of_scope=True).set_index("source")
    assert pd.isna(allowed.loc["us.dcm", "error"])
    assert allowed.loc["us.dcm", "warnings"].startswith("out of scope: modality US")
