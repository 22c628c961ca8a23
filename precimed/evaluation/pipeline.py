"""A tabular card's whole ``evaluation`` from its cross-validation: the one entry point trainers call.

``evaluate_tabular(card, x, y, cv, recipe)`` returns metrics (with CIs over patients and CV
repeats), the calibration curve with intercept and slope, baselines on the same folds with a
plain-words verdict, subgroups, and (for time-to-event data) the survival block. Everything is
computed from out-of-fold predictions only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from precimed.evaluation import baselines as bl
from precimed.evaluation.bootstrap import (
    METHOD,
    N_BOOT,
    macro_auroc,
    ovr_auroc,
    resamples,
    summarise,
    summarise_difference,
)
from precimed.evaluation.calibration import (
    calibration_intercept,
    calibration_slope,
    calibration_statement,
    is_calibrated,
)
from precimed.evaluation.subgroups import WEAKER_RULE, evaluate_subgroups
from precimed.training.multiclass import calibration_bins, metric_key

CAL_BOOT = 1000  # each calibration resample is a GLM fit


def _auroc(y: np.ndarray, p: np.ndarray) -> float:
    return ovr_auroc(y, p, 1) if p.shape[1] == 2 else macro_auroc(y, p)


def _brier(y: np.ndarray, p: np.ndarray) -> float:
    if p.shape[1] == 2:
        return float(np.mean((p[:, 1] - (y == 1)) ** 2))
    return float(np.mean(np.sum((p - np.eye(p.shape[1])[y]) ** 2, axis=1)))  # summed over classes


def _class_auroc(c: int) -> Any:
    """One-vs-rest AUROC of class ``c`` as a bootstrap statistic."""
    def stat(y: np.ndarray, p: np.ndarray) -> float:
        return ovr_auroc(y, p, c)
    return stat


def _sens(threshold: float) -> Any:
    return lambda y, p: float((p[y == 1, 1] >= threshold).mean())


def _spec(threshold: float) -> Any:
    return lambda y, p: float((p[y == 0, 1] < threshold).mean())


def _binary_order(card: dict[str, Any], y: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binary labels as 0/1 for the positive class, probabilities as [negative, positive]."""
    pos = card["classes"].index(card["positive_class"])
    yb = (y == pos).astype("int64")
    return yb, probs[..., [1 - pos, pos]]


def calibration_block(y01: np.ndarray, p: np.ndarray, *, n_boot: int, seed: int,
                      n_bins: int = 5, source: str | None = "out-of-fold",
                      curve: str = "quantile bins of the out-of-fold predictions of all repeats "
                                   "pooled") -> dict[str, Any]:
    """Curve (all repeats pooled), intercept, slope, the ``calibrated`` flag and its sentence.

    Args:
        y01: 0/1 outcome; p: (repeats, rows) predicted probability of the outcome.
        source, curve: what the predictions are, for the sentence and the curve's note
            (:func:`~precimed.evaluation.calibration.calibration_statement`).
    """
    res = resamples(y01, p.shape[0], n_boot=n_boot, seed=seed)
    intercept = summarise(calibration_intercept, y01, p, res)
    slope = summarise(calibration_slope, y01, p, res)
    bins = calibration_bins(np.tile(y01, p.shape[0]).astype("float64"), p.reshape(-1), n_bins)
    observed, predicted = float(y01.mean()), float(p.mean())
    return {**bins, "curve": curve,
            "intercept": intercept, "slope": slope, "calibrated": is_calibrated(intercept, slope),
            "statement": calibration_statement(intercept, slope, observed, predicted, source=source),
            "mean_observed": round(observed, 4), "mean_predicted": round(predicted, 4)}


