"""Write a tabular bundle whose recipe is chosen and recalibrated by nested cross-validation.

The shipped model is the mean logit of the inner fold models fitted on all rows with the
hyperparameters the inner CV chose, followed by the Platt recalibration fitted on those inner
models' out-of-fold logits (:mod:`precimed.training.nested`). Every figure on the card comes
from the outer folds, where the same whole procedure ran on the outer training rows only.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from precimed.tabular.validate import encode
from precimed.training.common import binary_metrics, bootstrap_ci, make_deterministic, write_bundle
from precimed.training.ensemble import MemberConfig, export_keras
from precimed.training.nested import NestedResult, calibration_fit, nested_cv
from precimed.training.tabular import TabularRecipe, input_specs

CAL_BOOT = 200


def _r(v: Any) -> float:
    return round(float(v), 4)


def repeat_figures(y: np.ndarray, per_repeat: np.ndarray, n_boot: int | None = None) -> dict[str, Any]:
    """AUROC, Brier, calibration intercept and slope of each single CV repeat (one model per
    prediction, as shipped), their mean, range and a patient-bootstrap CI of the mean.

    Args:
        per_repeat: (repeats, rows) out-of-fold probabilities of the positive class.
    """
    from sklearn.metrics import brier_score_loss, roc_auc_score

    def cal(key: str) -> Any:
        return lambda yy, pp: np.mean([calibration_fit(yy, p)[key]["value"] for p in pp.T])

    out: dict[str, Any] = {}
    stats = {"auroc": lambda yy, pp: np.mean([roc_auc_score(yy, p) for p in pp.T]),
             "brier": lambda yy, pp: np.mean([brier_score_loss(yy, p) for p in pp.T]),
             "intercept": cal("intercept"), "slope": cal("slope")}
    cols = per_repeat.T  # (rows, repeats): bootstrap resamples rows
    for name, fn in stats.items():
        singles = [float(fn(y, cols[:, [r]])) for r in range(cols.shape[1])]
        out[name] = {"value": _r(np.mean(singles)), "repeat_range": [_r(min(singles)), _r(max(singles))]}
        boots = n_boot if n_boot is not None else (2000 if name in ("auroc", "brier") else CAL_BOOT)
        if boots:
            lo, hi = bootstrap_ci(fn, y, cols, n_boot=boots, seed=1)
            out[name]["ci95"] = [_r(lo), _r(hi)]
    return out


def lr_rf_baselines(x: np.ndarray, y: np.ndarray, folds: np.ndarray, seed: int) -> list[dict[str, Any]]:
    """Penalised logistic regression (C = 0.01) and a random forest on the same outer folds."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    makers = {"logistic regression (L2, C=0.01)":
              lambda: make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=5000)),
              "random forest (300 trees)":
              lambda: RandomForestClassifier(n_estimators=300, random_state=seed, n_jobs=1)}
    out = []
    for name, make in makers.items():
        per_repeat = np.zeros((folds.shape[0], len(y)))
        for r in range(folds.shape[0]):
            for f in np.unique(folds[r]):
                te = folds[r] == f
                per_repeat[r, te] = make().fit(x[~te], y[~te]).predict_proba(x[te])[:, 1]
        figs = repeat_figures(y, per_repeat)
        out.append({"name": name, "auroc": figs["auroc"], "brier": figs["brier"],
                    "calibration": {"intercept": figs["intercept"], "slope": figs["slope"]},
                    "_per_repeat": per_repeat})
    return out


