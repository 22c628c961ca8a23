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
from precimed.training.common import bootstrap_ci, make_deterministic, write_bundle
from precimed.training.ensemble import MemberConfig, export_keras
from precimed.training.nested import NestedResult, calibration_fit, nested_cv
from precimed.training.tabular import TabularRecipe

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


def nested_card(recipe: TabularRecipe, grid: list[MemberConfig], *, inner_folds: int,
                tried: list[dict[str, Any]], cached_only: bool = False) -> tuple[dict[str, Any], Any] | None:
    """The evaluated card (figures from the outer folds) and the shipped Keras model.

    With ``cached_only``, returns ``None`` unless the nested CV is already in ``build/cv/``.
    """
    from precimed.training.tabular import CVPredictions, _prepared, evaluated_card

    card, x32, y_idx = _prepared(recipe)
    x = x32.astype("float64")
    pos = card["classes"].index(card["positive_class"])
    y = (y_idx == pos).astype("int64")
    extra_x = None if recipe.extra_X is None else encode(recipe.extra_X, card).astype("float64")
    found = _cached_nested_cv(x, y, grid, recipe, inner_folds, extra_x, cached_only=cached_only)
    if found is None:
        return None
    res, seconds = found

    def classes(p: np.ndarray) -> np.ndarray:
        both = np.stack([1 - p, p], axis=-1)
        return both if pos == 1 else both[..., ::-1]

    cv = CVPredictions(probs=classes(res.per_repeat), folds=res.folds,
                       extra=None if res.extra is None else classes(res.extra))
    card = evaluated_card(recipe, card, x32, y_idx, cv)
    # card_sections wrote the subgroup caveats before the card had its evaluated factors (so
    # with the bare factor name); write them again now that the labels are there.
    from precimed.evaluation.pipeline import card_sections

    card["caveats"] = list(recipe.card.get("caveats", []))
    card.update(card_sections(card, recipe))
    card["evaluation"]["method"] = (
        f"nested cross-validation: inside each outer training set an inner {inner_folds}-fold CV "
        "chooses the hyperparameters and fits the recalibration, and the outer folds only score "
        "(see training.tuning_protocol). Outer: " + card["evaluation"]["method"])
    a, b = res.final_ab
    card["training"] = {
        "recalibration": {"method": "Platt scaling", "a": a, "b": b,
                          "formula": "P = sigmoid(a + b * z), z = output of layer 'logit'",
                          "layer": "recalibration", "fitted_on": "inner out-of-fold logits of all "
                          f"{len(y)} rows ({inner_folds}-fold CV)"},
        "ensemble": {"members": inner_folds, "combination": "mean of the members' logits (layer 'logit')",
                     "member_training_rows": f"{inner_folds - 1}/{inner_folds} of the rows each"},
        "tuning_protocol": tuning_protocol(res, y, grid, inner_folds=inner_folds, seconds=seconds,
                                           tried=tried),
    }
    model = export_keras(res.final_members, res.final_idx, x32, a, b)
    # Stored as the model's weights hold them (float32), so a check re-deriving them is exact.
    w, c = model.get_layer("recalibration").get_weights()
    card["training"]["recalibration"].update(a=float(c[0]), b=float(w[0, 0]))
    return card, model


def train_nested_bundle(recipe: TabularRecipe, grid: list[MemberConfig], out_dir: Path, *,
                        inner_folds: int = 5, tried: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Nested CV, card figures from the outer folds, the recalibrated ensemble fitted on all rows."""
    make_deterministic(recipe.seed)
    found = nested_card(recipe, grid, inner_folds=inner_folds, tried=tried or [])
    assert found is not None
    card, model = found
    rng = np.random.default_rng(recipe.seed)
    take = np.sort(rng.choice(len(recipe.y), size=min(recipe.background_rows, len(recipe.y)), replace=False))
    card["explanation"] = {
        "method": "shap.DeepExplainer",
        "background": f"{len(take)} training rows drawn at random (seed {recipe.seed})",
        "output_scale": "probability",
        "note": "SHAP values are on the recalibrated probability, the model's output",
    }
    write_bundle(out_dir, model, card, background=recipe.X.iloc[take].reset_index(drop=True))
    from precimed.registry import read_bundle

    return read_bundle(out_dir).card


def refresh_nested_card(recipe: TabularRecipe, grid: list[MemberConfig], out_dir: Path, *,
                        inner_folds: int, tried: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Rewrite the card from the cached nested CV, keeping the weights; ``None`` without a cache."""
    import json

    from precimed.cards import validate_card
    from precimed.registry import CARD_FILE

    old_path = out_dir / CARD_FILE
    found = nested_card(recipe, grid, inner_folds=inner_folds, tried=tried, cached_only=True)
    if found is None or not old_path.is_file():
        return None
    card, _ = found
    old = json.loads(old_path.read_text("utf-8"))
    for key in ("explanation", "weights_sha256", "created"):  # the weights are unchanged
        card[key] = old[key]
    card["training"]["recalibration"] = old["training"]["recalibration"]
    validate_card(card, source=str(old_path))
    old_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return card


def _cached_nested_cv(x: np.ndarray, y: np.ndarray, grid: list[MemberConfig], recipe: TabularRecipe,
                      inner_folds: int, extra_x: np.ndarray | None, *,
                      cached_only: bool = False) -> tuple[NestedResult, float] | None:
    """The nested CV, kept in ``build/cv/`` (git-ignored) so that a card can be rewritten
    without retraining; reused only for identical data, grid, folds and seed."""
    import hashlib
    import pickle

    from precimed.registry import REPO_MODELS_DIR

    h = hashlib.sha256(np.ascontiguousarray(x).tobytes() + np.ascontiguousarray(y).tobytes())
    h.update(repr((grid, recipe.folds, recipe.repeats, inner_folds, recipe.seed)).encode())
    if extra_x is not None:
        h.update(np.ascontiguousarray(extra_x).tobytes())
    path = REPO_MODELS_DIR.parent.parent / "build" / "cv" / f"{recipe.card['id']}-nested-{h.hexdigest()[:16]}.pkl"
    if path.is_file():
        with open(path, "rb") as fh:
            res, seconds = pickle.load(fh)  # our own build output, never user input
        return res, seconds
    if cached_only:
        return None
    start = time.perf_counter()
    res = nested_cv(x, y, grid, folds=recipe.folds, repeats=recipe.repeats, inner_folds=inner_folds,
                    seed=recipe.seed, extra_x=extra_x)
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump((res, seconds), fh)
    return res, seconds
