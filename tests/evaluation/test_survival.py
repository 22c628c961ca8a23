"""Survival statistics (precimed/evaluation/survival.py) against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from precimed.evaluation import survival as s


def test_km_matches_the_product_limit_by_hand() -> None:
    # 5 patients: events at 100 and 300 days, censored at 200, 2500 and 4000.
    days = [100, 200, 300, 2500, 4000]
    events = [1, 0, 1, 0, 0]
    five, ten = s.km_at(days, events, [s.FIVE_YEARS_DAYS, s.TEN_YEARS_DAYS])
    expected = (4 / 5) * (2 / 3)  # S = Π (1 - d/n): 4/5 after day 100, × 2/3 after day 300
    assert five["value"] == pytest.approx(expected, abs=1e-4)
    assert ten["value"] == pytest.approx(expected, abs=1e-4)
    lo, hi = five["ci95"]
    assert 0 <= lo < expected < hi <= 1
    summary = s.km_summary(days, events, name="all", curve=True)
    assert summary["n"] == 5 and summary["events"] == 2
    assert summary["at_risk_5y"] == 2 and summary["at_risk_10y"] == 1
    curve = summary["curve"]
    assert curve["time"][0] == 0 and curve["survival"][0] == 1
    assert curve["survival"][-1] == pytest.approx(expected, abs=1e-4)
    assert curve["time"][-1] == pytest.approx(4000 / 365.25, abs=1e-3)


def test_log_log_interval_matches_the_greenwood_formula() -> None:
    days = np.arange(1, 21) * 150.0
    events = np.tile([1, 0], 10)
    [fig] = s.km_at(days, events, [1000.0])
    # by hand: events at 150, 450, 750 among 20, 18, 16 at risk
    surv, var = 1.0, 0.0
    for n in (20, 18, 16):
        surv *= 1 - 1 / n
        var += 1 / (n * (n - 1))
    se = math.sqrt(var) / abs(math.log(surv))
    lo, hi = surv ** math.exp(1.959964 * se), surv ** math.exp(-1.959964 * se)
    assert fig["value"] == pytest.approx(surv, abs=1e-4)
    assert fig["ci95"] == pytest.approx([lo, hi], abs=1e-3)


def test_hazard_ratio_finds_a_known_effect_and_reports_adjustment() -> None:
    rng = np.random.default_rng(0)
    n = 600
    high = rng.random(n) < 0.5
    age = rng.normal(50, 10, n)
    hazard = np.where(high, 3.0, 1.0) / 3000.0
    t = rng.exponential(1 / hazard)
    censor = rng.uniform(500, 6000, n)
    days, events = np.minimum(t, censor), t <= censor
    hr = s.hazard_ratio(days, events, high, horizon=None)
    assert hr["ci95"][0] < 3.0 < hr["ci95"][1]
    assert 2.2 < hr["value"] < 4.0 and hr["adjusted_for"] == []
    adj = s.hazard_ratio(days, events, high, covariates=pd.DataFrame({"age": age}), horizon=None)
    assert adj["adjusted_for"] == ["age"] and abs(math.log(adj["value"] / hr["value"])) < 0.1
    five = s.hazard_ratio(days, events, high)
    assert five["horizon_days"] == s.FIVE_YEARS_DAYS
    assert five["events"] == int((events & (days <= s.FIVE_YEARS_DAYS)).sum())


def test_five_year_label_excludes_early_censoring_and_wilson_ci() -> None:
    days = np.array([100, 1000, 1900, 3000, 500, 2000])
    events = np.array([1, 0, 1, 0, 1, 0], dtype=bool)
    label, known = s.label_at(days, events)
    assert known.tolist() == [True, False, True, True, True, True]  # censored at 1000 d: unknown
    assert label.tolist() == [1, 0, 0, 0, 1, 0]  # the event at 1900 d is after 5 years
    high = np.array([True, True, True, False, False, True])
    out = s.sensitivity_specificity(days, events, high)
    assert out["n"] == 5 and out["excluded_censored_before_horizon"] == 1
    assert out["sensitivity"]["value"] == 0.5 and out["specificity"]["value"] == pytest.approx(1 / 3, abs=1e-3)
    # Wilson 95% interval of 34/35, by the closed formula
    z, k, m = 1.959964, 34, 35
    p = k / m
    centre = (p + z * z / (2 * m)) / (1 + z * z / m)
    half = z * math.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / (1 + z * z / m)
    assert s.wilson_ci(k, m) == pytest.approx((centre - half, centre + half), abs=1e-6)


def test_summary_shape_follows_the_conventions() -> None:
    rng = np.random.default_rng(1)
    days = rng.uniform(100, 5000, 80)
    events = rng.random(80) < 0.4
    high = rng.random(80) < 0.5
    out = s.survival_summary(days, events, high, groups=("good", "poor"), curves=False,
                             covariates=pd.DataFrame({"x": rng.normal(size=80)}), paper={"note": "n/a"})
    assert [g["group"] for g in out["groups"]] == ["good", "poor"]
    assert sum(g["n"] for g in out["groups"]) == 80
    assert set(out["groups"][0]["dmfs_5y"]) == {"value", "ci95"}
    assert set(out["hazard_ratio"]) == {"unadjusted", "adjusted"}
    assert out["hazard_ratio"]["adjusted"]["adjusted_for"] == ["x"]
    assert out["paper"] == {"note": "n/a"} and "curve" not in out["groups"][0]
    with pytest.raises(ValueError, match="same length"):
        s.km_at([1, 2], [1], [1.0])
