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
from precimed.training.common import binary_metrics, make_deterministic, write_bundle


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


def cross_validated_probabilities(x: np.ndarray, y: np.ndarray, n_classes: int,
                                  recipe: TabularRecipe) -> np.ndarray:
    """Out-of-fold probabilities, averaged over the repeats: shape (rows, classes)."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    from precimed.predict import raw_output

    cv = RepeatedStratifiedKFold(n_splits=recipe.folds, n_repeats=recipe.repeats,
                                 random_state=recipe.seed)
    total = np.zeros((len(y), n_classes))
    for k, (tr, te) in enumerate(cv.split(x, y)):
        model = fit(x[tr], y[tr], n_classes, recipe, recipe.seed + k)
        out = raw_output(model, x[te])
        total[te] += np.column_stack([1 - out[:, 0], out[:, 0]]) if n_classes == 2 else out
    return total / recipe.repeats


def train_tabular_bundle(recipe: TabularRecipe, out_dir: Path) -> dict[str, Any]:
    """Cross-validate, fit on all rows, write the bundle; returns the card."""
    make_deterministic(recipe.seed)
    card = dict(recipe.card)
    card["modality"] = "tabular"
    card["inputs"] = input_specs(recipe)
    classes = card["classes"]
    n_classes = len(classes)
    x = encode(recipe.X, card)
    y = np.asarray(recipe.y, dtype="int64")
    probs = cross_validated_probabilities(x, y, n_classes, recipe)
    evaluation = dict(card.get("evaluation", {}))
    evaluation["method"] = (f"{recipe.repeats}x{recipe.folds} repeated stratified cross-validation; "
                            "out-of-fold probabilities averaged over repeats; 95% CIs by "
                            "stratified bootstrap (2000 resamples)")
    if n_classes == 2:
        pos = classes.index(card["positive_class"])
        yb = (y == pos).astype(int)
        evaluation.update(binary_metrics(yb, probs[:, pos], threshold=float(card["threshold"])))
    else:
        from precimed.training.multiclass import multiclass_metrics

        evaluation.update(multiclass_metrics(y, probs, classes))
    card["evaluation"] = evaluation
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
