"""The card's evaluation evidence in words: the same lines on the Genomics page's card summary,
in the one-page report and from ``precimed models ID`` (issue 11, "Done when")."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from precimed.registry import get_bundle
from precimed.report import build_report
from precimed.report.evidence import ci_text
from precimed.report.evidence_text import evidence_lines

GENOMIC = "breast-metastasis-gse7390"
DILI = "dili-hepatic-injury-qsar"


@pytest.fixture(scope="module")
def genomic_card() -> dict[str, Any]:
    return get_bundle(GENOMIC).card


def test_genomic_evidence_has_every_figure_the_issue_asks_for(genomic_card: dict[str, Any]) -> None:
    ev = genomic_card["evaluation"]
    lines = dict(evidence_lines(genomic_card))
    assert lines["Calibration"] == ev["calibration"]["statement"]
    assert ev["baseline_verdict"] in lines["Against simpler models"]
    for b in ev["baselines"]:
        assert f"{b['name']} {ci_text(b['auroc'])}" in lines["Against simpler models"]
    assert "ER status negative" in lines["Weaker subgroups"]
    surv = ev["survival"]
    text = lines["Survival by predicted risk group"]
    low, high = surv["groups"][0], surv["groups"][-1]
    for src in (low, high):  # ours, 5 and 10 years, with CIs
        assert ci_text(src["dmfs_5y"], pct=True) in text and ci_text(src["dmfs_10y"], pct=True) in text
    assert f"HR {ci_text(surv['hazard_ratio']['unadjusted'], 2)} unadjusted" in text
    assert f"{ci_text(surv['hazard_ratio']['adjusted'], 2)} adjusted for age, size, grade, er" in text
    assert f"sensitivity {ci_text(surv['sensitivity'], 2)}" in text
    # Beside Desmedt 2007 and the published score on the same patients.
    assert "Desmedt 2007: 5-year DMFS low / high risk 98.0%" in text
    ref = surv["reference"]["groups"]
    assert f"{ci_text(ref[0]['dmfs_5y'], pct=True)} / {ci_text(ref[-1]['dmfs_5y'], pct=True)}" in text
    assert lines["Censored before 5 years"] == surv["censoring"]["statement"]


def test_dili_evidence_says_where_the_network_stands() -> None:
    card = get_bundle(DILI).card
    lines = dict(evidence_lines(card))
    assert lines["Calibration"] == card["evaluation"]["calibration"]["statement"]
    text = lines["Against simpler models"]
    assert text.startswith("macro AUROC on the same folds and repeats: this network")
    assert "random forest" in text and card["evaluation"]["baseline_verdict"] in text
    assert "Survival by predicted risk group" not in lines  # no time-to-event data


def test_report_prints_the_evidence(genomic_card: dict[str, Any]) -> None:
    html = build_report(genomic_card, identifier="p", fmt="html",
                        probabilities={"no metastasis": 0.7, "metastasis": 0.3},
                        when=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), key=b"k" * 32).decode()
    import html as html_lib

    text = html_lib.unescape(html)
    for heading, line in evidence_lines(genomic_card):
        assert heading in text and line in text


@pytest.mark.slow  # CLI subprocesses
def test_cli_models_id_prints_the_evidence(cli: Any) -> None:
    res = cli("models", GENOMIC)
    assert res.code == 0, res.stderr
    card = get_bundle(GENOMIC).card
    for heading, line in evidence_lines(card):
        assert f"{heading}: {line}" in res.stdout
    res = cli("models", GENOMIC, "--json")
    assert res.code == 0 and [c["id"] for c in res.json()] == [GENOMIC]
    res = cli("models", "no-such-model")
    assert res.code == 2 and res.stderr.startswith("error: unknown model 'no-such-model'")
