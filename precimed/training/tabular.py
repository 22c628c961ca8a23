"""Train, cross-validate and write a tabular MLP bundle.

The network is ``Normalization [→ tanh] → Dense(ReLU) × k → Dense(sigmoid | softmax)``: the
scaling lives in the model so that it takes raw feature values and SHAP values stay in raw
units, and every layer is one ``shap.DeepExplainer`` handles exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from precimed.tabular.validate import encode
from precimed.training.common import make_deterministic, write_bundle


@dataclass
class TabularRecipe:
    """What to train and how.

    Attributes:
        X: raw features (categorical columns hold level strings).
        y: class index per row (into ``card['classes']``).
        card: the static card fields (id, name, classes, training_data, intended use, …).
        categorical: feature → ordered levels.
        fixed: features that what-if and counterfactuals must not change.
        units / descriptions: per feature, where known.
    """

    X: pd.DataFrame
    y: np.ndarray
    card: dict[str, Any]
    categorical: dict[str, list[str]] = field(default_factory=dict)
    fixed: set[str] = field(default_factory=set)
    units: dict[str, str] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    symbols: dict[str, str] = field(default_factory=dict)  # gene symbol per probe column
    hidden: tuple[int, ...] = (16,)
    dropout: float = 0.3
    l2: float = 1e-2
    learning_rate: float = 3e-3
    epochs: int = 150
    batch_size: int = 32
    class_weight: str | None = None  # "balanced" or None
    # tanh after the scaling: soft-clips standardised values beyond about ±2 SD, so that a few
    # extreme values (heavy-tailed descriptors) do not dominate the first layer.
    squash: bool = False
    seed: int = 20261125
    folds: int = 5
    repeats: int = 5
    background_rows: int = 100
    # Evaluation only (never model inputs): patient factors for subgroup figures (factor → level
    # per row), rows excluded from the label but predicted out of sample (e.g. censored before
    # the horizon), and time-to-event data for ``X`` followed by ``extra_X``.
    factors: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra_X: pd.DataFrame | None = None
    survival: dict[str, Any] | None = None


def input_specs(recipe: TabularRecipe) -> list[dict[str, Any]]:
    """Card ``inputs`` from the training data: plausible range, median or mode, units."""
    specs: list[dict[str, Any]] = []
    for col in recipe.X.columns:
        item: dict[str, Any] = {"name": col}
        if col in recipe.categorical:
            item["dtype"] = "category"
            item["levels"] = list(recipe.categorical[col])
            item["median"] = str(recipe.X[col].mode().iloc[0])
        else:
            values = recipe.X[col].astype("float64")
            integral = bool(np.all(values == np.round(values)))
            item["dtype"] = "int" if integral else "float"
            # Rounded outward so that every training value lies inside the stated range.
            item["min"] = math.floor(float(values.min()) * 1e6) / 1e6
            item["max"] = math.ceil(float(values.max()) * 1e6) / 1e6
            item["median"] = round(float(values.median()), 6)
        if col in recipe.units:
            item["unit"] = recipe.units[col]
        if col in recipe.fixed:
            item["fixed"] = True
        if col in recipe.descriptions:
            item["description"] = recipe.descriptions[col]
        if col in recipe.symbols:
            item["symbol"] = recipe.symbols[col]
        specs.append(item)
    return specs


def _norm_layer(x_train: np.ndarray) -> Any:
    """The ``scale`` layer: standardisation adapted on the training rows."""
    import keras

    norm = keras.layers.Normalization(name="scale")
    norm.adapt(x_train)
    # A column constant in the training rows (rare fingerprints, or any column inside a CV fold)
    # would be divided by Keras' epsilon (1e-7): any other value then explodes. Scale such
    # columns by 1 instead, as scikit-learn's StandardScaler does.
    variance = np.asarray(norm.adapt_variance.numpy())
    if np.any(variance <= 1e-12):
        norm.adapt_variance.assign(np.where(variance <= 1e-12, 1.0, variance).astype("float32"))
        norm.finalize_state()
    return norm


def build_mlp(x_train: np.ndarray, n_classes: int, recipe: TabularRecipe) -> Any:
    import keras

    norm = _norm_layer(x_train)
    inp = keras.Input((x_train.shape[1],), name="features")
    h = norm(inp)
    if recipe.squash:
        h = keras.layers.Activation("tanh", name="squash")(h)
    for k, units in enumerate(recipe.hidden):
        h = keras.layers.Dense(units, activation="relu", name=f"dense_{k}",
                               kernel_regularizer=keras.regularizers.L2(recipe.l2))(h)
        h = keras.layers.Dropout(recipe.dropout, name=f"dropout_{k}")(h)
    if n_classes == 2:
        out = keras.layers.Dense(1, activation="sigmoid", name="probability")(h)
        loss = "binary_crossentropy"
    else:
        out = keras.layers.Dense(n_classes, activation="softmax", name="probabilities")(h)
        loss = "sparse_categorical_crossentropy"
    model = keras.Model(inp, out, name="mlp")
    model.compile(optimizer=keras.optimizers.Adam(recipe.learning_rate), loss=loss)
    return model


def _class_weights(y: np.ndarray, n_classes: int, mode: str | None) -> dict[int, float] | None:
    if mode != "balanced":
        return None
    counts = np.bincount(y, minlength=n_classes)
    return {c: float(len(y) / (n_classes * max(counts[c], 1))) for c in range(n_classes)}


def fit(x: np.ndarray, y: np.ndarray, n_classes: int, recipe: TabularRecipe, seed: int) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    model = build_mlp(x, n_classes, recipe)
    target = y.astype("float32") if n_classes == 2 else y
    model.fit(x, target, epochs=recipe.epochs, batch_size=recipe.batch_size, verbose=0,
              shuffle=True, class_weight=_class_weights(y, n_classes, recipe.class_weight))
    return model


@dataclass
class CVPredictions:
    """Out-of-fold predictions of every CV repeat, kept apart (what the card's CIs need).

    Attributes:
        probs: (repeats, rows, classes) out-of-fold probabilities of each repeat.
        folds: (repeats, rows) the test fold of each row in each repeat (the baselines reuse it).
        extra: (repeats, extra rows, classes) for rows never trained on (e.g. patients excluded
            from the label): the mean over that repeat's fold models; ``None`` without such rows.
    """

    probs: np.ndarray
    folds: np.ndarray
    extra: np.ndarray | None = None

    def mean(self) -> np.ndarray:
        """Probabilities averaged over the repeats: (rows, classes)."""
        return np.asarray(self.probs.mean(axis=0))


def _as_classes(out: np.ndarray, n_classes: int) -> np.ndarray:
    return np.column_stack([1 - out[:, 0], out[:, 0]]) if n_classes == 2 else out


def cross_validate(x: np.ndarray, y: np.ndarray, n_classes: int, recipe: TabularRecipe,
                   extra_x: np.ndarray | None = None) -> CVPredictions:
    """Repeated stratified K-fold: out-of-fold probabilities per repeat, and the folds."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    from precimed.predict import raw_output

    cv = RepeatedStratifiedKFold(n_splits=recipe.folds, n_repeats=recipe.repeats,
                                 random_state=recipe.seed)
    probs = np.zeros((recipe.repeats, len(y), n_classes))
    folds = np.zeros((recipe.repeats, len(y)), dtype="int64")
    extra = None if extra_x is None else np.zeros((recipe.repeats, len(extra_x), n_classes))
    for k, (tr, te) in enumerate(cv.split(x, y)):
        r, f = divmod(k, recipe.folds)
        model = fit(x[tr], y[tr], n_classes, recipe, recipe.seed + k)
        probs[r, te] = _as_classes(raw_output(model, x[te]), n_classes)
        folds[r, te] = f
        if extra is not None and extra_x is not None and len(extra_x):
            extra[r] += _as_classes(raw_output(model, extra_x), n_classes) / recipe.folds
    return CVPredictions(probs=probs, folds=folds, extra=extra)


def cross_validated_probabilities(x: np.ndarray, y: np.ndarray, n_classes: int,
                                  recipe: TabularRecipe) -> np.ndarray:
    """Out-of-fold probabilities, averaged over the repeats: shape (rows, classes)."""
    return cross_validate(x, y, n_classes, recipe).mean()


def cv_cache_path(model_id: str) -> Path:
    """Where the trainer keeps a bundle's per-repeat out-of-fold predictions (git-ignored)."""
    from precimed.registry import REPO_MODELS_DIR

    return REPO_MODELS_DIR.parent.parent / "build" / "cv" / f"{model_id}.npz"


def _fingerprint(x: np.ndarray, y: np.ndarray, recipe: TabularRecipe) -> str:
    import hashlib

    h = hashlib.sha256(np.ascontiguousarray(x, dtype="float64").tobytes())
    h.update(np.ascontiguousarray(y, dtype="int64").tobytes())
    keys = ("hidden", "dropout", "l2", "learning_rate", "epochs", "batch_size", "class_weight",
            "squash", "seed", "folds", "repeats")
    h.update(repr([getattr(recipe, k) for k in keys]).encode())
    return h.hexdigest()


def _save_cv(path: Path, cv: CVPredictions, fingerprint: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = cv.extra if cv.extra is not None else np.zeros((0,))
    np.savez_compressed(path, probs=cv.probs, folds=cv.folds, extra=extra,
                        fingerprint=np.array(fingerprint))


def load_cv(path: Path, fingerprint: str | None = None) -> CVPredictions | None:
    """The cached CV predictions, or ``None`` if absent or made from other data or recipe."""
    if not path.is_file():
        return None
    with np.load(path) as z:
        if fingerprint is not None and str(z["fingerprint"]) != fingerprint:
            return None
        extra = z["extra"] if z["extra"].ndim == 3 else None
        return CVPredictions(probs=z["probs"], folds=z["folds"], extra=extra)


def _prepared(recipe: TabularRecipe) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    card = dict(recipe.card)
    card["modality"] = "tabular"
    card["inputs"] = input_specs(recipe)
    x = encode(recipe.X, card)
    return card, x, np.asarray(recipe.y, dtype="int64")


def evaluated_card(recipe: TabularRecipe, card: dict[str, Any], x: np.ndarray, y: np.ndarray,
                   cv: CVPredictions) -> dict[str, Any]:
    """The card with its ``evaluation`` (metrics, calibration, baselines, subgroups, survival)."""
    from precimed.evaluation.pipeline import card_sections, evaluate_tabular

    extra_x = None if recipe.extra_X is None else encode(recipe.extra_X, card)
    card = dict(card)
    card["evaluation"] = evaluate_tabular(card, x, y, cv, recipe, extra_x=extra_x)
    card.update(card_sections(card, recipe))
    return card


def train_tabular_bundle(recipe: TabularRecipe, out_dir: Path) -> dict[str, Any]:
    """Cross-validate, fit on all rows, write the bundle; returns the card."""
    make_deterministic(recipe.seed)
    card, x, y = _prepared(recipe)
    n_classes = len(card["classes"])
    extra_x = None if recipe.extra_X is None else encode(recipe.extra_X, card)
    cv = cross_validate(x, y, n_classes, recipe, extra_x=extra_x)
    _save_cv(cv_cache_path(card["id"]), cv, _fingerprint(x, y, recipe))
    card = evaluated_card(recipe, card, x, y, cv)
    model = fit(x, y, n_classes, recipe, recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    take = np.sort(rng.choice(len(y), size=min(recipe.background_rows, len(y)), replace=False))
    background = recipe.X.iloc[take].reset_index(drop=True)
    card["explanation"] = {
        "method": "shap.DeepExplainer",
        "background": f"{len(take)} training rows drawn at random (seed {recipe.seed})",
        "output_scale": "probability",
    }
    write_bundle(out_dir, model, card, background=background)
    from precimed.registry import read_bundle

    return read_bundle(out_dir).card


def refresh_card(recipe: TabularRecipe, out_dir: Path) -> dict[str, Any] | None:
    """Rewrite a bundle's card from the cached CV predictions, without retraining.

    Returns ``None`` (nothing written) when the cache is missing or was made from other data or
    another recipe; then only a full :func:`train_tabular_bundle` can write the card.
    """
    import json

    from precimed.cards import validate_card
    from precimed.registry import CARD_FILE

    card, x, y = _prepared(recipe)
    cv = load_cv(cv_cache_path(card["id"]), _fingerprint(x, y, recipe))
    old_path = out_dir / CARD_FILE
    if cv is None or not old_path.is_file():
        return None
    old = json.loads(old_path.read_text("utf-8"))
    card = evaluated_card(recipe, card, x, y, cv)
    for key in ("explanation", "weights_sha256", "created"):  # the weights are unchanged
        card[key] = old[key]
    validate_card(card, source=str(old_path))
    old_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return card
