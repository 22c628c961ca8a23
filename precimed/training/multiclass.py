"""Evaluation figures of a multiclass model for its card.

Per-class one-vs-rest AUROC and their unweighted (macro) mean, each with a stratified-bootstrap
95% CI; the multiclass Brier score; the arg-max confusion matrix; calibration per class and of
the predicted class (top-label). Inputs are out-of-fold probabilities (rows, classes) in the
card's class order, as :func:`precimed.training.tabular.cross_validated_probabilities` gives.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from precimed.training.common import bootstrap_ci

N_BOOT = 2000


def metric_key(prefix: str, class_name: str) -> str:
    """Card metric name for one class, e.g. ``metric_key("auroc", "severe") == "auroc_severe"``."""
    return f"{prefix}_{re.sub(r'[^0-9A-Za-z]+', '_', class_name).strip('_').lower()}"


def ovr_auroc(y: np.ndarray, probs: np.ndarray, c: int) -> float:
    """One-vs-rest AUROC of class index ``c``: P(score of a class-c row > score of another row)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y == c, probs[:, c]))


def macro_auroc(y: np.ndarray, probs: np.ndarray) -> float:
    """Unweighted mean of the one-vs-rest AUROCs (every class counts the same, however rare)."""
    return float(np.mean([ovr_auroc(y, probs, c) for c in range(probs.shape[1])]))


def multiclass_brier(y: np.ndarray, probs: np.ndarray) -> float:
    """Brier score summed over classes, averaged over rows: 0 is perfect, 2 the worst."""
    from sklearn.metrics import brier_score_loss

    return float(brier_score_loss(y, probs, labels=list(range(probs.shape[1])),
                                  scale_by_half=False))


def calibration_bins(hit: np.ndarray, score: np.ndarray, n_bins: int) -> dict[str, list[Any]]:
    """Quantile-binned reliability curve with bin edges and counts.

    Mirrors ``sklearn.calibration.calibration_curve(strategy="quantile")`` (same edges, empty
    bins dropped) but also returns the edges and the number of rows per bin, which a reader
    needs to judge a curve drawn from a rare class.
    """
    edges = np.percentile(score, np.linspace(0, 100, n_bins + 1))
    which = np.searchsorted(edges[1:-1], score, side="right")
    predicted: list[float] = []
    observed: list[float] = []
    counts: list[int] = []
    for b in range(n_bins):
        inside = which == b
        if inside.any():
            predicted.append(round(float(score[inside].mean()), 4))
            observed.append(round(float(hit[inside].mean()), 4))
            counts.append(int(inside.sum()))
    return {"bins": [round(float(e), 4) for e in edges], "predicted": predicted,
            "observed": observed, "counts": counts}


def multiclass_metrics(y: np.ndarray, probs: np.ndarray, classes: list[str], *,
                       n_bins: int = 5, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """The card's ``metrics``, ``calibration`` and ``confusion_matrix`` for a multiclass model.

    Args:
        y: true class index per row (into ``classes``).
        probs: predicted probabilities, shape (rows, classes), rows summing to 1.
        classes: class names in column order.
        n_bins: quantile bins of each calibration curve.
        n_boot / seed: bootstrap resamples (stratified by class) for the 95% CIs.

    Returns:
        ``{"metrics": {...}, "calibration": {...}, "confusion_matrix": {...}}`` where metrics
        holds ``auroc_macro`` and ``auroc_<class>`` (value and ci95), ``brier`` (with ci95),
        ``brier_prevalence`` (the Brier of always predicting the class frequencies: a model must
        beat it), ``accuracy``, ``balanced_accuracy`` and ``recall_<class>``.

    Example:
        >>> y = np.array([0, 1, 2, 0, 1, 2])
        >>> m = multiclass_metrics(y, np.eye(3)[y], ["a", "b", "c"], n_boot=10)
        >>> m["metrics"]["auroc_macro"]["value"], m["metrics"]["brier"]["value"]
        (1.0, 0.0)
    """
    y = np.asarray(y, dtype="int64")
    probs = np.asarray(probs, dtype="float64")
    k = len(classes)
    if probs.shape != (len(y), k):
        raise ValueError(f"probabilities shaped {probs.shape}, expected ({len(y)}, {k})")
    if set(np.unique(y)) != set(range(k)):
        raise ValueError("every class must occur at least once to compute one-vs-rest AUROC")
    totals = probs.sum(axis=1, keepdims=True)
    if not np.allclose(totals, 1.0, atol=1e-3):
        raise ValueError("probability rows must sum to 1")
    probs = probs / totals  # float32 softmax rows are off by ~1e-7, which scikit-learn warns about

    def ci(fn: Any) -> list[float]:
        return [round(v, 4) for v in bootstrap_ci(fn, y, probs, n_boot=n_boot, seed=seed)]

    metrics: dict[str, Any] = {
        "auroc_macro": {"value": round(macro_auroc(y, probs), 4), "ci95": ci(macro_auroc)},
    }
    for c, name in enumerate(classes):
        metrics[metric_key("auroc", name)] = {
            "value": round(ovr_auroc(y, probs, c), 4),
            "ci95": ci(lambda yy, pp, c=c: ovr_auroc(yy, pp, c)),
        }
    metrics["brier"] = {"value": round(multiclass_brier(y, probs), 4), "ci95": ci(multiclass_brier)}
    prevalence = np.bincount(y, minlength=k) / len(y)
    metrics["brier_prevalence"] = {"value": round(float(1.0 - np.sum(prevalence ** 2)), 4)}

    pred = probs.argmax(axis=1)
    matrix = np.zeros((k, k), dtype="int64")
    np.add.at(matrix, (y, pred), 1)
    recall = np.diag(matrix) / matrix.sum(axis=1)
    metrics["accuracy"] = {"value": round(float(np.trace(matrix) / len(y)), 4)}
    metrics["balanced_accuracy"] = {"value": round(float(recall.mean()), 4)}
    for c, name in enumerate(classes):
        metrics[metric_key("recall", name)] = {"value": round(float(recall[c]), 4)}

    top = calibration_bins((pred == y).astype("float64"), probs.max(axis=1), n_bins)
    calibration: dict[str, Any] = {
        "kind": "top-label: probability of the predicted class vs how often it is right",
        **top,
        "per_class": {name: calibration_bins((y == c).astype("float64"), probs[:, c], n_bins)
                      for c, name in enumerate(classes)},
    }
    confusion = {"classes": list(classes), "rows": "true class",
                 "columns": "predicted class (most probable)", "counts": matrix.tolist()}
    return {"metrics": metrics, "calibration": calibration, "confusion_matrix": confusion}