def _metrics(card: dict[str, Any], y: np.ndarray, probs: np.ndarray, res: Any) -> dict[str, Any]:
    avg = probs.mean(axis=0)
    if card["task"] == "binary":
        t = float(card["threshold"])
        return {
            "auroc": summarise(_auroc, y, probs, res),
            "brier": summarise(_brier, y, probs, res),
            "sensitivity": summarise(_sens(t), y, probs, res),
            "specificity": summarise(_spec(t), y, probs, res),
            "prevalence": {"value": round(float(y.mean()), 4)},
            "auroc_repeat_averaged": {"value": round(_auroc(y, avg), 4)},
        }
    out: dict[str, Any] = {"auroc_macro": summarise(_auroc, y, probs, res)}
    for c, name in enumerate(card["classes"]):
        out[metric_key("auroc", name)] = summarise(_class_auroc(c), y, probs, res)
    out["brier"] = summarise(_brier, y, probs, res)
    prevalence = np.bincount(y, minlength=len(card["classes"])) / len(y)
    out["brier_prevalence"] = {"value": round(float(1.0 - np.sum(prevalence ** 2)), 4)}
    pred = probs.argmax(axis=2)
    out["accuracy"] = {"value": round(float((pred == y).mean()), 4)}
    recall = [float((pred[:, y == c] == c).mean()) for c in range(len(card["classes"]))]
    out["balanced_accuracy"] = {"value": round(float(np.mean(recall)), 4)}
    for c, name in enumerate(card["classes"]):
        out[metric_key("recall", name)] = {"value": round(recall[c], 4)}
    out["auroc_macro_repeat_averaged"] = {"value": round(_auroc(y, avg), 4)}
    return out


def _multiclass_calibration(card: dict[str, Any], y: np.ndarray, probs: np.ndarray, *, n_boot: int,
                            seed: int) -> dict[str, Any]:
    """Top-label curve; intercept and slope pooled one-vs-rest (all class columns stacked) and per class."""
    k = len(card["classes"])
    pred = probs.argmax(axis=2)
    top = calibration_bins((pred == y).astype("float64").reshape(-1), probs.max(axis=2).reshape(-1), 5)
    y_stack = np.concatenate([(y == c).astype("int64") for c in range(k)])
    p_stack = np.concatenate([probs[:, :, c] for c in range(k)], axis=1)
    pooled = calibration_block(y_stack, p_stack, n_boot=n_boot, seed=seed)
    per_class = {}
    for c, name in enumerate(card["classes"]):
        block = calibration_block((y == c).astype("int64"), probs[:, :, c], n_boot=n_boot, seed=seed + c + 1)
        per_class[name] = block
    pooled.update({key: top[key] for key in ("bins", "predicted", "observed", "counts")})
    pooled["kind"] = "top-label: probability of the predicted class vs how often it is right"
    pooled["fit"] = ("intercept and slope pooled one-vs-rest: every class's probability column "
                     "stacked against its 0/1 outcome")
    pooled["per_class"] = per_class
    pooled["statement"] = ("Pooled over the classes (one-vs-rest; each class's own fit is listed "
                           "beside it): " + pooled["statement"])
    return pooled


def baseline_block(card: dict[str, Any], x: np.ndarray, y: np.ndarray, probs: np.ndarray,
                   folds: np.ndarray, res: Any, metrics: dict[str, Any], *, seed: int,
                   encoded_y: np.ndarray) -> tuple[list[dict[str, Any]], str]:
    """LR and RF on the network's folds, their figures, paired differences and the verdict."""
    auc_key = "auroc" if card["task"] == "binary" else "auroc_macro"
    word = "AUROC" if card["task"] == "binary" else "macro AUROC"
    out: list[dict[str, Any]] = []
    sentences: list[str] = []
    for name in (bl.LOGISTIC, bl.FOREST):
        raw = bl.baseline_probabilities(name, x, encoded_y, folds, len(card["classes"]), seed=seed)
        theirs = _binary_order(card, encoded_y, raw)[1] if card["task"] == "binary" else raw
        entry: dict[str, Any] = {"name": name, auc_key: summarise(_auroc, y, theirs, res),
                                 "brier": summarise(_brier, y, theirs, res)}
        if card["task"] == "multiclass":
            for c, cls in enumerate(card["classes"]):
                entry[metric_key("auroc", cls)] = summarise(_class_auroc(c), y, theirs, res)
        d_auc = summarise_difference(_auroc, y, probs, theirs, res)
        d_brier = summarise_difference(_brier, y, probs, theirs, res)
        entry["network_minus_baseline"] = {auc_key: d_auc, "brier": d_brier}
        entry["verdict"] = bl.verdict("network", name.split(" (")[0], word, metrics[auc_key],
                                      entry[auc_key], d_auc)
        entry["verdict_brier"] = bl.verdict("network", name.split(" (")[0], "Brier score",
                                            metrics["brier"], entry["brier"], d_brier,
                                            higher_is_better=False)
        sentences.append(entry["verdict"])
        out.append(entry)
    return out, " ".join(sentences)


