"""The multiclass card metrics on small cases whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from precimed.training.multiclass import metric_key, multiclass_metrics

CLASSES = ["none", "mild", "severe"]


def test_perfect_predictions() -> None:
    y = np.array([0, 0, 1, 1, 1, 2])
    out = multiclass_metrics(y, np.eye(3)[y], CLASSES, n_boot=50)
    m = out["metrics"]
    for key in ("auroc_macro", "auroc_none", "auroc_mild", "auroc_severe"):
        assert m[key] == {"value": 1.0, "ci95": [1.0, 1.0]}
    assert m["brier"]["value"] == 0.0
    assert m["accuracy"]["value"] == 1.0 and m["balanced_accuracy"]["value"] == 1.0
    assert out["confusion_matrix"]["counts"] == [[2, 0, 0], [0, 3, 0], [0, 0, 1]]
    # Prevalence (2, 3, 1)/6: 1 - (4 + 9 + 1)/36.
    assert m["brier_prevalence"]["value"] == pytest.approx(round(1 - 14 / 36, 4))


def test_known_auroc_brier_confusion_and_calibration() -> None:
    # Eight rows; class scores chosen so that each one-vs-rest AUROC can be counted by hand.
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    probs = np.array([
        [0.7, 0.2, 0.1],
        [0.6, 0.3, 0.1],
        [0.2, 0.5, 0.3],   # a 'none' predicted 'mild'
        [0.3, 0.6, 0.1],
        [0.5, 0.4, 0.1],   # a 'mild' predicted 'none'
        [0.1, 0.7, 0.2],
        [0.1, 0.3, 0.6],
        [0.2, 0.4, 0.4],   # a 'severe': tie 0.4/0.4, arg-max takes the first ('mild')
    ])
    out = multiclass_metrics(y, probs, CLASSES, n_boot=200, seed=1)
    m = out["metrics"]
    # AUROC = share of (positive, negative) pairs ranked right, ties counting one half.
    # none: positives 0.7, 0.6, 0.2 vs negatives 0.3, 0.5, 0.1, 0.1, 0.2:
    # 0.7 and 0.6 beat all 5; 0.2 beats two 0.1s and ties one 0.2.
    auc_none = (5 + 5 + 2.5) / 15
    # mild: positives 0.6, 0.4, 0.7 vs negatives 0.2, 0.3, 0.5, 0.3, 0.4:
    # 0.6 and 0.7 beat all 5; 0.4 beats 0.2, 0.3, 0.3 and ties 0.4.
    auc_mild = (5 + 3.5 + 5) / 15
    # severe: positives 0.6, 0.4 vs negatives 0.1, 0.1, 0.3, 0.1, 0.1, 0.2 (all lower).
    auc_severe = 1.0
    assert m["auroc_none"]["value"] == pytest.approx(round(auc_none, 4))
    assert m["auroc_mild"]["value"] == pytest.approx(round(auc_mild, 4))
    assert m["auroc_severe"]["value"] == 1.0
    macro = (auc_none + auc_mild + auc_severe) / 3
    assert m["auroc_macro"]["value"] == pytest.approx(round(macro, 4))
    for key in ("auroc_macro", "auroc_none", "auroc_mild"):
        lo, hi = m[key]["ci95"]
        assert 0 <= lo <= m[key]["value"] <= hi <= 1 and hi > lo
    brier = np.mean(np.sum((probs - np.eye(3)[y]) ** 2, axis=1))
    assert m["brier"]["value"] == pytest.approx(round(brier, 4))
    assert out["confusion_matrix"]["counts"] == [[2, 1, 0], [1, 2, 0], [0, 1, 1]]
    assert m["accuracy"]["value"] == pytest.approx(5 / 8)
    assert m["recall_severe"]["value"] == 0.5
    assert m["balanced_accuracy"]["value"] == pytest.approx(round((2 / 3 + 2 / 3 + 1 / 2) / 3, 4))
    cal = out["calibration"]
    assert set(cal["per_class"]) == set(CLASSES)
    for curve in [cal, *cal["per_class"].values()]:
        assert len(curve["predicted"]) == len(curve["observed"]) == len(curve["counts"])
        assert sum(curve["counts"]) == len(y)
    # Top-label curve: the predicted class's probability vs whether it was right, on average.
    correct = probs.argmax(1) == y
    assert np.average(cal["observed"], weights=cal["counts"]) == pytest.approx(correct.mean())
    assert np.average(cal["predicted"], weights=cal["counts"]) == pytest.approx(
        probs.max(1).mean(), abs=1e-4)


def test_card_fields_validate_against_the_schema() -> None:
    import jsonschema

    from precimed.cards import card_schema

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    probs = rng.dirichlet(np.ones(3), size=len(y))
    evaluation = {"method": "synthetic", **multiclass_metrics(y, probs, CLASSES, n_boot=20)}
    schema = card_schema()
    sub = {**schema["properties"]["evaluation"], "$defs": schema["$defs"]}
    jsonschema.validate(evaluation, sub)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="every class"):
        multiclass_metrics(np.array([0, 1, 0]), np.eye(3)[[0, 1, 0]], CLASSES)
    with pytest.raises(ValueError, match="sum to 1"):
        multiclass_metrics(np.array([0, 1, 2]), np.eye(3)[[0, 1, 2]] * 0.5, CLASSES)
    with pytest.raises(ValueError, match="shaped"):
        multiclass_metrics(np.array([0, 1, 2]), np.eye(2)[[0, 1, 1]], CLASSES)


def test_metric_key() -> None:
    assert metric_key("auroc", "no metastasis") == "auroc_no_metastasis"
    assert metric_key("recall", "Severe") == "recall_severe"
