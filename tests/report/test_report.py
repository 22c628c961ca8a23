"""The one-page report: what the issue lists is in the PDF's extracted text (and the HTML), the
raw identifier is not, it stays on one page, and it works for a three-class compound model."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from precimed.cards import feature_labels
from precimed.explain.tabular import explain_rows
from precimed.format import probability
from precimed.predict import predict_proba
from precimed.registry import Bundle, get_bundle, read_bundle
from precimed.report import build_report, pseudonymise, report_for_row
from precimed.samples import sample_files
from precimed.tabular.io import read_table
from precimed.tabular.validate import ValidatedTable, encode, validate_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cohort"))
from cohort_data import tiny_bundle_module  # noqa: E402

GENOMIC = "breast-metastasis-gse7390"
KEY = b"test-key-0123456789abcdef"
WHEN = dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.UTC)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def pdf_text(data: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), _flat(" ".join(p.extract_text() for p in reader.pages))


@pytest.fixture(scope="module")
def genomic() -> Bundle:
    return get_bundle(GENOMIC)


@pytest.fixture(scope="module")
def table(genomic: Bundle) -> ValidatedTable:
    return validate_table(read_table(sample_files(GENOMIC)[0]), genomic.card)


def _expected(bundle: Bundle, table: ValidatedTable, row: int) -> tuple[Any, Any]:
    probs = predict_proba(bundle, encode(table.frame.iloc[[row]], bundle.card))[0]
    [expl] = explain_rows(bundle, table, [row])
    return probs, expl


def test_pdf_holds_everything_and_no_identifier(genomic: Bundle, table: ValidatedTable) -> None:
    ident = "GSE7390-row2"
    data = report_for_row(genomic, table, 1, identifier=ident, when=WHEN, key=KEY)
    assert data.startswith(b"%PDF-")
    pages, text = pdf_text(data)
    assert pages == 1
    card = genomic.card
    probs, expl = _expected(genomic, table, 1)
    assert pseudonymise(ident, key=KEY) in text and "Patient (pseudonymised)" in text
    assert ident not in text and ident.encode() not in data  # nor in metadata
    assert _flat(card["name"]) in text and f"version {card['version']}" in text
    assert card["weights_sha256"] in text.replace(" ", "")
    pos = card["positive_class"]
    pred = pos if probs[1] >= card["threshold"] else "no metastasis"
    assert f"Prediction. {pred}" in text
    assert f"P({pos}) >= 0.19" in text and "Threshold 0.19" in text
    for name, p in zip(genomic.classes, probs, strict=True):
        assert f"P({name}) {p:.1%}" in text
    top = max(expl.values, key=lambda k: abs(expl.values[k]))
    shown = feature_labels(card)[top]  # gene symbol beside the probe column
    assert f"{shown} = " in text and f"{expl.values[top]:+.3f}" in text  # the explanation chart
    assert f"Why P({pos}) = {probability(expl.output)}" in text
    assert "Intended use." in text and _flat(card["intended_use"])[:60] in text
    assert "Out of scope." in text and "Evaluation." in text and "AUROC 0.7" in text
    for item in card["limitations"]:
        assert _flat(item)[:50] in text
    assert text.count("Not for clinical use.") == 2
    assert "2026-03-04 05:06 UTC" in text


def test_html_is_self_contained(genomic: Bundle, table: ValidatedTable) -> None:
    ident = "GSE7390-row0"
    html = report_for_row(genomic, table, 0, identifier=ident, fmt="html", when=WHEN,
                          key=KEY).decode("utf-8")
    assert ident not in html and pseudonymise(ident, key=KEY) in html
    assert "<script" not in html and 'src="http' not in html and "<link" not in html
    assert "default-src 'none'" in html
    assert html.count("<rect") >= 2 + 3  # probability bars + explanation bars
    assert "Not for clinical use." in html and genomic.card["weights_sha256"] in html


def test_multiclass_compound_report(tmp_path: Path) -> None:
    module = tiny_bundle_module()
    module.build(tmp_path)
    tiny = read_bundle(tmp_path / module.MODEL_ID)
    table = validate_table(read_table(tmp_path / "tiny.csv"), tiny.card)
    data = report_for_row(tiny, table, 2, identifier="C2", when=WHEN, key=KEY)
    pages, text = pdf_text(data)
    probs, expl = _expected(tiny, table, 2)
    assert pages == 1 and "Compound (pseudonymised)" in text
    for name, p in zip(tiny.classes, probs, strict=True):
        assert f"P({name}) {p:.1%}" in text
    assert "most probable class (arg-max)" in text
    assert f"Prediction. {tiny.classes[int(probs.argmax())]}" in text
    assert f"Why P({expl.class_name})" in text  # multiclass: the predicted class


def test_long_card_still_one_page(genomic: Bundle) -> None:
    card = dict(genomic.card, limitations=genomic.card["limitations"] * 4)
    data = build_report(card, identifier="x", probabilities={"no metastasis": 0.3,
                                                             "metastasis": 0.7}, key=KEY)
    pages, text = pdf_text(data)
    assert pages == 1 and text.count("Small cohort") == 4


def test_pseudonyms_are_keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = pseudonymise("MRN-1", key=KEY)
    assert re.fullmatch(r"PM-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}", a)
    assert a == pseudonymise(" MRN-1 ", key=KEY) and a != pseudonymise("MRN-2", key=KEY)
    assert a != pseudonymise("MRN-1", key=b"another key")
    monkeypatch.delenv("PRECIMED_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("PRECIMED_KEY_FILE", str(tmp_path / "k" / "pseudonym.key"))
    first = pseudonymise("MRN-1")
    assert first == pseudonymise("MRN-1")  # the key persists for the installation
    assert stat.S_IMODE(os.stat(tmp_path / "k" / "pseudonym.key").st_mode) == 0o600
    monkeypatch.setenv("PRECIMED_PSEUDONYM_KEY", "site secret")
    assert pseudonymise("MRN-1") == pseudonymise("MRN-1", key=b"site secret") != first
