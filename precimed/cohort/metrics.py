"""How a model does on a labelled cohort: AUROC with bootstrap CI, calibration, confusion matrix.

Binary models are judged at the card's threshold on the positive class, multiclass models at
the arg-max (the same decision :func:`precimed.predict.decide` makes); both report per-class
precision, recall, specificity and F1 with their macro average.

The percentile bootstrap resamples rows within each true class (as the cards' CIs were made).
AUROC is computed from ranks with resampling *weights* over the once-sorted scores, so each
resample costs O(n) rather than a fresh sort: scikit-learn's ``roc_auc_score`` has no weighted
fast path, and 1000 calls on 10^5 rows take minutes. Tests check it equals ``roc_auc_score``.

Example:
    >>> probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    >>> card = {"task": "binary", "classes": ["no", "yes"], "positive_class": "yes",
    ...         "threshold": 0.5}
    >>> m = cohort_metrics(probs, np.array([0, 1, 0, 1]), card, n_boot=50)
    >>> m["auroc"]["value"], m["confusion"]["matrix"]
    (1.0, [[2, 0], [0, 2]])
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from precimed.errors import PrecimedInputError

DEFAULT_BOOT = 1000
MAX_SUBGROUPS = 30
_TRUE = {"1", "1.0", "true", "yes", "y"}
_FALSE = {"0", "0.0", "false", "no", "n"}


def label_indices(values: pd.Series | np.ndarray | list[Any], card: dict[str, Any]) -> np.ndarray:
    """Class index per label, -1 where the label is missing or unknown.

    Accepts class names (any case); for binary models also 1/0, true/false, yes/no (1 = the
    positive class); for multiclass models also 0-based class indices in card order.
    """
    classes = list(card["classes"])
    lookup: dict[str, int] = {}
    if card["task"] == "binary":
        pos = classes.index(card["positive_class"])
        lookup.update({t: pos for t in _TRUE} | {f: 1 - pos for f in _FALSE})
    else:
        lookup.update({str(k): k for k in range(len(classes))})
        lookup.update({f"{k}.0": k for k in range(len(classes))})
    lookup.update({c.strip().lower(): k for k, c in enumerate(classes)})  # names win over aliases
    text = pd.Series(values, dtype="object").astype("string").fillna("").str.strip().str.lower()
    return text.map(lookup).fillna(-1).to_numpy(dtype=np.int64)


class _RankAuc:
    """One-vs-rest AUROC of one score column under resampling weights (ties count one half)."""

    def __init__(self, positive: np.ndarray, score: np.ndarray) -> None:
        _, self.group = np.unique(score, return_inverse=True)
        self.n_groups = int(self.group.max()) + 1 if len(score) else 0
        self.positive = positive.astype(np.float64)

    def __call__(self, weights: np.ndarray) -> float:
        pos = np.bincount(self.group, weights * self.positive, minlength=self.n_groups)
        neg = np.bincount(self.group, weights * (1.0 - self.positive), minlength=self.n_groups)
        below = np.cumsum(neg) - neg
        denom = pos.sum() * neg.sum()
        return float(np.dot(pos, below + 0.5 * neg) / denom) if denom > 0 else float("nan")


def auroc(y_positive: np.ndarray, score: np.ndarray) -> float:
    """AUROC (NaN if only one class is present)."""
    return _RankAuc(np.asarray(y_positive), np.asarray(score))(np.ones(len(score)))


def _boot_weights(y: np.ndarray, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """``n_boot`` vectors of resampling counts, stratified by true class (one at a time: a
    (n_boot × n) matrix would not fit for large cohorts)."""
    rng = np.random.default_rng(seed)
    strata = [np.flatnonzero(y == c) for c in np.unique(y)]
    for _ in range(n_boot):
        w = np.zeros(len(y))
        for idx in strata:
            w += np.bincount(rng.choice(idx, size=len(idx)), minlength=len(y))
        yield w


def boot_count(n: int, n_boot: int) -> int:
    """Fewer resamples for very large cohorts (their CIs are narrow; cost is O(n) each)."""
    return int(min(n_boot, max(200, 20_000_000 // max(n, 1))))


def _ci(stats: list[float]) -> list[float] | None:
    finite = [s for s in stats if np.isfinite(s)]
    if len(finite) < 10:
        return None
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def _calibration(y_positive: np.ndarray, p: np.ndarray, n_bins: int) -> dict[str, list[float]]:
    from sklearn.calibration import calibration_curve

    if len(np.unique(y_positive)) < 2:
        return {"predicted": [], "observed": []}
    observed, predicted = calibration_curve(y_positive, p, n_bins=n_bins, strategy="quantile")
    return {"predicted": [round(float(v), 4) for v in predicted],
            "observed": [round(float(v), 4) for v in observed]}


def decisions(probs: np.ndarray, card: dict[str, Any]) -> np.ndarray:
    from precimed.predict import decide

    return decide(probs, card)


def cohort_metrics(probs: np.ndarray, y: np.ndarray, card: dict[str, Any], *,
                   n_boot: int = DEFAULT_BOOT, seed: int = 0,
                   n_bins: int | None = None) -> dict[str, Any]:
    """Metrics of probabilities ``probs`` (rows × classes, card order) against class indices ``y``.

    Returns a JSON-able dict: ``n``, ``class_counts``, ``auroc`` (binary: positive class;
    multiclass: macro one-vs-rest) with ``ci95``, ``brier``, ``accuracy``, ``confusion``
    (rows = true class, columns = decided class), ``per_class`` and ``macro`` (precision, recall,
    specificity, F1; per-class AUROC with CI), ``calibration`` per class, ``decision`` (in words).
    """
    from sklearn.metrics import confusion_matrix

    classes = list(card["classes"])
    k = len(classes)
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    n = len(y)
    if n == 0:
        raise PrecimedInputError("no labelled row to evaluate",
                                 expected="labels that name the model's classes")
    binary = card["task"] == "binary"
    pos = classes.index(card["positive_class"]) if binary else None
    picks = decisions(probs, card)
    cm = confusion_matrix(y, picks, labels=list(range(k)))
    B = boot_count(n, n_boot)
    ranks = [_RankAuc((y == c).astype(np.float64), probs[:, c]) for c in range(k)]
    auc_boot = np.array([[rank(w) for rank in ranks] for w in _boot_weights(y, B, seed)])
    auc_boot = auc_boot.reshape(B, k)
    bins = n_bins or int(min(10, max(2, n // 20)))
    per_class: dict[str, Any] = {}
    for c, name in enumerate(classes):
        is_c = (y == c).astype(np.float64)
        tp = int(cm[c, c])
        fn = int(cm[c].sum() - tp)
        fp = int(cm[:, c].sum() - tp)
        tn = int(n - tp - fn - fp)
        prec = tp / (tp + fp) if tp + fp else float("nan")
        rec = tp / (tp + fn) if tp + fn else float("nan")
        spec = tn / (tn + fp) if tn + fp else float("nan")
        f1 = 2 * prec * rec / (prec + rec) if prec + rec > 0 else float("nan")
        per_class[name] = {
            "n": int(is_c.sum()),
            "auroc": {"value": _r(ranks[c](np.ones(n))), "ci95": _ci(list(auc_boot[:, c]))},
            "precision": _r(prec), "recall": _r(rec), "specificity": _r(spec), "f1": _r(f1),
            "calibration": _calibration(is_c, probs[:, c], bins),
        }
    keys = ("precision", "recall", "specificity", "f1")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: a class absent
        macro: dict[str, Any] = {m: _r(float(np.nanmean([_nan(per_class[c][m]) for c in classes])))
                                 for m in keys}
        if binary:
            assert pos is not None
            head = per_class[classes[pos]]["auroc"]
            decision = f"P({classes[pos]}) ≥ {float(card['threshold']):g} (card threshold)"
            brier = float(np.mean((probs[:, pos] - (y == pos)) ** 2))
        else:
            mean_auc = float(np.nanmean([_nan(per_class[c]["auroc"]["value"]) for c in classes]))
            head = {"value": _r(mean_auc), "ci95": _ci(list(np.nanmean(auc_boot, axis=1)))}
            decision = "most probable class (arg-max)"
            brier = float(np.mean(((probs - np.eye(k)[y]) ** 2).sum(axis=1)))
    macro["auroc"] = head  # binary: both one-vs-rest AUROCs equal the positive class's
    return {
        "n": n,
        "class_counts": {c: int((y == j).sum()) for j, c in enumerate(classes)},
        "auroc": head,
        "auroc_class": classes[pos] if binary and pos is not None else "macro (one-vs-rest)",
        "brier": _r(brier),
        "accuracy": _r(float(np.trace(cm) / n)),
        "decision": decision,
        "confusion": {"classes": classes, "matrix": cm.astype(int).tolist()},
        "per_class": per_class,
        "macro": macro,
        "bootstrap": B,
    }


def _r(v: float) -> float | None:
    return None if v is None or not np.isfinite(v) else round(float(v), 4)


def _nan(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def metrics_from_results(results: pd.DataFrame, card: dict[str, Any], label: str,
                         subgroup: str | None = None, *, n_boot: int = DEFAULT_BOOT,
                         seed: int = 0) -> dict[str, Any]:
    """Overall and per-subgroup metrics of a scores table holding a label column.

    Rows that could not be scored, or whose label is missing or unknown, are left out and counted.

    Raises:
        PrecimedInputError: no row has both a score and a known label.
    """
    from precimed.cohort.score import prob_column

    classes = list(card["classes"])
    probs = results[[prob_column(c) for c in classes]].to_numpy(dtype=np.float64)
    y = label_indices(results[label], card)
    scored = np.isfinite(probs).all(axis=1)
    use = scored & (y >= 0)
    if not use.any():
        seen = ", ".join(map(str, pd.unique(results[label].astype("string").dropna())[:6]))
        raise PrecimedInputError(f"no scored row has a known label in '{label}' (values: {seen})",
                                 expected=f"the class names {classes}"
                                 + (" or 1/0" if card["task"] == "binary" else ""))
    out: dict[str, Any] = {
        "label": label, "labelled": int(use.sum()),
        "unlabelled": int((scored & (y < 0)).sum()), "unscored": int((~scored).sum()),
        "overall": cohort_metrics(probs[use], y[use], card, n_boot=n_boot, seed=seed),
    }
    if subgroup:
        groups = results[subgroup].astype("string").fillna("(missing)").to_numpy()[use]
        levels = pd.Series(groups).value_counts()
        out["subgroup"] = subgroup
        out["subgroups"] = {}
        if len(levels) > MAX_SUBGROUPS:
            out["subgroups_note"] = (f"'{subgroup}' has {len(levels)} levels; the "
                                     f"{MAX_SUBGROUPS} largest are shown")
        for level in levels.index[:MAX_SUBGROUPS]:
            sel = groups == level
            out["subgroups"][str(level)] = cohort_metrics(probs[use][sel], y[use][sel], card,
                                                          n_boot=min(n_boot, 500), seed=seed)
    return out


def subgroup_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """One row per subgroup (and 'all'): n, class counts, AUROC with CI, accuracy, macro recall."""
    rows = []
    items = [("all", metrics["overall"])] + list(metrics.get("subgroups", {}).items())
    for name, m in items:
        ci = m["auroc"].get("ci95")
        row: dict[str, Any] = {"subgroup": name, "n": m["n"]}
        row.update({f"n {c}": v for c, v in m["class_counts"].items()})
        row["AUROC"] = m["auroc"]["value"]
        row["95% CI"] = f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else "n/a"
        row["accuracy"] = m["accuracy"]
        if len(m["class_counts"]) == 2:
            pos = m["auroc_class"]
            other = next(c for c in m["class_counts"] if c != pos)
            row["sensitivity"] = m["per_class"][pos]["recall"]
            row["specificity"] = m["per_class"][other]["recall"]
        else:
            row["macro recall"] = m["macro"]["recall"]
            row["macro F1"] = m["macro"]["f1"]
        rows.append(row)
    return pd.DataFrame(rows)
