"""evaluate_tabular end to end on simulated CV predictions: baselines on the same folds, verdicts,
subgroups with the weaker call-out, and the card's cross-field rules (precimed.cards)."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from precimed.cards import check_evidence, claims_calibrated
from precimed.errors import BundleError
from precimed.evaluation import baselines as bl
from precimed.evaluation.pipeline import card_sections, evaluate_tabular
from precimed.training.tabular import CVPredictions

pytestmark = pytest.mark.slow  # ~10 s on an idle 2-core machine (scikit-learn baselines)


@pytest.fixture(scope="module")
def evaluated() -> dict[str, Any]:
    """A binary 'network' that is good in group a and random in group b (3x4 CV, 160 rows)."""
    rng = np.random.default_rng(0)
    n, R, F = 120, 2, 3
    x = rng.normal(size=(n, 3))
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-2 * x[:, 0]))).astype(int)
    group = np.where(np.arange(n) < 75, "a", "b")
    signal = np.where(group == "a", 3 * x[:, 0], 0.0)
    p1 = 1 / (1 + np.exp(-(signal[None] + rng.normal(scale=0.7, size=(R, n)))))
    folds = np.stack([rng.permutation(np.arange(n) % F) for _ in range(R)])
    cv = CVPredictions(probs=np.stack([1 - p1, p1], axis=2), folds=folds)
    recipe = SimpleNamespace(seed=3, repeats=R, folds=F, survival=None, factors={
        "site": {"input": "site", "label": "site", "levels": ["a", "b"], "values": group.tolist()}})
    card: dict[str, Any] = {"id": "sim", "task": "binary", "classes": ["no", "yes"],
                            "positive_class": "yes", "threshold": 0.5, "subject": "patient",
                            "evaluation": {}, "caveats": ["static caveat from the recipe"]}
    old = bl.RF_TREES
    bl.RF_TREES = 15
    try:
        card["evaluation"] = evaluate_tabular(card, x, y, cv, recipe, n_boot=200, cal_boot=100)
    finally:
        bl.RF_TREES = old
    card.update(card_sections(card, recipe))
    return {"card": card, "y": y, "folds": folds, "cv": cv}


def test_figures_and_baselines(evaluated: dict[str, Any]) -> None:
    card = evaluated["card"]
    ev = card["evaluation"]
    auc = ev["metrics"]["auroc"]
    assert auc["ci95"][0] < auc["value"] < auc["ci95"][1]
    assert auc["repeat_range"][0] <= auc["value"] <= auc["repeat_range"][1]
    assert "CV repeats" in ev["method"]
    cal = ev["calibration"]
    assert set(cal) >= {"intercept", "slope", "calibrated", "statement"}
    assert [b["name"] for b in ev["baselines"]] == [bl.LOGISTIC, bl.FOREST]
    for b in ev["baselines"]:
        assert 0.5 < b["auroc"]["value"] < 1 and b["verdict"].startswith("The network is ")
        assert f"{ev['metrics']['auroc']['value']:.3f} vs {b['auroc']['value']:.3f}" in b["verdict"]
    # the network only uses x0 in group a: logistic regression on x0 everywhere does better
    lr = ev["baselines"][0]
    assert lr["auroc"]["value"] > ev["metrics"]["auroc"]["value"]


def test_baselines_use_the_given_folds() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 2))
    y = (x[:, 0] + rng.normal(scale=0.5, size=60) > 0).astype(int)
    folds = np.stack([np.arange(60) % 3, (np.arange(60) // 20)])
    probs = bl.baseline_probabilities(bl.LOGISTIC, x, y, folds, 2)
    assert probs.shape == (2, 60, 2) and np.allclose(probs.sum(axis=2), 1)
    assert ((probs[:, :, 1] > 0.5) == (y == 1)).mean() > 0.75


def test_subgroups_and_caveats(evaluated: dict[str, Any]) -> None:
    card = evaluated["card"]
    subs = {s["level"]: s for s in card["evaluation"]["subgroups"]}
    assert subs["a"]["n"] == 75 and subs["b"]["n"] == 45
    assert subs["b"]["weaker"] and not subs["a"]["weaker"]
    assert subs["b"]["auroc"]["value"] < 0.7 < subs["a"]["auroc"]["value"]
    cil = subs["a"]["calibration_in_the_large"]
    assert set(cil) == {"intercept", "observed", "predicted"}
    assert card["caveats"][0] == "static caveat from the recipe"
    assert any(c.startswith("Weaker for patients with site b: AUROC") for c in card["caveats"])
    assert card["factors"]["evaluated"] == [{"input": "site", "label": "site", "levels": ["a", "b"],
                                             "name": "site"}]
    check_evidence(card)


def test_claims_calibrated() -> None:
    assert claims_calibrated("Probabilities are calibrated to this cohort's 5-year rate.")
    assert claims_calibrated("Well calibrated.")
    for text in ("Not calibrated: the slope is 0.49.", "read them as a ranking, not as calibrated "
                 "frequencies", "poorly calibrated", "uncalibrated scores", "recalibrated inside CV"):
        assert not claims_calibrated(text), text


def _bad(card: dict[str, Any], change: Any) -> str:
    bad = copy.deepcopy(card)
    change(bad)
    with pytest.raises(BundleError) as info:
        check_evidence(bad)
    return str(info.value)


def test_cards_that_break_the_rules_fail(evaluated: dict[str, Any]) -> None:
    card = copy.deepcopy(evaluated["card"])
    cal = card["evaluation"]["calibration"]
    cal.update({"slope": {"value": 0.49, "ci95": [0.3, 0.7]}, "calibrated": False,
                "statement": "Not calibrated."})
    check_evidence(card)
    assert "calls the model calibrated" in _bad(card, lambda c: c.update(
        {"limitations": ["Probabilities are calibrated to this cohort's 5-year metastasis rate."]}))
    assert "calibrated' is True" in _bad(card, lambda c: c["evaluation"]["calibration"].update(
        {"calibrated": True}))
    good = copy.deepcopy(card)
    good["evaluation"]["calibration"].update({"slope": {"value": 1.0, "ci95": [0.8, 1.2]},
                                              "intercept": {"value": 0.1, "ci95": [-0.2, 0.4]},
                                              "calibrated": True, "statement": "Calibrated here."})
    good["limitations"] = ["Probabilities are calibrated to this cohort."]
    check_evidence(good)
    # the same claim with no intercept and slope to back it (every shipped card has them now)
    assert "calls the model calibrated" in _bad(good, lambda c: c["evaluation"].update(
        {"calibration": {"predicted": [0.2, 0.8], "observed": [0.2, 0.8]}}))
    assert "not called out" in _bad(evaluated["card"], lambda c: c.update(
        {"caveats": [x for x in c["caveats"] if not x.startswith("Weaker")]}))
    assert "does not follow the rule" in _bad(evaluated["card"], lambda c: [
        s.update({"weaker": False}) for s in c["evaluation"]["subgroups"]])
    assert "does not follow its figures" in _bad(evaluated["card"], lambda c: c["evaluation"][
        "baselines"][0].update({"verdict": "The network is better than everything."}))
