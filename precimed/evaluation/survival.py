"""Survival statistics for risk groups: Kaplan–Meier, Cox hazard ratios, sensitivity/specificity.

Shapes follow ``shared/CONVENTIONS.md`` (``evaluation.survival`` of a card): every figure is
``{"value": v, "ci95": [lo, hi]}``. Kaplan–Meier comes from scikit-survival, the Cox model from
statsmodels (``PHReg``), the Wilson interval from SciPy. lifelines was the first choice, but its
releases (0.30.x) require pandas < 3, which PreciMed's stack (pandas 3.1) excludes. The outputs
are plain JSON so that cards store them and pages draw the curves without any of these
(scikit-survival and statsmodels are in the ``train`` extra only).

Conventions used throughout:

* times are in days, 5 years = 1826.25 days (5 × 365.25), 10 years = 3652.5 days;
* Kaplan–Meier 95% CIs use Greenwood's variance on the log(-log) scale (scikit-survival's
  ``conf_type="log-log"``, R's ``survfit(conf.type = "log-log")``), always inside [0, 1];
* a hazard ratio "at 5 years" censors every patient at 5 years (events after 5 years count as
  censored at 1826.25 days), as in Desmedt et al. 2007;
* the 5-year label excludes patients censored before 5 years without an event (their 5-year
  status is unknown); events after 5 years count as no event.

Example:
    >>> from precimed.evaluation.survival import km_summary
    >>> km_summary([100, 2000, 3000, 4000], [1, 0, 1, 0], name="all")["n"]
    4
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

DAYS_PER_YEAR = 365.25
FIVE_YEARS_DAYS = 5 * DAYS_PER_YEAR
TEN_YEARS_DAYS = 10 * DAYS_PER_YEAR
KM_CI = "Greenwood variance, log(-log) transformed (scikit-survival kaplan_meier_estimator)"
PROPORTION_CI = "Wilson score interval"
Z95 = 1.959963984540054

Figure = dict[str, Any]


def _figure(value: float, lo: float, hi: float, digits: int = 4) -> Figure:
    return {"value": round(float(value), digits), "ci95": [round(float(lo), digits), round(float(hi), digits)]}


def _arrays(durations: Any, events: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(durations, dtype="float64")
    e = np.asarray(events, dtype="float64")
    if t.shape != e.shape or t.ndim != 1:
        raise ValueError(f"durations {t.shape} and events {e.shape} must be 1-D of the same length")
    if len(t) == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("durations must be finite, non-negative days, at least one")
    return t, e.astype(bool)


def _km(t: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(times, survival, lower, upper), starting at time 0 with S = 1."""
    from sksurv.nonparametric import kaplan_meier_estimator

    times, surv, ci = kaplan_meier_estimator(e, t, conf_level=0.95, conf_type="log-log")
    lo, hi = np.nan_to_num(ci[0], nan=1.0), np.nan_to_num(ci[1], nan=1.0)  # NaN where S = 1
    if len(times) == 0 or times[0] > 0:
        times, surv = np.r_[0.0, times], np.r_[1.0, surv]
        lo, hi = np.r_[1.0, lo], np.r_[1.0, hi]
    return times, surv, lo, hi


def km_at(durations: Any, events: Any, times: Sequence[float]) -> list[Figure]:
    """Kaplan–Meier survival with 95% CI at each of ``times`` (days).

    Beyond the last follow-up time the last estimate is carried forward; :func:`km_summary`
    reports how many were still at risk so a reader can judge it.
    """
    t, e = _arrays(durations, events)
    grid, surv, lo, hi = _km(t, e)
    out: list[Figure] = []
    for when in times:
        k = max(int(np.searchsorted(grid, when, side="right")) - 1, 0)
        out.append(_figure(surv[k], lo[k], hi[k]))
    return out


