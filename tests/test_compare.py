"""precimed/compare.py: the network beside its published reference (pairing from cards, agreement)."""

from __future__ import annotations

from pathlib import Path

import pytest

from precimed.compare import Call, compare_calls, compare_row, reference_for
from precimed.errors import PrecimedInputError
from precimed.registry import get_bundle, list_bundles
from precimed.tabular.io import read_table

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "samples" / "breast-metastasis-gse7390.csv"


def test_pairing_comes_from_the_cards() -> None:
    net = get_bundle("breast-metastasis-gse7390")
    assert reference_for(net.card, list_bundles()).id == "relapse-score-wang2005"
    assert reference_for(get_bundle("breast-cytology-wdbc").card, list_bundles()) is None
    assert reference_for(get_bundle("relapse-score-wang2005").card, list_bundles()) is None
    renamed = {**get_bundle("breast-cytology-wdbc").card, "reference_model": "relapse-score-wang2005"}
    assert reference_for(renamed, list_bundles()).id == "relapse-score-wang2005"


def test_agreement_sentences() -> None:
    net = Call("n", "net", "metastasis", True, 0.41, 0.19, "metastasis", None)
    ref_high = Call("r", "76-gene Relapse Score", "high risk", True, 0.7, 0.5, "high risk", 42.4)
    ref_low = Call("r", "76-gene Relapse Score", "low risk", False, 0.4, 0.5, "high risk", -20.3)
    agree = compare_calls(net, ref_high)
    assert agree.agree and agree.message.startswith("Both call this patient high risk")
    assert "score +42.4 ≥ 0" in agree.message and "P(metastasis) = 0.410 ≥ threshold 0.19" in agree.message
    disagree = compare_calls(net, ref_low)
    assert not disagree.agree
    assert disagree.message == ("They disagree: the network calls this patient high risk, predicting 'metastasis' "
                                "(P(metastasis) = 0.410 ≥ threshold 0.19); the 76-gene Relapse Score calls it "
                                "low risk (score -20.3 < 0).")


def test_compare_rows_of_the_shared_sample_file() -> None:
    net, ref = get_bundle("breast-metastasis-gse7390"), get_bundle("relapse-score-wang2005")
    raw = read_table(SAMPLE)
    first = compare_row(net, ref, raw, 0)  # a metastasis within 5 years; both flag it
    assert first.agree and first.message.startswith("Both call this patient high risk")
    assert first.reference.score == pytest.approx(28.5, abs=0.1)
    from precimed.predict import predict_table
    from precimed.tabular.validate import validate_table

    probs = predict_table(net, validate_table(raw, net.card))[4].probabilities
    assert compare_row(net, ref, raw, 4, network_probabilities=probs).message == compare_row(net, ref, raw, 4).message
    # metastasis-free (row 4 since the recalibrated ensemble): the network clears it, the score does not
    fourth = compare_row(net, ref, raw, 4)
    assert not fourth.agree and fourth.message.startswith("They disagree: the network calls this patient low risk")
    with pytest.raises(PrecimedInputError, match="Breast cancer 5-year distant metastasis cannot score row 0: "
                                                 "1 required column.s. missing: er"):
        compare_row(net, ref, raw.drop(columns=["er"]), 0)
