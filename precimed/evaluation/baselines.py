"""Baselines fitted on the network's own folds and repeats (scikit-learn), and a plain verdict.

- **Penalised logistic regression**: standardised inputs, L2 penalty, C chosen inside each
  training fold by an inner 5-fold CV on log-loss (``LogisticRegressionCV``), so the baseline is
  tuned as fairly as a nested protocol allows and never sees the test fold.
- **Random forest**: 300 trees, scikit-learn defaults otherwise (sqrt features per split).

Both see the same encoded inputs as the network (categories one-hot) and the same
(repeat, fold) assignment, so paired differences are like for like.
"""

from __future__ import annotations

from typing import Any

import numpy as np

C_GRID = tuple(float(c) for c in np.logspace(-3, 1, 5))
RF_TREES = 300

LOGISTIC = "penalised logistic regression (L2, C by inner 5-fold CV)"
FOREST = f"random forest ({RF_TREES} trees)"


def make_baseline(name: str, seed: int) -> Any:
    """A fresh, unfitted scikit-learn estimator for ``name``."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == LOGISTIC:
        return make_pipeline(StandardScaler(),
                             LogisticRegressionCV(Cs=list(C_GRID), cv=5, scoring="neg_log_loss",
                                                  max_iter=1000))
    if name == FOREST:
        return RandomForestClassifier(n_estimators=RF_TREES, random_state=seed, n_jobs=1)
    raise ValueError(f"unknown baseline {name!r} (expected {LOGISTIC!r} or {FOREST!r})")


def baseline_probabilities(name: str, x: np.ndarray, y: np.ndarray, folds: np.ndarray,
                           n_classes: int, *, seed: int = 0) -> np.ndarray:
    """Out-of-fold probabilities (repeats, rows, classes) of a baseline on the given folds.

    Args:
        folds: (repeats, rows) test-fold index of each row, as the network's CV recorded it.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    out = np.zeros((folds.shape[0], len(y), n_classes))
    for r in range(folds.shape[0]):
        for f in np.unique(folds[r]):
            te = folds[r] == f
            est = make_baseline(name, seed + 100 * r + int(f))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                warnings.simplefilter("ignore", FutureWarning)  # sklearn 1.9 LogisticRegressionCV defaults
                est.fit(x[~te], y[~te])
            proba = est.predict_proba(x[te])
            out[r][np.ix_(te, est.classes_)] = proba
    return out


def verdict(model_name: str, baseline: str, metric: str, ours: dict[str, Any], theirs: dict[str, Any],
            diff: dict[str, Any], *, higher_is_better: bool = True) -> str:
    """A plain-words comparison from the paired difference's CI (not from overlapping CIs)."""
    lo, hi = diff["ci95"]
    figures = (f"{metric} {ours['value']:.3f} vs {theirs['value']:.3f}; difference "
               f"{diff['value']:+.3f}, 95% CI {lo:+.3f} to {hi:+.3f}")
    better = lo > 0 if higher_is_better else hi < 0
    worse = hi < 0 if higher_is_better else lo > 0
    if better:
        return f"The {model_name} is better than {baseline} on these data ({figures})."
    if worse:
        return f"The {model_name} is worse than {baseline} on these data ({figures})."
    return f"The {model_name} is no better than {baseline} on these data ({figures})."
