"""SHAP values for a cohort's rows, equal to the per-row explanation of each patient.

A dense-chain model (normalisation, ``Dense`` layers, elementwise activations) is explained by
DeepExplainer's own rule run on all rows at once (:mod:`precimed.explain.deeplift`), and the few
rows whose float32 rounding could show at 1e-6 again by DeepExplainer; any other model row by
row, by the backend the Genomics page uses.

Why no batched SHAP graph for the other models: feeding many rows per DeepExplainer call (each
row tiled over the background in one joint batch) moved the DILI model's values by up to 0.016
(34 of 600 compounds by more than 1e-6: its tanh and softmax ratios divide by tiny gaps, and
TensorFlow rounds a row differently in another batch), and it was only 1.35× faster than the
per-row path (5.3 against 7.2 s for 600 compounds). A cohort's top features must be the ones a
clinician sees for the same patient on the page.

Example:
    >>> explainer = cohort_explainer(get_bundle("breast-metastasis-gse7390"))  # doctest: +SKIP
    >>> values, expected = explainer.explain(x)  # (rows, inputs, outputs), (outputs,)  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from precimed.registry import Bundle


@dataclass
class CohortExplainer:
    """How a cohort's rows are explained: ``method`` names it; ``explain(x)`` returns the
    backend's ``(values, expected)``."""

    method: str
    explain: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


_COHORT: dict[tuple[str, str], CohortExplainer] = {}
_COHORT_LOCK = threading.Lock()


def cohort_explainer(bundle: Bundle) -> CohortExplainer:
    """The fastest way to explain many rows of ``bundle`` with the per-row values (cached per
    weights):

    1. a dense chain DeepExplainer would explain: :mod:`precimed.explain.deeplift`, after it
       reproduced DeepExplainer's values on the bundle's own rows to 1e-6, with the
       ill-conditioned rows recomputed by DeepExplainer;
    2. anything else: the per-row path (``backend_for(bundle).explain``).
    """
    from precimed.explain.deeplift import verified_chain
    from precimed.explain.tabular import DeepBackend, backend_for, background_matrix

    key = (bundle.id, str(bundle.card["weights_sha256"]))
    with _COHORT_LOCK:
        found = _COHORT.get(key)
        if found is not None:
            return found
        backend = backend_for(bundle)
        steps = None
        if isinstance(backend, DeepBackend):
            bg = background_matrix(bundle)
            m = min(32, len(bg) // 2)
            sample = (0.5 * (bg[:m] + bg[len(bg) - m:])).astype(bg.dtype)  # between rows
            steps = verified_chain(bundle.model(), bg, backend.explain, sample)
        if steps is not None:
            found = CohortExplainer(
                "shap.DeepExplainer rule (DeepLIFT rescale), all rows at once; "
                "ill-conditioned rows by shap.DeepExplainer itself",
                _chain_explain(steps, bg, backend.explain, backend.explain(bg[:1])[1]))
        else:
            found = CohortExplainer(backend.name, backend.explain)
        _COHORT[key] = found
        return found


def _chain_explain(steps: Any, bg: np.ndarray, reference: Callable[[np.ndarray], Any],
                   expected: np.ndarray) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """All rows by the chain rule, then the few whose float32 rounding could show at 1e-6
    (about 5% of the genomic model's rows) again by DeepExplainer, so every row equals it."""
    from precimed.explain.deeplift import chain_values_checked

    def explain(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values, unstable = chain_values_checked(steps, x, bg)
        if unstable.any():
            values[unstable] = reference(np.asarray(x)[unstable])[0]
        return values, expected

    return explain
