"""The tabular MLP's input layers: constant training columns and the tanh squash."""

from __future__ import annotations

import numpy as np
import pandas as pd

from precimed.training.tabular import TabularRecipe, build_mlp


def _recipe(x: np.ndarray, **kw: object) -> TabularRecipe:
    return TabularRecipe(X=pd.DataFrame(x), y=np.zeros(len(x), dtype="int64"), card={}, **kw)  # type: ignore[arg-type]


def test_constant_training_column_is_centred_not_divided_by_epsilon() -> None:
    x = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
    x[:, 1] = 4.0  # e.g. a fingerprint absent from every training compound (or CV fold)
    model = build_mlp(x, 3, _recipe(x))
    scaled = np.asarray(model.get_layer("scale")(np.array([[0.0, 5.0, 0.0]], dtype="float32")))
    assert scaled[0, 1] == 1.0  # (5 - 4) / 1, not (5 - 4) / 1e-7
    assert np.all(np.isfinite(np.asarray(model(x[:2]))))


def test_squash_bounds_the_scaled_inputs() -> None:
    x = np.random.default_rng(1).normal(size=(40, 2)).astype("float32")
    model = build_mlp(x, 3, _recipe(x, squash=True))
    names = [layer.name for layer in model.layers]
    assert names[:3] == [names[0], "scale", "squash"]
    sub = np.asarray(model.get_layer("squash")(model.get_layer("scale")(
        np.array([[1e4, -1e4]], dtype="float32"))))
    np.testing.assert_allclose(sub, [[1.0, -1.0]], atol=1e-6)
    assert "squash" not in [layer.name for layer in build_mlp(x, 3, _recipe(x)).layers]
