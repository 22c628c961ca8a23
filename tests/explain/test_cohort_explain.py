"""The cohort explainer (all rows at once) gives DeepExplainer's per-row values to 1e-6, on
ordinary rows and on rows built to be ill-conditioned in float32 (near-copies of background
rows: every rescale ratio divides by a tiny gap), which it hands back to DeepExplainer."""

from __future__ import annotations

import numpy as np
import pytest

from precimed.explain.batched import cohort_explainer
from precimed.explain.deeplift import THRESHOLD, UNSTABLE_GAP, _unstable, chain_of, chain_values_checked
from precimed.explain.tabular import backend_for, background_matrix
from precimed.registry import get_bundle


@pytest.fixture(scope="module")
def rows() -> tuple[object, np.ndarray, np.ndarray]:
    bundle = get_bundle("breast-metastasis-gse7390")
    bg = background_matrix(bundle)
    rng = np.random.default_rng(14)
    spread = bg.std(axis=0) + 1e-3
    ordinary = bg[rng.integers(0, len(bg), 300)] + rng.normal(0, 0.3, (300, bg.shape[1])) * spread
    near = bg[rng.integers(0, len(bg), 20)] + rng.normal(0, 1e-5, (20, bg.shape[1])) * spread
    return bundle, np.vstack([ordinary, near]).astype(bg.dtype), bg


def test_cohort_values_equal_the_per_row_path(rows: tuple[object, np.ndarray, np.ndarray]) -> None:
    bundle, x, _ = rows
    explainer = cohort_explainer(bundle)  # type: ignore[arg-type]
    assert explainer.method.startswith("shap.DeepExplainer rule")  # the all-rows path, not a fallback
    fast, expected = explainer.explain(x)
    reference, ref_expected = backend_for(bundle).explain(x)  # type: ignore[arg-type]
    assert fast.shape == reference.shape == (len(x), x.shape[1], 1)
    assert np.abs(fast - reference).max() <= 1e-6
    assert np.allclose(expected, ref_expected)


def test_ill_conditioned_rows_are_found(rows: tuple[object, np.ndarray, np.ndarray]) -> None:
    bundle, x, bg = rows
    steps = chain_of(bundle.model())  # type: ignore[attr-defined]
    assert steps is not None
    _, unstable = chain_values_checked(steps, x, bg)
    assert unstable[-20:].all()  # the near-copies of background rows
    assert unstable[:300].mean() < 0.2  # most ordinary rows need no second pass


def test_which_gaps_are_unstable() -> None:
    def gaps(*values: float) -> np.ndarray:
        return np.array(values).reshape(len(values), 1, 1)

    assert _unstable("sigmoid", gaps(0.5 * UNSTABLE_GAP, 2 * UNSTABLE_GAP)).tolist() == [True, False]
    assert _unstable("relu", gaps(1.5 * THRESHOLD, 0.5 * UNSTABLE_GAP)).tolist() == [True, False]
    assert _unstable("sigmoid", gaps(0.0)).tolist() == [False]  # the same value: the gradient, exactly
    assert not _unstable("linear", gaps(1e-7)).any()


def test_other_models_are_explained_row_by_row_as_on_the_page() -> None:
    """DILI ends in a softmax, so it is no dense chain: its cohort values are the per-row
    path's own (a batched SHAP graph moved them by up to 0.016)."""
    bundle = get_bundle("dili-hepatic-injury-qsar")
    bg = background_matrix(bundle)
    x = (bg[:12] + 0.01 * (bg.std(axis=0) + 1e-3)).astype(bg.dtype)
    explainer = cohort_explainer(bundle)
    assert explainer.method == backend_for(bundle).name
    values, _ = explainer.explain(x)
    reference, _ = backend_for(bundle).explain(x)
    assert values.shape == reference.shape == (12, bg.shape[1], 3)
    assert np.array_equal(values, reference)
