"""Write a tabular bundle whose recipe is chosen and recalibrated by nested cross-validation.

The shipped model is the mean logit of the inner fold models fitted on all rows with the
hyperparameters the inner CV chose, followed by the recalibration fitted on those inner
models' out-of-fold logits (:mod:`precimed.training.nested`): Platt scaling for a binary model,
an affine map of the class logits then softmax for a multiclass one
(:mod:`precimed.training.recalibrate`). Every figure on the card comes from the outer folds,
where the same whole procedure ran on the outer training rows only.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from precimed.tabular.validate import encode
from precimed.training.common import bootstrap_ci, make_deterministic, write_bundle
from precimed.training.ensemble import MemberConfig, export_keras, export_keras_multiclass
from precimed.training.nested import ISOTONIC, TEMPERATURE, NestedResult, calibration_fit, nested_cv
from precimed.training.tabular import TabularRecipe

CAL_BOOT = 200
OPTIMISM = ("The hyperparameters are chosen inside each outer training set, but the "
            "recipe itself (the grid's range, bagging the fold models, Platt rather than "
            "isotonic scaling, short training) was chosen by the engineer after seeing "
            "outer-fold figures of earlier grids on these same folds. The figures may "
            "therefore be somewhat optimistic; only an external cohort would remove that.")


def _r(v: Any) -> float:
    return round(float(v), 4)


def repeat_figures(y: np.ndarray, per_repeat: np.ndarray, n_boot: int | None = None) -> dict[str, Any]:
    """AUROC, Brier, calibration intercept and slope of each single CV repeat (one model per
    prediction, as shipped), their mean, range and a patient-bootstrap CI of the mean.

    Args:
        per_repeat: (repeats, rows) out-of-fold probabilities of the positive class, or
            (repeats, rows, classes) for a multiclass model: then macro AUROC, the multiclass
            Brier score, and intercept and slope pooled one-vs-rest (as on the card).
    """
    if per_repeat.ndim == 3:
        return _multiclass_repeat_figures(y, per_repeat)
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


def _multiclass_repeat_figures(y: np.ndarray, per_repeat: np.ndarray) -> dict[str, Any]:
    """The multiclass figures of each single repeat: mean and range (no bootstrap)."""
    from precimed.evaluation.bootstrap import macro_auroc
    from precimed.evaluation.calibration import calibration_intercept, calibration_slope

    k = per_repeat.shape[2]
    y_stack = np.concatenate([(y == c).astype("int64") for c in range(k)])

    def stacked(p: np.ndarray) -> np.ndarray:
        return np.concatenate([p[:, c] for c in range(k)])

    stats = {"auroc": macro_auroc,
             "brier": lambda yy, p: float(np.mean(np.sum((p - np.eye(k)[yy]) ** 2, axis=1))),
             "intercept": lambda yy, p: calibration_intercept(y_stack, stacked(p)),
             "slope": lambda yy, p: calibration_slope(y_stack, stacked(p))}
    out: dict[str, Any] = {}
    for name, fn in stats.items():
        singles = [float(fn(y, p)) for p in per_repeat]
        out[name] = {"value": _r(np.mean(singles)), "repeat_range": [_r(min(singles)), _r(max(singles))]}
    return out


def _grid_figure(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUROC and calibration slope of repeat-averaged predictions (binary, or macro / pooled)."""
    if p.ndim == 2:
        figs = _multiclass_repeat_figures(y, p[None])
        return {"auroc_repeat_averaged": figs["auroc"]["value"], "slope_repeat_averaged": figs["slope"]["value"]}
    from sklearn.metrics import roc_auc_score

    c = calibration_fit(y, p)
    return {"auroc_repeat_averaged": _r(roc_auc_score(y, p)), "slope_repeat_averaged": _r(c["slope"]["value"])}


RECALIBRATION_TEXT = {
    "platt": "Platt scaling sigmoid(a + b*logit)",
    "matrix": "multinomial logistic recalibration softmax(W z + c) of the class logits z (matrix scaling)",
    "vector": "vector scaling softmax(v * z + c) of the class logits z",
    "temperature+bias": "temperature scaling with per-class shifts softmax(z / T + c) of the class logits z",
    "temperature": "temperature scaling softmax(z / T) of the class logits z",
}


