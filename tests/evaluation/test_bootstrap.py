"""CIs over patients and CV repeats; the fast AUROC equals scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest

from precimed.evaluation.bootstrap import auroc, resamples, summarise, summarise_difference


def test_auroc_matches_sklearn_with_ties() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(size=300) + y, 1)  # many ties
    assert auroc(y == 1, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert np.isnan(auroc(np.zeros(5, bool), s[:5]))


def test_resamples_are_stratified() -> None:
    y = np.array([0] * 30 + [1] * 10)
    res = resamples(y, 5, n_boot=50, seed=0)
    assert set(res.repeat) <= set(range(5)) and len(set(res.repeat)) > 1
    for idx in res.rows:
        assert len(idx) == 40 and (y[idx] == 1).sum() == 10


def test_training_variability_widens_the_interval() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 200)
    base = y + rng.normal(scale=1.0, size=200)
    same = np.stack([base] * 5)
    varied = np.stack([base + rng.normal(scale=1.5, size=200) for _ in range(5)])
    res = resamples(y, 5, n_boot=400, seed=0)
    stat = lambda yy, pp: auroc(yy == 1, pp)  # noqa: E731
    fixed = summarise(stat, y, same, res)
    moving = summarise(stat, y, varied, res)
    assert fixed["repeat_range"][0] == fixed["repeat_range"][1] == fixed["value"]
    assert moving["repeat_range"][1] - moving["repeat_range"][0] > 0.02
    singles = [stat(y, varied[r]) for r in range(5)]
    assert moving["value"] == pytest.approx(np.mean(singles), abs=1e-4)
    assert moving["ci95"][0] <= min(singles) and moving["ci95"][1] >= max(singles)
    diff = summarise_difference(stat, y, same, varied, res)
    assert diff["value"] == pytest.approx(fixed["value"] - moving["value"], abs=1e-3)
    assert diff["ci95"][0] > 0  # the noisier model is clearly worse