def evaluate_tabular(card: dict[str, Any], x: np.ndarray, y: np.ndarray, cv: Any, recipe: Any, *,
                     extra_x: np.ndarray | None = None, n_boot: int = N_BOOT,
                     cal_boot: int = CAL_BOOT) -> dict[str, Any]:
    """The card's ``evaluation`` from the network's CV predictions (see the module docstring).

    Args:
        card: the card so far (classes, positive_class, threshold, task, evaluation extras).
        x / y: encoded inputs and class indices of the training rows.
        cv: :class:`precimed.training.tabular.CVPredictions`.
        recipe: the :class:`precimed.training.tabular.TabularRecipe` (folds, repeats, seed,
            ``factors``, ``survival``).
    """
    evaluation = dict(card.get("evaluation", {}))
    seed = int(recipe.seed)
    if card["task"] == "binary":
        yy, probs = _binary_order(card, y, cv.probs)
    else:
        yy, probs = y, cv.probs
    res = resamples(yy, probs.shape[0], n_boot=n_boot, seed=seed)
    metrics = _metrics(card, yy, probs, res)
    evaluation["method"] = (f"{recipe.repeats}x{recipe.folds} repeated stratified cross-validation "
                            f"(seed {recipe.seed}); every figure from out-of-fold predictions. "
                            + METHOD.format(n=n_boot) + ".")
    evaluation["metrics"] = metrics
    if card["task"] == "binary":
        evaluation["calibration"] = calibration_block(yy, probs[:, :, 1], n_boot=cal_boot, seed=seed)
    else:
        evaluation["calibration"] = _multiclass_calibration(card, yy, probs, n_boot=cal_boot, seed=seed)
        from precimed.training.multiclass import multiclass_metrics

        evaluation["confusion_matrix"] = multiclass_metrics(y, cv.mean(), card["classes"],
                                                            n_boot=2)["confusion_matrix"]
        evaluation["confusion_matrix"]["note"] = "arg-max of the predictions averaged over the repeats"
    evaluation["baselines"], evaluation["baseline_verdict"] = baseline_block(
        card, x, yy, probs, cv.folds, res, metrics, seed=seed, encoded_y=y)
    auc_key = "auroc" if card["task"] == "binary" else "auroc_macro"
    evaluation["subgroups"] = evaluate_subgroups(
        {k: v for k, v in recipe.factors.items()}, yy, probs, _auroc, metrics[auc_key]["value"],
        n_boot=cal_boot, seed=seed, positive=yy if card["task"] == "binary" else None)
    evaluation["subgroup_rule"] = WEAKER_RULE
    if recipe.survival is not None:
        from precimed.evaluation.survival_card import survival_block

        evaluation["survival"] = survival_block(card, yy, probs, cv, recipe.survival, seed=seed)
    return evaluation


NO_FACTOR = ("The data records no {subject} factor (such as age, sex, ancestry or disease "
             "stage), so performance in subgroups cannot be measured; it may differ between "
             "groups nobody has checked.")


def card_sections(card: dict[str, Any], recipe: Any) -> dict[str, Any]:
    """``factors`` and ``caveats`` (Mitchell et al. 2019) from the recipe and the evaluation.

    The static parts come from the recipe's card (``factors.relevant``, ``caveats``); the
    evaluated factors, the weaker subgroups, a missing calibration and a baseline the network
    does not beat are added from the figures, so the card can never claim more than they show.
    """
    from precimed.evaluation.caveats import caveat_line

    ev = card["evaluation"]
    static = dict(card.get("factors", {}))
    evaluated = [{k: v for k, v in spec.items() if k != "values"} | {"name": name}
                 for name, spec in recipe.factors.items()]
    factors = {**static, "evaluated": evaluated}
    if not evaluated:
        factors.setdefault("note", NO_FACTOR.format(subject=card.get("subject", "patient")))
    caveats = list(card.get("caveats", []))
    if not evaluated:
        caveats.append(factors["note"])
    caveats.extend(caveat_line(card, s) for s in ev["subgroups"] if s.get("weaker"))
    if not ev["calibration"]["calibrated"]:
        caveats.append(ev["calibration"]["statement"])
    caveats.extend(b["verdict"] for b in ev["baselines"] if " is better than " not in b["verdict"])
    return {"factors": factors, "caveats": caveats}