def km_curve(durations: Any, events: Any, *, unit_days: float = DAYS_PER_YEAR,
             digits: int = 4) -> dict[str, list[float]]:
    """The Kaplan–Meier step function and its 95% band, for a plot.

    Returns ``{"time": [...], "survival": [...], "lower": [...], "upper": [...], "at_risk": [...]}``
    in ``unit_days`` (years by default), one point at time 0 and one per distinct event or
    censoring time: draw it as steps (plotly ``line_shape="hv"``).
    """
    t, e = _arrays(durations, events)
    grid, surv, lo, hi = _km(t, e)
    return {
        "time": [round(float(x) / unit_days, digits) for x in grid],
        "survival": [round(float(v), digits) for v in surv],
        "lower": [round(float(v), digits) for v in lo],
        "upper": [round(float(v), digits) for v in hi],
        "at_risk": [int((t >= x).sum()) for x in grid],
    }


def km_summary(durations: Any, events: Any, *, name: str, curve: bool = False) -> dict[str, Any]:
    """One group's Kaplan–Meier figures in the card's shape.

    Returns:
        ``{"group", "n", "events", "dmfs_5y": {value, ci95}, "dmfs_10y": {...},
        "at_risk_5y", "at_risk_10y"}`` plus ``"curve"`` (see :func:`km_curve`) if asked.
    """
    t, e = _arrays(durations, events)
    five, ten = km_at(t, e, [FIVE_YEARS_DAYS, TEN_YEARS_DAYS])
    out: dict[str, Any] = {
        "group": name, "n": int(len(t)), "events": int(e.sum()),
        "dmfs_5y": five, "dmfs_10y": ten,
        "at_risk_5y": int((t >= FIVE_YEARS_DAYS).sum()), "at_risk_10y": int((t >= TEN_YEARS_DAYS).sum()),
    }
    if curve:
        out["curve"] = km_curve(t, e)
    return out


