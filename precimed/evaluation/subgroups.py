"""Subgroup figures (AUROC, calibration-in-the-large) per level of each patient factor.

The rule for a **weaker subgroup** (stated on every card, see :data:`WEAKER_RULE`): the
subgroup's AUROC is at least 0.10 below the whole cohort's, or the upper end of its 95% CI lies
below the whole cohort's AUROC. Subgroups with fewer than :data:`MIN_PER_CLASS` rows of either
class get counts only: an AUROC from a handful of events is noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from precimed.evaluation.bootstrap import Resamples, resamples, summarise
from precimed.evaluation.calibration import calibration_intercept

MIN_PER_CLASS = 5
WEAKER_GAP = 0.10
WEAKER_RULE = ("A subgroup is called weaker when its AUROC is at least 0.10 below the whole "
               "cohort's, or when the upper end of its 95% CI is below the whole cohort's AUROC. "
               f"Subgroups with fewer than {MIN_PER_CLASS} rows of either class get counts only.")


def is_weaker(sub_auroc: dict[str, Any] | None, overall: float) -> bool:
    """The weaker-subgroup rule on a subgroup's AUROC ``{"value", "ci95"}``."""
    if not sub_auroc:
        return False
    return bool(sub_auroc["value"] <= overall - WEAKER_GAP or sub_auroc["ci95"][1] < overall)


def subgroup_figures(factor: str, level: str, mask: np.ndarray, y: np.ndarray, probs: np.ndarray,
                     auroc_stat: Any, overall_auroc: float, *, n_boot: int, seed: int,
                     positive: np.ndarray | None = None) -> dict[str, Any]:
    """One subgroup's card entry.

    Args:
        mask: rows in the subgroup.
        y: labels (class index) of all rows; probs: (repeats, rows, classes).
        auroc_stat: ``stat(y, p)`` on class-index labels and (rows, classes) probabilities.
        positive: for binary models, the 0/1 positive label and ``probs`` taken as P(positive)
            for calibration-in-the-large.
    """
    ys, ps = y[mask], probs[:, mask]
    counts = np.bincount(ys, minlength=probs.shape[2])
    entry: dict[str, Any] = {"factor": factor, "level": level, "n": int(mask.sum()),
                             "class_counts": [int(c) for c in counts]}
    if counts.min() < MIN_PER_CLASS:
        entry.update({"auroc": None, "calibration_in_the_large": None, "weaker": False,
                      "note": f"too few rows of one class (fewer than {MIN_PER_CLASS}) to estimate"})
        return entry
    res: Resamples = resamples(ys, probs.shape[0], n_boot=n_boot, seed=seed)
    entry["auroc"] = summarise(auroc_stat, ys, ps, res)
    if positive is not None:
        pos = positive[mask]
        p1 = ps[:, :, 1]
        entry["calibration_in_the_large"] = {
            "intercept": summarise(calibration_intercept, pos, p1, res),
            "observed": round(float(pos.mean()), 4),
            "predicted": round(float(p1.mean()), 4),
        }
    else:
        entry["calibration_in_the_large"] = None
    entry["weaker"] = is_weaker(entry["auroc"], overall_auroc)
    return entry


def evaluate_subgroups(factors: dict[str, dict[str, Any]], y: np.ndarray, probs: np.ndarray,
                       auroc_stat: Any, overall_auroc: float, *, n_boot: int, seed: int = 0,
                       positive: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Every level of every factor (``factors[name]["values"]``: the level of each row)."""
    out: list[dict[str, Any]] = []
    for k, (name, spec) in enumerate(factors.items()):
        values = np.asarray(spec["values"], dtype=object)
        for j, level in enumerate(spec.get("levels") or sorted(set(values))):
            mask = values == level
            if mask.any():
                out.append(subgroup_figures(name, str(level), mask, y, probs, auroc_stat,
                                            overall_auroc, n_boot=n_boot, seed=seed + 10 * k + j,
                                            positive=positive))
    return out
