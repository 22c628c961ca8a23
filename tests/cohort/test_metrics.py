"""Cohort metrics against scikit-learn: AUROC (ties, weights), CIs, confusion at the threshold,
multiclass macro, labels in several spellings, subgroups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score

from precimed.cohort.metrics import (
    auroc,
    cohort_metrics,
    label_indices,
    metrics_from_results,
    subgroup_table,
)
from precimed.errors import PrecimedInputError

BINARY = {"task": "binary", "classes": ["benign", "malignant"], "positive_class": "malignant",
          "threshold": 0.3}
MULTI = {"task": "multiclass", "classes": ["none", "mild", "severe"], "threshold": None}


def _binary_data(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(np.round(0.35 * y + rng.random(n) * 0.6, 2), 0, 1)  # rounded: many ties
    return np.c_[1 - p, p], y


def test_rank_auroc_equals_sklearn_with_ties() -> None:
    probs, y = _binary_data()
    assert auroc(y == 1, probs[:, 1]) == pytest.approx(roc_auc_score(y, probs[:, 1]), abs=1e-12)


def test_binary_metrics_at_card_threshold() -> None:
    probs, y = _binary_data()
    m = cohort_metrics(probs, y, BINARY, n_boot=300)
    assert m["auroc"]["value"] == pytest.approx(roc_auc_score(y, probs[:, 1]), abs=1e-4)
    lo, hi = m["auroc"]["ci95"]
    assert lo < m["auroc"]["value"] < hi and hi - lo < 0.15
    decided = (probs[:, 1] >= 0.3).astype(int)  # the card's threshold, not 0.5
    assert m["confusion"]["matrix"] == confusion_matrix(y, decided).tolist()
    prec, rec, f1, _ = precision_recall_fscore_support(y, decided)
    assert m["per_class"]["malignant"]["recall"] == pytest.approx(rec[1], abs=1e-4)
    assert m["per_class"]["benign"]["precision"] == pytest.approx(prec[0], abs=1e-4)
    assert m["macro"]["f1"] == pytest.approx(f1.mean(), abs=1e-4)
    assert m["per_class"]["malignant"]["specificity"] == pytest.approx(rec[0], abs=1e-4)
    assert m["brier"] == pytest.approx(np.mean((probs[:, 1] - y) ** 2), abs=1e-4)
    assert "0.3" in m["decision"]
    cal = m["per_class"]["malignant"]["calibration"]
    assert len(cal["predicted"]) == len(cal["observed"]) >= 5


def test_multiclass_macro_and_argmax() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    probs = rng.dirichlet([1, 1, 1], 300)
    probs[np.arange(300), y] += 0.4
    probs /= probs.sum(axis=1, keepdims=True)
    m = cohort_metrics(probs, y, MULTI, n_boot=200)
    assert m["auroc"]["value"] == pytest.approx(
        roc_auc_score(y, probs, multi_class="ovr", average="macro"), abs=1e-4)
    assert m["auroc"]["ci95"][0] < m["auroc"]["value"] < m["auroc"]["ci95"][1]
    assert m["confusion"]["matrix"] == confusion_matrix(y, probs.argmax(axis=1)).tolist()
    prec, rec, f1, _ = precision_recall_fscore_support(y, probs.argmax(axis=1))
    assert [m["per_class"][c]["recall"] for c in MULTI["classes"]] == pytest.approx(rec, abs=1e-4)
    assert m["macro"]["precision"] == pytest.approx(prec.mean(), abs=1e-4)
    for k, c in enumerate(MULTI["classes"]):
        assert m["per_class"][c]["auroc"]["value"] == pytest.approx(
            roc_auc_score(y == k, probs[:, k]), abs=1e-4)
    assert m["decision"].startswith("most probable class")


def test_label_spellings() -> None:
    got = label_indices(pd.Series(["Malignant", "benign ", "1", "0", "1.0", "yes", "??", None]), BINARY)
    assert got.tolist() == [1, 0, 1, 0, 1, 1, -1, -1]
    assert label_indices(["severe", "0", "2", "MILD", "7"], MULTI).tolist() == [2, 0, 2, 1, -1]


def test_results_metrics_with_subgroups_and_unusable_rows() -> None:
    probs, y = _binary_data(300, seed=2)
    results = pd.DataFrame({"P(benign)": probs[:, 0], "P(malignant)": probs[:, 1],
                            "outcome": np.where(y == 1, "malignant", "benign"),
                            "sex": np.where(np.arange(300) % 3 == 0, "F", "M")})
    results.loc[0, "P(benign)"] = results.loc[0, "P(malignant)"] = np.nan  # not scored
    results.loc[1, "outcome"] = "unknown"
    m = metrics_from_results(results, BINARY, "outcome", "sex", n_boot=200)
    assert (m["labelled"], m["unlabelled"], m["unscored"]) == (298, 1, 1)
    assert set(m["subgroups"]) == {"F", "M"}
    females = results.iloc[2:][results.iloc[2:]["sex"] == "F"]
    yf = (females["outcome"] == "malignant").to_numpy()
    assert m["subgroups"]["F"]["auroc"]["value"] == pytest.approx(
        roc_auc_score(yf, females["P(malignant)"]), abs=1e-4)
    table = subgroup_table(m)
    assert table["subgroup"].tolist()[0] == "all" and set(table["subgroup"][1:]) == {"F", "M"}
    assert {"AUROC", "95% CI", "sensitivity", "specificity"} <= set(table.columns)
    with pytest.raises(PrecimedInputError, match="no scored row has a known label"):
        metrics_from_results(results.assign(outcome="?"), BINARY, "outcome")