def tuning_protocol(res: NestedResult, y: np.ndarray, grid: list[MemberConfig], *, inner_folds: int,
                    seconds: float, tried: list[dict[str, Any]]) -> dict[str, Any]:
    """What the card's ``training.tuning_protocol`` records."""
    from sklearn.metrics import roc_auc_score

    def fig(p: np.ndarray) -> dict[str, float]:
        c = calibration_fit(y, p)
        return {"auroc_repeat_averaged": _r(roc_auc_score(y, p)), "slope_repeat_averaged": _r(c["slope"]["value"])}

    grid_figures = [{"point": nm, "bagged_recalibrated": fig(v["recalibrated"]), "bagged_raw": fig(v["raw"]),
                     "single_recalibrated": fig(v["single"]), "single_raw": fig(v["single_raw"]),
                     "bagged_isotonic": fig(v["isotonic"])}
                    for nm, v in res.per_point.items()]
    return {
        "outer": "5x5 repeated stratified cross-validation (the card's figures)",
        "inner": f"{inner_folds}-fold stratified cross-validation inside each outer training set",
        "grid": res.grid,
        "grid_order": "most to least regularised; ties go to the earlier point",
        "fixed": {"dropout": grid[0].dropout, "learning_rate": grid[0].learning_rate,
                  "batch_size": grid[0].batch_size, "optimizer": "Adam", "hidden_layers": 1},
        "selection_metric": "inner out-of-fold log loss after Platt scaling (fitted on the same "
                            "inner out-of-fold logits)",
        "recalibration": "Platt scaling sigmoid(a + b*logit), fitted on the inner out-of-fold "
                         "logits of the outer training set only; never on the test fold",
        "ensemble": f"mean logit of the {inner_folds} inner fold models (bagging of the fold models)",
        "chosen_per_outer_fold": dict(Counter(res.chosen)),
        "variants_at_the_chosen_points": [
            {"variant": name, **{k: figs[k] for k in ("auroc", "brier", "intercept", "slope")}}
            for name, figs in ((v, repeat_figures(y, p, n_boot=0)) for v, p in res.variants.items())],
        "shipped_point": res.final_point,
        "grid_outer_figures_for_the_record": grid_figures,
        "grid_outer_figures_note": "outer-fold figures of every grid point and variant, shown for "
                                   "transparency; the selection above never looked at them",
        "tried_and_rejected": tried,
        "optimism": "The hyperparameters are chosen inside each outer training set, but the "
                    "recipe itself (the grid's range, bagging the fold models, Platt rather than "
                    "isotonic scaling, short training) was chosen by the engineer after seeing "
                    "outer-fold figures of earlier grids on these same folds. The figures may "
                    "therefore be somewhat optimistic; only an external cohort would remove that.",
        "training_seconds": round(seconds),
    }


