"""The binary nested CV (the genomic recipe's path) on tiny data: it runs end to end, and a
multiclass-only option cannot change its result."""

from __future__ import annotations

import numpy as np

from precimed.training.ensemble import MemberConfig
from precimed.training.nested import VARIANTS, nested_cv


def test_binary_nested_cv_runs_and_ignores_the_multiclass_recalibration() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] + rng.normal(size=60) > 0).astype("int64")
    grid = [MemberConfig(hidden=3, l2=1e-2, dropout=0.0, learning_rate=1e-2, batch_size=16, epochs=(2,))]
    a = nested_cv(x, y, grid, folds=3, repeats=1, inner_folds=3, seed=0)
    b = nested_cv(x, y, grid, folds=3, repeats=1, inner_folds=3, seed=0, recalibration="vector")
    assert a.per_repeat.shape == (1, 60) and tuple(a.variants) == VARIANTS
    np.testing.assert_array_equal(a.per_repeat, b.per_repeat)
    assert np.all((a.per_repeat > 0) & (a.per_repeat < 1))
    assert a.final_fit is not None and not a.final_fit.affine  # Platt: (a, b), no class map
