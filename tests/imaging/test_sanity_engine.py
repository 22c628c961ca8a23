"""The sanity-check engine (precimed.imaging.sanity): randomisation touches only the top layers."""

from __future__ import annotations

import numpy as np
import pytest

from precimed.imaging.sanity import METHODS, randomised_copy, spearman_abs, weighted_layers
from precimed.registry import get_bundle


def test_spearman_of_absolute_values() -> None:
    a = np.arange(16.0).reshape(4, 4)
    assert spearman_abs(a, -a) == pytest.approx(1.0)
    assert spearman_abs(a, np.zeros_like(a)) == 0.0


@pytest.mark.parametrize("method", sorted(METHODS))
def test_randomisation_changes_only_the_top_layers(method) -> None:
    model = get_bundle("lesion-cnn-synthetic").model()
    copy = randomised_copy(model, 2, method, seed=1)
    old, new = weighted_layers(model), weighted_layers(copy)
    assert len(old) == len(new) >= 3
    for i, (a, b) in enumerate(zip(old, new, strict=True)):
        same = all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights(), strict=True))
        assert same == (i < len(old) - 2), a.name
