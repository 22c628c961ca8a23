"""``precimed report`` as a user runs it."""

from __future__ import annotations

import csv
from pathlib import Path

from test_report import pdf_text

from precimed.report import pseudonymise
from precimed.samples import sample_files

GENOMIC = "breast-metastasis-gse7390"
ENV = {"PRECIMED_PSEUDONYM_KEY": "cli test key"}


def test_report_pdf(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sample = sample_files(GENOMIC)[0]
    ident = list(csv.DictReader(sample.open()))[3]["sample"]
    out = tmp_path / "r.pdf"
    res = cli("report", "--model", GENOMIC, str(sample), "--row", "3", "--out", str(out), "--json",
              env=ENV)
    assert res.code == 0, res.stderr
    info = res.json()
    pseudonym = pseudonymise(ident, key=b"cli test key")
    assert info["pseudonym"] == pseudonym and info["format"] == "pdf" and info["row"] == 3
    assert ident not in res.stdout + res.stderr
    pages, text = pdf_text(out.read_bytes())
    assert pages == 1 and pseudonym in text and ident not in text


def test_report_user_errors(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sample = str(sample_files(GENOMIC)[0])
    for args, message in (
        (["--row", "99", "--out", str(tmp_path / "r.pdf")], "row 99 does not exist"),
        (["--row", "0", "--out", str(tmp_path / "r.docx")], "unsupported report format"),
        (["--row", "0", "--out", str(tmp_path / "r.pdf"), "--id-column", "nope"],
         "column 'nope' is not in"),
    ):
        res = cli("report", "--model", GENOMIC, sample, *args)
        assert res.code == 2 and message in res.stderr and "Traceback" not in res.stderr
