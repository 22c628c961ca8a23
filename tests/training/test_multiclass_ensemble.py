"""Multiclass nested CV: K-logit members, recalibration of the class logits, the one-model export."""

from __future__ import annotations

import numpy as np
import pytest

from precimed.explain.tabular import deep_explainer_supports
from precimed.training import recalibrate
from precimed.training.ensemble import MemberConfig, export_keras_multiclass, train_members
from precimed.training.nested import make_plan, nested_cv

CFG = MemberConfig(hidden=4, l2=1e-2, dropout=0.2, learning_rate=1e-2, batch_size=8, epochs=(2, 4),
                   squash=True, balanced=True)


def _data(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)) * [1.0, 5.0, 0.1, 2.0] + [0.0, 50.0, 2.0, -3.0]
    score = x[:, 0] + 0.2 * (x[:, 1] - 50) + rng.normal(size=n)
    y = np.digitize(score, np.quantile(score, [0.5, 0.85])).astype("int64")  # 3 classes, one rare
    return x, y


def test_a_multiclass_member_learns_only_from_its_own_rows() -> None:
    x, y = _data()
    masks = np.ones((len(y), 2))
    masks[:15, 0] = 0.0
    scale = np.ones_like(masks)  # block standardisation: all rows, for both members
    a = train_members(x, y, masks, CFG, seed=3, n_classes=3, scale_masks=scale)[4]
    x2, y2 = x.copy(), y.copy()
    y2[:15] = (y2[:15] + 1) % 3
    b = train_members(x2, y2, masks, CFG, seed=3, n_classes=3, scale_masks=scale)[4]
    assert a.w2.shape == (2, 4, 3) and a.b2.shape == (2, 3)
    np.testing.assert_array_equal(a.w1[0], b.w1[0])
    np.testing.assert_array_equal(a.w2[0], b.w2[0])
    assert not np.allclose(a.w2[1], b.w2[1])


def test_multiclass_export_is_the_mean_logits_then_the_stated_recalibration() -> None:
    import keras

    x, y = _data(seed=1)
    masks = np.ones((len(y), 3))
    masks[:20, 0] = masks[20:40, 1] = masks[40:, 2] = 0.0
    members = train_members(x, y, masks, CFG, seed=5, n_classes=3, scale_masks=np.ones_like(masks))[4]
    w = np.array([[0.8, 0.1, 0.0], [0.0, 1.2, -0.1], [0.2, 0.0, 0.6]])
    c = np.array([0.3, -0.1, -0.2])
    model = export_keras_multiclass(members, [0, 1, 2], x.astype("float32"), w, c)
    assert [layer.name for layer in model.layers][1:] == ["scale", "squash", "dense_0", "logit",
                                                          "recalibration"]
    assert deep_explainer_supports(model)  # DeepExplainer stays exact (allow-listed layers only)
    z = np.asarray(keras.Model(model.inputs, model.get_layer("logit").output)(x.astype("float32")))
    np.testing.assert_allclose(z, members.logits(x, [0, 1, 2]).mean(axis=1), atol=1e-4)
    out = np.asarray(model(x.astype("float32")))
    np.testing.assert_allclose(out, recalibrate.apply(z, (w, c)), atol=1e-5)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_squashed_members_of_different_blocks_cannot_be_exported_as_one() -> None:
    x, y = _data(seed=2)
    masks = np.ones((len(y), 2))
    masks[:30, 0] = 0.0
    members = train_members(x, y, masks, CFG, seed=1, n_classes=3)[2]  # each its own standardisation
    with pytest.raises(ValueError, match="share one standardisation"):
        export_keras_multiclass(members, [0, 1], x.astype("float32"), np.eye(3), np.zeros(3))


def test_deep_explainer_is_additive_for_every_class_of_the_export() -> None:
    from precimed.explain.tabular import DeepBackend

    x, y = _data(seed=3)
    members = train_members(x, y, np.ones((len(y), 2)), CFG, seed=7, n_classes=3)[4]
    w, c = recalibrate.fit(members.logits(x).mean(axis=1), y, "temperature+bias")
    model = export_keras_multiclass(members, [0, 1], x.astype("float32"), w, c)
    values, expected = DeepBackend(model, x[:30].astype("float32")).explain(x[40:45].astype("float32"))
    out = np.asarray(model(x[40:45].astype("float32")))
    np.testing.assert_allclose(values.sum(axis=1) + expected, out, atol=1e-4)


@pytest.mark.parametrize("method", recalibrate.METHODS)
def test_recalibration_recovers_a_known_miscalibration(method: str) -> None:
    """Logits that are over-confident (T = 2) and biased toward the rare class: the fitted map
    turns them back into the true probabilities."""
    rng = np.random.default_rng(0)
    true = rng.normal(size=(6000, 3)) * [1.0, 1.0, 1.0] + [0.5, 0.8, -1.0]
    p_true = recalibrate.softmax(true)
    y = np.array([rng.choice(3, p=p) for p in p_true])
    lg = 2.0 * true + np.array([0.0, 0.0, 1.5])  # too extreme, and 'class 2' pushed up
    w, c = recalibrate.fit(lg, y, method)
    fitted = recalibrate.apply(lg, (w, c))
    if method == "temperature":  # no shifts: the slope is right, the rare-class bias stays
        assert np.diag(w) == pytest.approx([0.5] * 3, abs=0.08) and np.all(c == 0)
        return
    assert np.abs(fitted - p_true).mean() < 0.02
    if method != "matrix":
        assert np.allclose(w, np.diag(np.diag(w)))  # constrained forms stay diagonal
    if method == "temperature+bias":
        assert np.diag(w) == pytest.approx([0.5] * 3, abs=0.05)


def test_nested_cv_multiclass_gives_out_of_fold_class_probabilities() -> None:
    x, y = _data(n=90, seed=4)
    grid = [MemberConfig(hidden=4, l2=1e-2, dropout=0.0, learning_rate=1e-2, batch_size=16,
                         epochs=(2, 3), squash=True, balanced=True)]
    res = nested_cv(x, y, grid, folds=3, repeats=2, inner_folds=3, seed=0, n_classes=3,
                    recalibration="temperature+bias", replicas=2)
    assert res.per_repeat.shape == (2, 90, 3)
    np.testing.assert_allclose(res.per_repeat.sum(axis=2), 1.0, atol=1e-9)
    assert len(res.chosen) == 6 and res.final_point in res.grid
    assert len(res.final_idx) == 3 * 2  # inner folds x replicas
    assert res.final_fit is not None and set(res.final_fit.affine) == set(recalibrate.METHODS)
    assert next(iter(res.variants)).startswith("bagged, temperature+bias recalibration (shipped)")
    # Replicas: 2 members per (block, fold), trained on the same rows.
    plan = make_plan(y, folds=3, repeats=2, inner_folds=3, seed=0, replicas=2)
    first, second = plan.fold_members(0, 1)
    np.testing.assert_array_equal(plan.masks[:, first], plan.masks[:, second])
    assert plan.masks.shape[1] == (6 + 1) * 3 * 2 + 7
