"""Confidence intervals that include training variability: a bootstrap over patients AND CV repeats.

Each of the R repeats of a repeated K-fold cross-validation gives every row one out-of-fold
prediction, from models trained on a different split. A figure computed on the predictions
averaged over the repeats is the figure of a 5-model average, not of the one model that ships,
and a bootstrap over rows of those averages treats the training as fixed. Here instead:

- **value**: the mean over repeats of the figure of each single repeat;
- **ci95**: percentile interval of B resamples, each drawing one repeat at random and then the
  rows with replacement (stratified by class), so the interval holds both the sampling
  variability of the patients and the variability of training on other splits;
- **repeat_range**: the lowest and highest single-repeat figure, printed beside it.

scikit-learn's bootstrap helpers resample rows only; the two-level scheme is a few lines here.
Paired differences (network minus baseline) use the same resamples for both models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Stat = Callable[[np.ndarray, np.ndarray], float]
N_BOOT = 2000


@dataclass(frozen=True)
class Resamples:
    """B bootstrap draws: which repeat, and which rows (indices into the evaluated rows)."""

    repeat: np.ndarray
    rows: tuple[np.ndarray, ...]


def resamples(y: np.ndarray, n_repeats: int, *, n_boot: int = N_BOOT, seed: int = 0) -> Resamples:
    """Draw ``n_boot`` (repeat, rows) pairs; rows are resampled within each class of ``y``."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)]
    rep = rng.integers(0, n_repeats, size=n_boot)
    rows = tuple(np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
                 for _ in range(n_boot))
    return Resamples(repeat=rep, rows=rows)


def auroc(positive: np.ndarray, score: np.ndarray) -> float:
    """AUROC as the Mann–Whitney statistic from mid-ranks (ties count one half).

    Equal to ``sklearn.metrics.roc_auc_score`` (a test checks it) but about 100 times faster:
    its input validation dominates on small arrays, and the bootstrap calls it ~10^4 times.
    """
    from scipy.stats import rankdata

    pos = np.asarray(positive, dtype=bool)
    n1 = int(pos.sum())
    n0 = len(pos) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def ovr_auroc(y: np.ndarray, probs: np.ndarray, c: int) -> float:
    """One-vs-rest AUROC of class index ``c`` (probabilities shaped (rows, classes))."""
    return auroc(y == c, probs[:, c])


def macro_auroc(y: np.ndarray, probs: np.ndarray) -> float:
    """Unweighted mean of the one-vs-rest AUROCs."""
    return float(np.mean([ovr_auroc(y, probs, c) for c in range(probs.shape[1])]))


def _r(v: float) -> float:
    return round(float(v), 4)


def _finite(values: list[float]) -> np.ndarray:
    arr = np.asarray(values, dtype="float64")
    return arr[np.isfinite(arr)]


def summarise(stat: Stat, y: np.ndarray, probs: np.ndarray, res: Resamples) -> dict[str, Any]:
    """``{"value", "ci95", "repeat_range"}`` of ``stat(y, p)`` over repeats ``probs[r]``.

    Args:
        stat: figure of one set of predictions, ``stat(y, p) -> float``.
        y: labels of the evaluated rows.
        probs: (repeats, rows[, classes]) out-of-fold predictions.
        res: the resamples (from :func:`resamples` on the same rows).
    """
    per_repeat = _finite([stat(y, probs[r]) for r in range(probs.shape[0])])
    boot = _finite([stat(y[idx], probs[r][idx]) for r, idx in zip(res.repeat, res.rows, strict=True)])
    if len(per_repeat) == 0 or len(boot) == 0:
        raise ValueError("the figure could not be computed on these rows")
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"value": _r(per_repeat.mean()), "ci95": [_r(lo), _r(hi)],
            "repeat_range": [_r(per_repeat.min()), _r(per_repeat.max())]}


def summarise_difference(stat: Stat, y: np.ndarray, a: np.ndarray, b: np.ndarray,
                         res: Resamples) -> dict[str, Any]:
    """Paired ``stat(a) - stat(b)`` with the same repeats and rows for both models."""
    per_repeat = [stat(y, a[r]) - stat(y, b[r]) for r in range(a.shape[0])]
    boot = _finite([stat(y[idx], a[r][idx]) - stat(y[idx], b[r][idx])
                    for r, idx in zip(res.repeat, res.rows, strict=True)])
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"value": _r(float(np.mean(per_repeat))), "ci95": [_r(lo), _r(hi)]}


METHOD = ("value: mean over the CV repeats of each single repeat's out-of-fold figure; 95% CI: "
          "percentile bootstrap over patients and CV repeats ({n} resamples, each one repeat drawn "
          "at random, then rows drawn with replacement within each class), so the interval "
          "includes the variability of training on other splits; repeat_range: lowest and "
          "highest single repeat")
