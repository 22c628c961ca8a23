"""Calibration intercept and slope of predicted probabilities (logistic recalibration).

- **Intercept** (calibration-in-the-large): the intercept ``a`` of ``logit P(y=1) = a + logit(p)``,
  the slope held at 1 (``logit(p)`` as an offset). 0 is ideal; below 0 the model over-predicts
  risk on average, above 0 it under-predicts.
- **Slope**: ``b`` in ``logit P(y=1) = a + b·logit(p)``. 1 is ideal; below 1 the predictions are
  too extreme (typical of over-fitting), above 1 too timid.

Both are fitted by statsmodels' binomial GLM (scikit-learn's LogisticRegression has no offset).
Van Calster B et al., "Calibration: the Achilles heel of predictive analytics", BMC Med 2019.

Example:
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.95, 4000)
    >>> y = (rng.uniform(size=p.size) < p).astype(int)
    >>> abs(calibration_intercept(y, p)) < 0.1, abs(calibration_slope(y, p) - 1) < 0.15
    (True, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

# The "calibrated" wording rule of issue 11: slope within these bounds and the intercept's
# 95% CI containing 0.
SLOPE_RANGE = (0.8, 1.25)
_EPS = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds, with probabilities clipped to [1e-6, 1 - 1e-6] (a network can output 0 or 1)."""
    q = np.clip(np.asarray(p, dtype="float64"), _EPS, 1 - _EPS)
    return np.asarray(np.log(q / (1 - q)))


def _glm(y: np.ndarray, exog: np.ndarray, offset: np.ndarray | None) -> Any:
    import statsmodels.api as sm

    model = sm.GLM(np.asarray(y, dtype="float64"), exog, family=sm.families.Binomial(), offset=offset)
    return model.fit()


def calibration_intercept(y: np.ndarray, p: np.ndarray) -> float:
    """Calibration-in-the-large: the recalibration intercept with the slope fixed at 1."""
    lp = logit(p)
    if np.all(y == y[0]):
        return float("nan")
    return float(_glm(y, np.ones((len(lp), 1)), lp).params[0])


def calibration_slope(y: np.ndarray, p: np.ndarray) -> float:
    """Slope of the logistic recalibration of ``y`` on ``logit(p)``."""
    lp = logit(p)
    if np.all(y == y[0]) or np.ptp(lp) == 0:
        return float("nan")
    exog = np.column_stack([np.ones(len(lp)), lp])
    return float(_glm(y, exog, None).params[1])


def is_calibrated(intercept: dict[str, Any], slope: dict[str, Any]) -> bool:
    """The wording rule: "calibrated" only when slope is in 0.8–1.25 and 0 is in the intercept's CI."""
    lo, hi = intercept["ci95"]
    return bool(SLOPE_RANGE[0] <= slope["value"] <= SLOPE_RANGE[1] and lo <= 0.0 <= hi)


def calibration_statement(intercept: dict[str, Any], slope: dict[str, Any],
                          observed: float, predicted: float, *,
                          source: str | None = "out-of-fold") -> str:
    """One plain sentence a clinician can read, consistent with :func:`is_calibrated`.

    ``source`` names where the predictions come from ("out-of-fold", "held-out"; None for
    predictions simply out of sample, as a published score's)."""
    ci = intercept["ci95"]
    s_ci = slope.get("ci95", [slope["value"], slope["value"]])
    figures = (f"{source + ' ' if source else ''}calibration slope {slope['value']:.2f} "
               f"(95% CI {s_ci[0]:.2f}–{s_ci[1]:.2f}), "
               f"intercept {intercept['value']:+.2f} (95% CI {ci[0]:+.2f} to {ci[1]:+.2f}); mean "
               f"predicted risk {predicted:.1%} against {observed:.1%} observed")
    if is_calibrated(intercept, slope):
        return f"Calibrated within this cohort: {figures}."
    why = []
    if slope["value"] < SLOPE_RANGE[0]:
        why.append("the predictions are too extreme (slope below 0.8)")
    elif slope["value"] > SLOPE_RANGE[1]:
        why.append("the predictions are too timid (slope above 1.25)")
    if not ci[0] <= 0.0 <= ci[1]:
        why.append("risk is " + ("over" if ci[1] < 0 else "under") + "-estimated on average "
                   "(the intercept's CI excludes 0)")
    return f"Not calibrated: {' and '.join(why)}; {figures}. Read the probabilities as a ranking."
