"""Vectorised member training, the one-model export and the embedded recalibration (tiny data)."""

from __future__ import annotations

import numpy as np
import pytest

from precimed.explain.tabular import deep_explainer_supports
from precimed.training.ensemble import MemberConfig, export_keras, sigmoid, train_members
from precimed.training.nested import calibration_fit, make_plan

CFG = MemberConfig(hidden=4, l2=1e-2, dropout=0.2, learning_rate=1e-2, batch_size=8, epochs=(2, 4))


def _data(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) * [1.0, 5.0, 0.1] + [0.0, 50.0, 2.0]
    y = (x[:, 0] + rng.normal(size=n) > 0).astype("int64")
    return x, y


def test_a_member_learns_only_from_its_own_rows() -> None:
    """Nested CV is honest only if a member never sees its held-out rows: flipping their labels
    (and moving their features) must leave that member's weights unchanged."""
    x, y = _data()
    masks = np.ones((len(y), 2))
    masks[:10, 0] = 0.0  # member 0 never trains on rows 0-9; member 1 does
    a = train_members(x, y, masks, CFG, seed=3)[4]
    x2, y2 = x.copy(), y.copy()
    y2[:10] = 1 - y2[:10]
    x2[:10] += 7.0
    b = train_members(x2, y2, masks, CFG, seed=3)[4]
    np.testing.assert_array_equal(a.w1[0], b.w1[0])
    np.testing.assert_array_equal(a.w2[0], b.w2[0])
    np.testing.assert_allclose(a.mu[0], b.mu[0])
    assert not np.allclose(a.w1[1], b.w1[1])  # the member that sees them does change


def test_export_is_the_mean_logit_then_the_stated_recalibration() -> None:
    x, y = _data(seed=1)
    masks = np.ones((len(y), 3))
    masks[:13, 0] = masks[13:26, 1] = masks[26:, 2] = 0.0
    members = train_members(x, y, masks, CFG, seed=5)[4]
    a, b = -0.4, 0.7
    model = export_keras(members, [0, 1, 2], x.astype("float32"), a, b)
    assert [layer.name for layer in model.layers][1:] == ["scale", "dense_0", "logit", "recalibration"]
    assert deep_explainer_supports(model)  # DeepExplainer stays exact (no new layer types)
    import keras

    z = np.asarray(keras.Model(model.inputs, model.get_layer("logit").output)(x.astype("float32")))[:, 0]
    np.testing.assert_allclose(z, members.logits(x, [0, 1, 2]).mean(axis=1), atol=1e-4)
    out = np.asarray(model(x.astype("float32")))[:, 0]
    np.testing.assert_allclose(out, sigmoid(a + b * z), atol=1e-6)


def test_deep_explainer_is_additive_on_the_exported_model() -> None:
    from precimed.explain.tabular import DeepBackend

    x, y = _data(seed=2)
    members = train_members(x, y, np.ones((len(y), 2)), CFG, seed=7)[4]
    model = export_keras(members, [0, 1], x.astype("float32"), 0.3, 0.8)
    values, expected = DeepBackend(model, x[:20].astype("float32")).explain(x[20:25].astype("float32"))
    out = np.asarray(model(x[20:25].astype("float32")))[:, 0]
    np.testing.assert_allclose(values[:, :, 0].sum(axis=1) + expected[0], out, atol=1e-4)


def test_plan_keeps_inner_folds_inside_the_outer_training_rows() -> None:
    y = np.array([0, 1] * 20)
    plan = make_plan(y, folds=4, repeats=2, inner_folds=3, seed=0)
    assert plan.masks.shape == (40, (8 + 1) * 3 + 9)
    for k, (tr, te) in enumerate(plan.outer):
        for f, (itr, ite) in enumerate(plan.inner[k]):
            assert set(itr) | set(ite) == set(tr) and not set(ite) & set(itr)
            assert plan.masks[te, plan.member(k, f)].sum() == 0  # never the outer test rows
            assert plan.masks[ite, plan.member(k, f)].sum() == 0
        assert plan.masks[te, plan.full_member(k)].sum() == 0


@pytest.mark.parametrize("slope", [0.5, 1.0, 2.0])
def test_calibration_slope_recovers_a_known_miscalibration(slope: float) -> None:
    rng = np.random.default_rng(0)
    true_logit = rng.normal(-1.5, 1.2, size=4000)
    y = (rng.random(4000) < sigmoid(true_logit)).astype("int64")
    p = sigmoid(true_logit / slope)  # over-confident when slope < 1
    fit = calibration_fit(y, p)
    lo, hi = fit["slope"]["ci95"]
    assert lo <= slope <= hi
    if slope == 1.0:
        assert fit["intercept"]["ci95"][0] <= 0.0 <= fit["intercept"]["ci95"][1]