def tuning_protocol(res: NestedResult, y: np.ndarray, grid: list[MemberConfig], *, inner_folds: int,
                    seconds: float, tried: list[dict[str, Any]], recalibration: str = "platt",
                    replicas: int = 1, optimism: str = OPTIMISM) -> dict[str, Any]:
    """What the card's ``training.tuning_protocol`` records."""
    fig = _grid_figure
    alt = ISOTONIC if recalibration == "platt" else TEMPERATURE
    grid_figures = [{"point": nm, "bagged_recalibrated": fig(y, v["recalibrated"]), "bagged_raw": fig(y, v["raw"]),
                     "single_recalibrated": fig(y, v["single"]), "single_raw": fig(y, v["single_raw"]),
                     f"bagged_{alt}": fig(y, v[alt])}
                    for nm, v in res.per_point.items()]
    what = RECALIBRATION_TEXT[recalibration]
    after = "Platt scaling" if recalibration == "platt" else f"the {recalibration} recalibration"
    fixed: dict[str, Any] = {"dropout": grid[0].dropout, "learning_rate": grid[0].learning_rate,
                             "batch_size": grid[0].batch_size, "optimizer": "Adam", "hidden_layers": 1}
    for key in ("squash", "balanced", "input_dropout"):  # options the genomic grid does not use
        values = {getattr(g, key) for g in grid}
        if values != {False}:
            fixed[key] = values.pop() if len(values) == 1 else "varies (see grid)"
    ensemble = f"mean logit of the {inner_folds} inner fold models (bagging of the fold models)"
    if replicas > 1:
        ensemble = (f"mean logits of the {inner_folds} inner fold models, each the mean of {replicas} "
                    f"networks trained on the same rows from different initial weights "
                    f"({inner_folds * replicas} networks; bagging of the fold models)")
    return {
        "outer": "5x5 repeated stratified cross-validation (the card's figures)",
        "inner": f"{inner_folds}-fold stratified cross-validation inside each outer training set",
        "grid": res.grid,
        "grid_order": "most to least regularised; ties go to the earlier point",
        "fixed": fixed,
        "selection_metric": f"inner out-of-fold log loss after {after} (fitted on the same "
                            "inner out-of-fold logits)",
        "recalibration": f"{what}, fitted on the inner out-of-fold "
                         "logits of the outer training set only; never on the test fold",
        "ensemble": ensemble,
        "chosen_per_outer_fold": dict(Counter(res.chosen)),
        "variants_at_the_chosen_points": [
            {"variant": name, **{k: figs[k] for k in ("auroc", "brier", "intercept", "slope")}}
            for name, figs in ((v, repeat_figures(y, p, n_boot=0)) for v, p in res.variants.items())],
        "shipped_point": res.final_point,
        "grid_outer_figures_for_the_record": grid_figures,
        "grid_outer_figures_note": "outer-fold figures of every grid point and variant, shown for "
                                   "transparency; the selection above never looked at them",
        "tried_and_rejected": tried,
        "optimism": optimism,
        "training_seconds": round(seconds),
    }


@dataclass(frozen=True)
class NestedOptions:
    """How a trainer runs the nested CV (the defaults are the binary genomic recipe's).

    Attributes:
        inner_folds: inner CV folds (= bagged members per block, times ``replicas``).
        recalibration: ``"platt"`` (binary) or a :data:`precimed.training.recalibrate.METHODS`
            name (multiclass).
        replicas: networks per inner fold, differing only in their initial weights.
        tried: recipes measured before and rejected, with why (the card records them).
        optimism: what the engineer chose after seeing outer-fold figures (the card says it).
    """

    inner_folds: int = 5
    recalibration: str = "platt"
    replicas: int = 1
    tried: tuple[dict[str, Any], ...] = ()
    optimism: str = OPTIMISM


def _recalibration_record(res: NestedResult, model: Any, n: int, opts: NestedOptions) -> dict[str, Any]:
    """The card's ``training.recalibration``, read back from the model's layer (float32), so a
    check re-deriving the output from it is exact."""
    w, c = model.get_layer("recalibration").get_weights()
    fitted_on = f"inner out-of-fold logits of all {n} rows ({opts.inner_folds}-fold CV)"
    if opts.recalibration == "platt":
        return {"method": "Platt scaling", "a": float(c[0]), "b": float(w[0, 0]),
                "formula": "P = sigmoid(a + b * z), z = output of layer 'logit'",
                "layer": "recalibration", "fitted_on": fitted_on}
    return {"method": RECALIBRATION_TEXT[opts.recalibration],
            "weights": [[float(v) for v in row] for row in np.asarray(w, "float64").T],
            "bias": [float(v) for v in c],
            "formula": "P = softmax(W z + c): W = weights (row = output class), c = bias, "
                       "z = the class logits, output of layer 'logit'",
            "layer": "recalibration", "fitted_on": fitted_on}


