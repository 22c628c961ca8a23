"""Edits: the card's rules, and re-prediction/re-explanation that match the model itself."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_bundle import direct_probs

from precimed.errors import PrecimedInputError
from precimed.registry import Bundle
from precimed.tabular.validate import ValidatedTable
from precimed.whatif.analysis import evaluate_edits
from precimed.whatif.edits import apply_edits, parse_assignments, row_values

GENE = "X221916_at"


@pytest.fixture(scope="module")
def row(genomic_table: ValidatedTable) -> dict[str, Any]:
    return row_values(genomic_table, 2)


def test_fixed_features_are_refused(genomic: Bundle, row: dict[str, Any]) -> None:
    for feature, value in (("age", row["age"] + 5), ("er", "negative" if row["er"] == "positive"
                                                     else "positive")):
        with pytest.raises(PrecimedInputError, match=f"'{feature}' is fixed"):
            apply_edits(genomic.card, row, {feature: value})
    # Keeping a fixed feature at its own value is not a change, so it is accepted.
    assert apply_edits(genomic.card, row, {"age": row["age"]}).changed == []


def test_values_are_checked(genomic: Bundle, row: dict[str, Any]) -> None:
    with pytest.raises(PrecimedInputError, match="no input 'X2219'.*did you mean"):
        apply_edits(genomic.card, row, {"X2219": 1})
    with pytest.raises(PrecimedInputError, match="is not a number"):
        apply_edits(genomic.card, row, {GENE: "high"})
    with pytest.raises(PrecimedInputError, match="not finite"):
        apply_edits(genomic.card, row, {GENE: "inf"})
    with pytest.raises(PrecimedInputError, match="cannot be 'grade 9'.*well differentiated"):
        apply_edits(genomic.card, row, {"grade": "grade 9"})
    e = apply_edits(genomic.card, row, {"GRADE": "Poorly Differentiated", " x221916_AT ": "5"})
    assert e.edited["grade"] == "poorly differentiated" and e.edited[GENE] == 5.0


def test_out_of_range_is_flagged_or_refused(genomic: Bundle, row: dict[str, Any]) -> None:
    spec = next(i for i in genomic.card["inputs"] if i["name"] == GENE)
    e = apply_edits(genomic.card, row, {GENE: spec["max"] + 1})
    assert [f.feature for f in e.flags] == [GENE]
    assert "outside the training range" in e.flags[0].message and e.flags[0].kind == "extrapolation"
    assert apply_edits(genomic.card, row, {GENE: spec["max"]}).flags == []
    with pytest.raises(PrecimedInputError, match="outside the training range"):
        apply_edits(genomic.card, row, {GENE: spec["min"] - 1}, allow_extrapolation=False)


def test_int_features_need_whole_numbers(tiny: Bundle, tiny_table: ValidatedTable) -> None:
    row = row_values(tiny_table, 0)
    with pytest.raises(PrecimedInputError, match="not a whole number"):
        apply_edits(tiny.card, row, {"ring_bit": 0.5})
    with pytest.raises(PrecimedInputError, match="'batch_year' is fixed"):
        apply_edits(tiny.card, row, {"batch_year": 2001 if row["batch_year"] != 2001 else 2002})


def test_edit_predicts_like_the_model_and_stays_additive(genomic: Bundle,
                                                         row: dict[str, Any]) -> None:
    w = evaluate_edits(genomic, row, {GENE: 6.5, "grade": "well differentiated"})
    assert w.changed == [GENE] + (["grade"] if row["grade"] != "well differentiated" else [])
    p_pos = direct_probs(genomic, w.after.values)[0]
    assert w.after.probabilities["metastasis"] == pytest.approx(p_pos, abs=1e-6)
    assert w.before.probabilities["metastasis"] == pytest.approx(
        direct_probs(genomic, row)[0], abs=1e-6)
    assert w.additivity_error() < 1e-4
    delta = w.delta_probabilities()
    assert delta["metastasis"] == pytest.approx(-delta["no metastasis"], abs=1e-9)
    # The SHAP change concentrates on the edited features for a small edit, and sums to the
    # change in probability (both rows share the base value).
    d = w.delta_shap("metastasis")
    assert sum(d.values()) == pytest.approx(delta["metastasis"], abs=1e-4)
    assert max(d, key=lambda f: abs(d[f])) in w.changed


def test_multiclass_edit_reports_every_class(tiny: Bundle, tiny_table: ValidatedTable) -> None:
    row = row_values(tiny_table, 2)
    w = evaluate_edits(tiny, row, {"route": "topical", "dose": 9.5})
    assert list(w.after.probabilities) == ["low", "medium", "high"]
    np.testing.assert_allclose([w.after.probabilities[c] for c in w.classes],
                               direct_probs(tiny, w.after.values), atol=1e-6)
    assert sum(w.delta_probabilities().values()) == pytest.approx(0.0, abs=1e-6)
    assert w.additivity_error() < 1e-4
    out = w.to_json(class_name="high", top=3)
    assert list(out["shap_after"]) == ["high"] and len(out["delta_shap"]["high"]) == 3


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frac=st.floats(0.0, 1.0), feature=st.sampled_from(["X204015_s_at", GENE, "X218883_s_at"]))
def test_any_edit_in_range_matches_the_model(genomic: Bundle, row: dict[str, Any], frac: float,
                                             feature: str) -> None:
    spec = next(i for i in genomic.card["inputs"] if i["name"] == feature)
    value = spec["min"] + frac * (spec["max"] - spec["min"])
    w = evaluate_edits(genomic, row, {feature: value})
    assert w.flags == []
    assert w.after.probabilities["metastasis"] == pytest.approx(
        direct_probs(genomic, w.after.values)[0], abs=1e-6)
    assert w.additivity_error() < 1e-4


def test_parse_assignments() -> None:
    assert parse_assignments(["a=1", " b = x y "]) == {"a": "1", "b": "x y"}
    with pytest.raises(PrecimedInputError, match="FEATURE=VALUE"):
        parse_assignments(["a"])


def test_row_values_refuses_missing_rows(genomic_table: ValidatedTable) -> None:
    with pytest.raises(PrecimedInputError, match="row 99 does not exist"):
        row_values(genomic_table, 99)


def test_two_models_edited_at_once_in_two_threads(genomic: Bundle, row: dict[str, Any],
                                                  tiny: Bundle, tiny_table: ValidatedTable) -> None:
    """A server explains for several users at once (Streamlit's fast reruns start a new script
    thread before the old one ends): DeepExplainer swaps TensorFlow's process-wide gradient
    registry, so concurrent explanations of two bundles must not corrupt it."""
    import threading

    tiny_row = row_values(tiny_table, 0)
    errors: list[BaseException] = []

    def loop(bundle: Bundle, r: dict[str, Any], edit: dict[str, Any]) -> None:
        try:
            for _ in range(25):
                assert evaluate_edits(bundle, r, edit).additivity_error() < 1e-4
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(genomic, row, {GENE: 6.0})),
               threading.Thread(target=loop, args=(tiny, tiny_row, {"dose": 5.0}))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_edits_are_audited_without_values(genomic: Bundle, row: dict[str, Any], tmp_path: Any,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from precimed import audit

    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("PRECIMED_AUDIT_LOG", str(log))
    w = evaluate_edits(genomic, row, {GENE: 5.4321})
    [line] = audit.read_entries(log)
    assert line["action"] == "whatif" and line["output"]["changed"] == [GENE]
    assert line["output"]["after"]["metastasis"] == pytest.approx(w.after.probabilities["metastasis"])
    assert "5.4321" not in log.read_text() and audit.verify(log).ok
