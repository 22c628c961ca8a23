"""Calibration intercept and slope: known answers on simulated data, and scikit-learn agreement."""

from __future__ import annotations

import numpy as np
import pytest

from precimed.evaluation.calibration import (
    calibration_intercept,
    calibration_slope,
    calibration_statement,
    is_calibrated,
    logit,
)


def _data(n: int = 5000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lp = rng.normal(-1.0, 1.2, n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-lp))).astype(int)
    return y, 1 / (1 + np.exp(-lp))


def test_true_probabilities_give_zero_and_one() -> None:
    y, p = _data()
    assert calibration_intercept(y, p) == pytest.approx(0.0, abs=0.08)
    assert calibration_slope(y, p) == pytest.approx(1.0, abs=0.08)


def test_overconfident_and_shifted_predictions() -> None:
    y, p = _data()
    lp = logit(p)
    too_extreme = 1 / (1 + np.exp(-2 * lp))  # logit doubled: slope 1/2
    assert calibration_slope(y, too_extreme) == pytest.approx(0.5, abs=0.05)
    too_high = 1 / (1 + np.exp(-(lp + 1.0)))  # risk over-estimated: intercept -1
    assert calibration_intercept(y, too_high) == pytest.approx(-1.0, abs=0.1)


def test_slope_equals_unpenalised_sklearn_fit() -> None:
    from sklearn.linear_model import LogisticRegression

    y, p = _data(800, seed=3)
    p = np.clip(p * 1.3, 0, 1)
    fit = LogisticRegression(C=np.inf, max_iter=1000).fit(logit(p)[:, None], y)
    assert calibration_slope(y, p) == pytest.approx(float(fit.coef_[0, 0]), rel=2e-3)


def test_wording_rule() -> None:
    good = ({"value": 0.05, "ci95": [-0.2, 0.3]}, {"value": 0.95, "ci95": [0.7, 1.2]})
    assert is_calibrated(*good)
    assert calibration_statement(*good, observed=0.2, predicted=0.19).startswith("Calibrated")
    shallow = ({"value": 0.05, "ci95": [-0.2, 0.3]}, {"value": 0.49, "ci95": [0.3, 0.7]})
    biased = ({"value": -0.4, "ci95": [-0.7, -0.1]}, {"value": 1.0, "ci95": [0.8, 1.2]})
    for block in (shallow, biased):
        assert not is_calibrated(*block)
        text = calibration_statement(*block, observed=0.185, predicted=0.149)
        assert text.startswith("Not calibrated") and "18.5%" in text and "14.9%" in text
    assert "too extreme" in calibration_statement(*shallow, observed=0.2, predicted=0.2)
    assert "over-estimated" in calibration_statement(*biased, observed=0.2, predicted=0.2)