def nested_card(recipe: TabularRecipe, grid: list[MemberConfig], opts: NestedOptions, *,
                cached_only: bool = False) -> tuple[dict[str, Any], Any] | None:
    """The evaluated card (figures from the outer folds) and the shipped Keras model.

    With ``cached_only``, returns ``None`` unless the nested CV is already in ``build/cv/``.
    """
    from precimed.training.tabular import CVPredictions, _prepared, evaluated_card

    card, x32, y_idx = _prepared(recipe)
    x = x32.astype("float64")
    binary = card["task"] == "binary"
    pos = card["classes"].index(card["positive_class"]) if binary else -1
    y = (y_idx == pos).astype("int64") if binary else y_idx
    extra_x = None if recipe.extra_X is None else encode(recipe.extra_X, card).astype("float64")
    found = _cached_nested_cv(x, y, grid, recipe, opts, extra_x, len(card["classes"]),
                              cached_only=cached_only)
    if found is None:
        return None
    res, seconds = found

    def classes(p: np.ndarray) -> np.ndarray:
        if not binary:
            return p
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
    k = opts.inner_folds
    card["evaluation"]["method"] = (
        f"nested cross-validation: inside each outer training set an inner {k}-fold CV "
        "chooses the hyperparameters and fits the recalibration, and the outer folds only score "
        "(see training.tuning_protocol). Outer: " + card["evaluation"]["method"])
    if binary:
        a, b = res.final_ab
        model = export_keras(res.final_members, res.final_idx, x32, a, b)
    else:
        assert res.final_fit is not None
        w, c = res.final_fit.affine[opts.recalibration]
        model = export_keras_multiclass(res.final_members, res.final_idx, x32, w, c)
    members = k * opts.replicas
    ensemble: dict[str, Any] = {"members": members,
                                "combination": "mean of the members' logits (layer 'logit')",
                                "member_training_rows": f"{k - 1}/{k} of the rows each"}
    if opts.replicas > 1:
        ensemble["replicas_per_fold"] = opts.replicas
    card["training"] = {
        "recalibration": _recalibration_record(res, model, len(y), opts),
        "ensemble": ensemble,
        "tuning_protocol": tuning_protocol(res, y, grid, inner_folds=k, seconds=seconds,
                                           tried=list(opts.tried), recalibration=opts.recalibration,
                                           replicas=opts.replicas, optimism=opts.optimism),
    }
    return card, model


def train_nested_bundle(recipe: TabularRecipe, grid: list[MemberConfig], out_dir: Path,
                        opts: NestedOptions) -> dict[str, Any]:
    """Nested CV, card figures from the outer folds, the recalibrated ensemble fitted on all rows."""
    make_deterministic(recipe.seed)
    found = nested_card(recipe, grid, opts)
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


def refresh_nested_card(recipe: TabularRecipe, grid: list[MemberConfig], out_dir: Path,
                        opts: NestedOptions) -> dict[str, Any] | None:
    """Rewrite the card from the cached nested CV, keeping the weights; ``None`` without a cache."""
    import json

    from precimed.cards import validate_card
    from precimed.registry import CARD_FILE

    old_path = out_dir / CARD_FILE
    found = nested_card(recipe, grid, opts, cached_only=True)
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
                      opts: NestedOptions, extra_x: np.ndarray | None, n_classes: int, *,
                      cached_only: bool = False) -> tuple[NestedResult, float] | None:
    """The nested CV, kept in ``build/cv/`` (git-ignored) so that a card can be rewritten
    without retraining; reused only for identical data, grid, folds and seed."""
    import hashlib
    import pickle

    from precimed.registry import REPO_MODELS_DIR

    h = hashlib.sha256(np.ascontiguousarray(x).tobytes() + np.ascontiguousarray(y).tobytes())
    h.update(repr((grid, recipe.folds, recipe.repeats, opts.inner_folds, recipe.seed)).encode())
    if (opts.recalibration, opts.replicas) != ("platt", 1):
        h.update(repr((opts.recalibration, opts.replicas, n_classes)).encode())
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
    method = "matrix" if opts.recalibration == "platt" else opts.recalibration  # unused when binary
    res = nested_cv(x, y, grid, folds=recipe.folds, repeats=recipe.repeats, inner_folds=opts.inner_folds,
                    seed=recipe.seed, n_classes=n_classes, recalibration=method,
                    replicas=opts.replicas, extra_x=extra_x)
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump((res, seconds), fh)
    return res, seconds