def censor_at(durations: Any, events: Any, horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """Administrative censoring at ``horizon`` days: later events become censored at the horizon."""
    t, e = _arrays(durations, events)
    return np.minimum(t, horizon), e & (t <= horizon)


def hazard_ratio(durations: Any, events: Any, high: Any, *,
                 covariates: pd.DataFrame | None = None, horizon: float | None = FIVE_YEARS_DAYS,
                 ties: str = "efron") -> Figure:
    """Cox proportional-hazards ratio of the high-risk group against the low-risk group.

    Args:
        durations, events: follow-up in days and whether the event was observed.
        high: True for the high-risk group.
        covariates: adjustment variables (numbers, or categories that are one-hot encoded with
            the first level dropped); ``None`` for the unadjusted ratio.
        horizon: censor everyone at this many days first (default 5 years); ``None`` for all
            follow-up.
        ties: "efron" (default, as lifelines and R's coxph) or "breslow".

    Returns:
        ``{"value", "ci95", "p", "adjusted_for", "horizon_days", "n", "events"}``; the CI is the
        Wald interval of the log hazard ratio (statsmodels ``PHReg``).
    """
    from statsmodels.duration.hazard_regression import PHReg

    t, e = _arrays(durations, events)
    if horizon is not None:
        t, e = censor_at(t, e, horizon)
    g = np.asarray(high, dtype=bool)
    if g.shape != t.shape:
        raise ValueError("high must have one entry per patient")
    design = pd.DataFrame({"high_risk": g.astype("float64")})
    adjusted_for: list[str] = []
    if covariates is not None:
        cov = covariates.reset_index(drop=True)
        adjusted_for = [str(c) for c in cov.columns]
        dummies = pd.get_dummies(cov, drop_first=True, dtype="float64")
        design = pd.concat([design, dummies.astype("float64")], axis=1)
    fit = PHReg(t, design.to_numpy(dtype="float64"), status=e.astype("float64"), ties=ties).fit()
    beta, se = float(fit.params[0]), float(fit.bse[0])
    fig = _figure(math.exp(beta), math.exp(beta - Z95 * se), math.exp(beta + Z95 * se), 3)
    fig.update({"p": float(f"{float(fit.pvalues[0]):.3g}"), "adjusted_for": adjusted_for,
                "horizon_days": horizon, "n": int(len(t)), "events": int(e.sum())})
    return fig


def wilson_ci(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (SciPy's ``binomtest``)."""
    from scipy.stats import binomtest

    if n <= 0:
        raise ValueError("n must be positive")
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def label_at(durations: Any, events: Any, horizon: float = FIVE_YEARS_DAYS) -> tuple[np.ndarray, np.ndarray]:
    """The binary label at ``horizon``: (label, known). ``known`` is False for patients censored
    before the horizon without an event, who are excluded; events after it count as 0."""
    t, e = _arrays(durations, events)
    positive = e & (t <= horizon)
    known = positive | (t > horizon)
    return positive.astype(int), known


def sensitivity_specificity(durations: Any, events: Any, high: Any,
                            horizon: float = FIVE_YEARS_DAYS) -> dict[str, Any]:
    """Sensitivity and specificity of "high" for the event within ``horizon`` days, with Wilson
    95% CIs, on the patients whose status at the horizon is known (see :func:`label_at`)."""
    y, known = label_at(durations, events, horizon)
    g = np.asarray(high, dtype=bool)[known]
    y = y[known]
    tp, fn = int((g & (y == 1)).sum()), int((~g & (y == 1)).sum())
    tn, fp = int((~g & (y == 0)).sum()), int((g & (y == 0)).sum())
    sens = _figure(tp / max(tp + fn, 1), *wilson_ci(tp, max(tp + fn, 1)), 3)
    spec = _figure(tn / max(tn + fp, 1), *wilson_ci(tn, max(tn + fp, 1)), 3)
    return {"sensitivity": sens, "specificity": spec, "n": int(known.sum()),
            "excluded_censored_before_horizon": int((~known).sum()),
            "counts": {"tp": tp, "fn": fn, "tn": tn, "fp": fp}, "ci_method": PROPORTION_CI,
            "horizon_days": horizon}


def survival_summary(durations: Any, events: Any, high: Any, *,
                     groups: tuple[str, str] = ("low risk", "high risk"),
                     covariates: pd.DataFrame | None = None, curves: bool = True,
                     paper: Mapping[str, Any] | None = None, source: str = "") -> dict[str, Any]:
    """Everything ``evaluation.survival`` holds for a two-group split.

    Args:
        durations, events: follow-up (days) and event indicator, one per patient.
        high: True where the model (or score) puts the patient in the high-risk group.
        groups: names of the (low, high) groups as the card shows them.
        covariates: adjustment set for the adjusted hazard ratio (e.g. age, size, grade, ER).
        curves: store the Kaplan–Meier curve points for a plot.
        paper: the published figures to print beside these (stored unchanged).
        source: what the predictions are (e.g. "out-of-fold predictions, 5x5 CV").

    Returns:
        ``{"groups": [...], "hazard_ratio": {"unadjusted", "adjusted"}, "sensitivity",
        "specificity", "label", "method", "paper"}``.
    """
    t, e = _arrays(durations, events)
    g = np.asarray(high, dtype=bool)
    out: dict[str, Any] = {
        "endpoint": "distant-metastasis-free survival (DMFS)",
        "source": source,
        "groups": [km_summary(t[~g], e[~g], name=groups[0], curve=curves),
                   km_summary(t[g], e[g], name=groups[1], curve=curves)],
        "hazard_ratio": {"unadjusted": hazard_ratio(t, e, g)},
        "method": (f"Kaplan–Meier, 95% CI: {KM_CI}; Cox proportional hazards (statsmodels PHReg, "
                   "Efron ties), high vs low group, follow-up censored at 5 years, Wald 95% CI; "
                   f"sensitivity/specificity with the {PROPORTION_CI}"),
    }
    if covariates is not None:
        out["hazard_ratio"]["adjusted"] = hazard_ratio(t, e, g, covariates=covariates)
    ss = sensitivity_specificity(t, e, g)
    out["sensitivity"] = ss["sensitivity"]
    out["specificity"] = ss["specificity"]
    out["label"] = {k: ss[k] for k in ("n", "excluded_censored_before_horizon", "counts", "horizon_days")}
    out["label"]["definition"] = ("event within 5 years (1826.25 days) = 1; event-free beyond 5 years "
                                  "= 0; censored before 5 years without an event: excluded")
    if paper is not None:
        out["paper"] = dict(paper)
    return out