def train_nested_bundle(recipe: TabularRecipe, grid: list[MemberConfig], out_dir: Path, *,
                        inner_folds: int = 5, tried: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Nested CV, card figures from the outer folds, the recalibrated ensemble fitted on all rows."""
    make_deterministic(recipe.seed)
    card = dict(recipe.card)
    card["modality"] = "tabular"
    card["inputs"] = input_specs(recipe)
    x32 = encode(recipe.X, card)
    x = x32.astype("float64")
    classes = card["classes"]
    y = (np.asarray(recipe.y, dtype="int64") == classes.index(card["positive_class"])).astype("int64")
    res, seconds = _cached_nested_cv(x, y, grid, recipe, inner_folds)

    evaluation = dict(card.get("evaluation", {}))
    evaluation["method"] = (
        f"nested cross-validation: outer {recipe.repeats}x{recipe.folds} repeated stratified CV; "
        f"inside each outer training set an inner {inner_folds}-fold CV chooses the hyperparameters "
        "and fits the recalibration (see training.tuning_protocol). Figures: the mean over the "
        "repeats of each single repeat's figure (every prediction from one model, as shipped), "
        "with the range over repeats and a 95% CI by bootstrap over patients")
    evaluation.update(binary_metrics(y, res.probs, threshold=float(card["threshold"])))
    figs = repeat_figures(y, res.per_repeat)
    metrics = evaluation["metrics"]
    metrics["auroc_repeat_averaged"] = metrics.pop("auroc")
    metrics["brier_repeat_averaged"] = metrics.pop("brier")
    metrics["auroc"], metrics["brier"] = figs["auroc"], figs["brier"]
    cal = evaluation["calibration"]
    cal["intercept"], cal["slope"] = figs["intercept"], figs["slope"]
    cal["mean_observed"], cal["mean_predicted"] = _r(y.mean()), _r(res.per_repeat.mean())
    cal["calibrated"] = bool(0.8 <= figs["slope"]["value"] <= 1.25
                             and figs["intercept"]["ci95"][0] <= 0 <= figs["intercept"]["ci95"][1])
    baselines = lr_rf_baselines(x, y, res.folds, recipe.seed)
    for b in baselines:
        ours, theirs = res.per_repeat, b.pop("_per_repeat")
        diff = _paired_auroc_difference(y, ours, theirs)
        b["network_minus_baseline"] = {"auroc": diff}
        word = ("better than" if diff["ci95"][0] > 0 else
                "worse than" if diff["ci95"][1] < 0 else "no better than")
        b["verdict"] = (f"The network is {word} {b['name'].split(' (')[0]} on these data (AUROC "
                        f"{figs['auroc']['value']:.3f} vs {b['auroc']['value']:.3f}; difference "
                        f"{diff['value']:+.3f}, 95% CI {diff['ci95'][0]:+.3f} to {diff['ci95'][1]:+.3f}).")
    evaluation["baselines"] = baselines
    card["evaluation"] = evaluation

    a, b_ = res.final_ab
    card["training"] = {
        "recalibration": {"method": "Platt scaling", "a": round(a, 6), "b": round(b_, 6),
                          "formula": "P = sigmoid(a + b * z), z = output of layer 'logit'",
                          "layer": "recalibration", "fitted_on": "inner out-of-fold logits of all "
                          f"{len(y)} rows ({inner_folds}-fold CV)"},
        "ensemble": {"members": inner_folds, "combination": "mean of the members' logits (layer 'logit')",
                     "member_training_rows": f"{inner_folds - 1}/{inner_folds} of the rows each"},
        "tuning_protocol": tuning_protocol(res, y, grid, inner_folds=inner_folds, seconds=seconds,
                                           tried=tried or []),
    }
    # Stored exactly as the model's weights hold them (float32), so a check re-deriving them is exact.
    model = export_keras(res.final_members, res.final_idx, x32, a, b_)
    w, c = model.get_layer("recalibration").get_weights()
    card["training"]["recalibration"].update(a=float(c[0]), b=float(w[0, 0]))
    rng = np.random.default_rng(recipe.seed)
    take = np.sort(rng.choice(len(y), size=min(recipe.background_rows, len(y)), replace=False))
    card["explanation"] = {
        "method": "shap.DeepExplainer",
        "background": f"{len(take)} training rows drawn at random (seed {recipe.seed})",
        "output_scale": "probability (after recalibration)",
    }
    write_bundle(out_dir, model, card, background=recipe.X.iloc[take].reset_index(drop=True))
    from precimed.registry import read_bundle

    return read_bundle(out_dir).card


def _paired_auroc_difference(y: np.ndarray, ours: np.ndarray, theirs: np.ndarray,
                             n_boot: int = 1000) -> dict[str, Any]:
    """Mean over repeats of (network − baseline) AUROC, with a paired patient-bootstrap CI."""
    from sklearn.metrics import roc_auc_score

    def diff(yy: np.ndarray, both: np.ndarray) -> float:
        k = both.shape[1] // 2
        return float(np.mean([roc_auc_score(yy, both[:, r]) - roc_auc_score(yy, both[:, k + r])
                              for r in range(k)]))

    both = np.concatenate([ours.T, theirs.T], axis=1)
    lo, hi = bootstrap_ci(diff, y, both, n_boot=n_boot, seed=2)
    return {"value": _r(diff(y, both)), "ci95": [_r(lo), _r(hi)]}


def _cached_nested_cv(x: np.ndarray, y: np.ndarray, grid: list[MemberConfig], recipe: TabularRecipe,
                      inner_folds: int) -> tuple[NestedResult, float]:
    """The nested CV, kept in ``build/cv/`` (git-ignored) so that a card can be rewritten
    without retraining; reused only for identical data, grid, folds and seed."""
    import hashlib
    import pickle

    from precimed.registry import REPO_MODELS_DIR

    h = hashlib.sha256(np.ascontiguousarray(x).tobytes() + np.ascontiguousarray(y).tobytes())
    h.update(repr((grid, recipe.folds, recipe.repeats, inner_folds, recipe.seed)).encode())
    path = REPO_MODELS_DIR.parent.parent / "build" / "cv" / f"{recipe.card['id']}-nested-{h.hexdigest()[:16]}.pkl"
    if path.is_file():
        with open(path, "rb") as fh:
            res, seconds = pickle.load(fh)  # our own build output, never user input
        return res, seconds
    start = time.perf_counter()
    res = nested_cv(x, y, grid, folds=recipe.folds, repeats=recipe.repeats, inner_folds=inner_folds,
                    seed=recipe.seed)
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump((res, seconds), fh)
    return res, seconds
