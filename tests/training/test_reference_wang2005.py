"""The published-reference bundle (relapse-score-wang2005): fixed weights reproduce the paper's
algorithm on the 198 TRANSBIG patients, and its card carries the figures beside Desmedt 2007."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from precimed.registry import get_bundle
from precimed.tabular.validate import encode, validate_table

ID = "relapse-score-wang2005"
REPO = Path(__file__).resolve().parents[2]


def published_score(X: pd.DataFrame) -> np.ndarray:
    """genefu's gene76, written out independently of the trainer from the committed CSV."""
    from precimed.training.wang2005 import SIGNATURE_CSV

    sig = pd.read_csv(SIGNATURE_CSV)
    er_pos = (X["er"].astype(str) == "positive").to_numpy()
    out = np.empty(len(X))
    for flag, intercept, mask in ((1, 313.5, er_pos), (0, 280.0, ~er_pos)):
        sub = sig[sig["er"] == flag]
        out[mask] = intercept + X.loc[mask, ["X" + p for p in sub["probe"]]].to_numpy() @ sub[
            "std.cox.coefficient"].to_numpy()
    return out


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    from sksurv.datasets import load_breast_cancer

    X, y = load_breast_cancer()
    return X, np.asarray(y["t.tdm"], dtype=float), np.asarray(y["e.tdm"], dtype=bool)


def test_shipped_bundle_gives_the_published_risk_groups_and_dmfs(cohort: tuple) -> None:
    from precimed.evaluation.survival import km_at
    from precimed.predict import decide, predict_proba

    X, days, event = cohort
    bundle = get_bundle(ID)  # checksum and safe_mode load
    table = validate_table(X, bundle.card)
    assert len(table.valid_rows) == 198
    probs = predict_proba(bundle, encode(table.frame, bundle.card))
    high = decide(probs, bundle.card) == bundle.classes.index("high risk")
    score = published_score(X)
    assert np.array_equal(high, score >= 0)  # positive class exactly when the score is >= 0
    assert (int((~high).sum()), int(high.sum())) == (38, 160)
    # the output is sigmoid(score / 50): the score is recoverable from it
    p = probs[:, bundle.classes.index("high risk")]
    assert np.allclose(50 * np.log(p / (1 - p)), score, atol=0.05)
    [low5] = km_at(days[~high], event[~high], [1826.25])
    [high5] = km_at(days[high], event[high], [1826.25])
    assert abs(low5["value"] - 0.974) <= 0.01 and abs(high5["value"] - 0.786) <= 0.01


def test_card_states_figures_beside_the_paper_and_what_the_output_is() -> None:
    card = get_bundle(ID).card
    assert card["kind"] == "published_reference" and "Lancet 2005;365" in card["citation"]
    assert "monotone transform" in card["output"]["what"] and "NOT a calibrated" in card["output"]["what"]
    assert "nothing was fitted on this cohort" in card["evaluation"]["method"]
    surv = card["evaluation"]["survival"]
    low, high = surv["groups"]
    assert (low["n"], high["n"]) == (38, 160)
    assert low["dmfs_5y"]["value"] == pytest.approx(0.974, abs=0.01)
    assert high["dmfs_5y"]["value"] == pytest.approx(0.786, abs=0.01)
    assert low["dmfs_10y"]["value"] == pytest.approx(0.945, abs=0.01)
    assert high["dmfs_10y"]["value"] == pytest.approx(0.750, abs=0.01)
    hr = surv["hazard_ratio"]
    assert hr["unadjusted"]["value"] == pytest.approx(8.66, abs=0.05)
    assert hr["adjusted"]["value"] == pytest.approx(6.43, abs=0.05)
    assert hr["adjusted"]["adjusted_for"] == ["age", "size", "grade", "er"]
    assert surv["label"]["n"] == 189
    m = card["evaluation"]["metrics"]
    assert m["sensitivity"]["value"] == pytest.approx(0.97, abs=0.005)
    assert m["specificity"]["value"] == pytest.approx(0.23, abs=0.005)
    assert m["auroc"]["value"] == pytest.approx(0.718, abs=0.001)
    paper = surv["paper"]
    assert "Clin Cancer Res 2007" in paper["citation"]
    assert [g["dmfs_5y"]["value"] for g in paper["groups"]] == [0.98, 0.76]
    assert len(low["curve"]["time"]) == len(low["curve"]["survival"]) > 10


def test_inputs_match_the_network_and_carry_gene_symbols() -> None:
    ref = get_bundle(ID).card
    net = get_bundle("breast-metastasis-gse7390").card
    net_inputs = {i["name"]: i for i in net["inputs"]}
    for item in ref["inputs"]:
        assert item["name"] in net_inputs
        if item["dtype"] == "category":
            assert item["levels"] == net_inputs[item["name"]]["levels"]
    symbols = {i["name"]: i.get("symbol") for i in ref["inputs"]}
    assert sum(1 for v in symbols.values() if v) == 76 - 12  # 12 probes have no symbol at all
    assert symbols["X219340_s_at"] == "CLN8"


def test_explained_with_deep_explainer_and_additive() -> None:
    from precimed.explain.tabular import backend_for, explain_rows
    from precimed.tabular.io import read_table

    bundle = get_bundle(ID)
    table = validate_table(read_table(REPO / "assets" / "samples" / f"{ID}.csv"), bundle.card)
    [e] = explain_rows(bundle, table, [0])
    assert backend_for(bundle).name == "shap.DeepExplainer"
    assert e.additivity_error < 1e-5
    assert e.class_name == "high risk"


@pytest.mark.slow  # counterfactual search and cohort SHAP
def test_every_capability_works_on_the_reference_unchanged() -> None:
    """What-if, counterfactuals, cohort scoring with SHAP and the report, as for any network."""
    from precimed.cohort.score import score_chunk
    from precimed.report import report_for_row
    from precimed.tabular.io import read_table
    from precimed.whatif.analysis import evaluate_edits
    from precimed.whatif.counterfactual import find_counterfactuals
    from precimed.whatif.edits import row_values

    bundle = get_bundle(ID)
    raw = read_table(REPO / "assets" / "samples" / f"{ID}.csv")
    table = validate_table(raw, bundle.card)
    row = row_values(table, 0)
    # a probe of the patient's own ER formula with a negative coefficient: raising it lowers the score
    sig = pd.read_csv(REPO / "precimed" / "training" / "data" / "wang2005_sig_gene76.csv")
    mine = sig[(sig["er"] == int(row["er"] == "positive")) & (sig["std.cox.coefficient"] < 0)]
    probe = "X" + mine["probe"].iloc[0]
    edited = evaluate_edits(bundle, row, {probe: float(row[probe]) + 2.0})
    before, after = edited.before.probabilities["high risk"], edited.after.probabilities["high risk"]
    assert after < before
    cf = find_counterfactuals(bundle, row, n=1)
    assert cf.counterfactuals and cf.counterfactuals[0].prediction == "low risk"
    result = score_chunk(bundle, raw, 0, explain=True)
    frame = result.table.to_pandas()
    assert len(frame) == len(raw) == result.valid and frame["top1_feature"].notna().all()
    assert max(result.additivity) < 1e-4  # DeepExplainer stays exact on the fixed-weight model
    pdf = report_for_row(bundle, table, 0, identifier="GSE7390-row0")
    assert pdf.startswith(b"%PDF-")
