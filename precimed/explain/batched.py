"""DeepExplainer values for many rows per TensorFlow call, for cohorts.

``shap.DeepExplainer.shap_values`` (SHAP 0.51, TensorFlow 2) explains one row per call: it
stacks the row, tiled once per background row, on top of the background, runs SHAP's modified
gradient graph (its DeepLIFT-style rules replace the gradients of the nonlinear ops; every
rule pairs position *p* of the first half of the batch with position *p* of the second) and
averages ``gradient × (x − background)`` over the background. At ~0.7 ms of call overhead per
row that is 12 minutes for 10^6 rows.

:func:`batched_deep_values` feeds ``k`` rows in one call: the first half holds each row tiled
over the background, the second half the background repeated ``k`` times, so every pair is the
one the per-row call would form, and SHAP's own graph and rules compute the values. The
arithmetic is the same per pair; only TensorFlow's batching of the matrix products differs, so
the values equal the per-row path to float32 rounding (tests check 1e-6). Models the per-row
path would not send to DeepExplainer never get here (see :func:`batched_backend`).

Example:
    >>> values, expected = batched_deep_values(backend, x)  # doctest: +SKIP
    >>> values.shape  # (rows, inputs, outputs)  # doctest: +SKIP
    (100000, 81, 1)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from precimed.registry import Bundle

# Joint batch of ~50,000 rows (rows × background × 2): large enough to hide the per-call cost,
# small enough (tens of MB of activations for an MLP) to keep memory flat.
JOINT_ROWS = 10_000


def deep_explainer_of(backend: Any) -> Any | None:
    """The TF2 ``shap`` Deep explainer inside a :class:`DeepBackend`, if its internals are the
    ones this module relies on (one input, a background array, eager mode); else ``None``."""
    inner = getattr(getattr(backend, "_explainer", None), "explainer", None)
    needed = ("phi_symbolic", "run", "data", "model_inputs", "phi_symbolics", "expected_value")
    if inner is None or not all(hasattr(inner, n) for n in needed):
        return None
    if getattr(inner, "multi_input", True) or callable(inner.data):
        return None
    data = inner.data[0] if isinstance(inner.data, list) else inner.data
    if not isinstance(data, np.ndarray) or data.ndim != 2:
        return None
    return inner


def batched_deep_values(backend: Any, x: np.ndarray, *,
                        joint_rows: int = JOINT_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """SHAP values of ``x`` (rows, inputs) as ``backend.explain`` gives them, many rows per
    call: ``(values (rows, inputs, outputs), expected (outputs,))``.

    Raises:
        ValueError: the backend is not a DeepExplainer this module can batch.
    """
    inner = deep_explainer_of(backend)
    if inner is None:
        raise ValueError("not a batchable shap.DeepExplainer")
    bg = np.asarray(inner.data[0] if isinstance(inner.data, list) else inner.data)
    x = np.asarray(x, dtype=bg.dtype)
    b = len(bg)
    k = max(1, joint_rows // (2 * b))
    outputs = len(inner.phi_symbolics)
    values = np.zeros((len(x), x.shape[1], outputs), dtype="float64")
    with backend._lock:  # the gradient registry is process-wide (see DeepBackend)
        for start in range(0, len(x), k):
            rows = x[start:start + k]
            m = len(rows)
            joint = np.concatenate([np.repeat(rows, b, axis=0), np.tile(bg, (m, 1))])
            diff = rows[:, None, :] - bg[None, :, :]  # (m, b, inputs), as x[j] - data
            for i in range(outputs):
                grads = inner.run(inner.phi_symbolic(i), inner.model_inputs, [joint])[0]
                g = grads[m * b:].reshape(m, b, -1)  # the background half, as SHAP reads it
                values[start:start + m, :, i] = (g * diff).mean(axis=1)
        expected = np.atleast_1d(np.asarray(inner.expected_value, dtype="float64"))
    return values, expected


@dataclass
class CohortExplainer:
    """How a cohort's rows are explained: ``method`` names it; ``explain(x)`` returns the
    backend's ``(values, expected)``."""

    method: str
    explain: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


_COHORT: dict[tuple[str, str], CohortExplainer] = {}
_COHORT_LOCK = threading.Lock()


def cohort_explainer(bundle: Bundle) -> CohortExplainer:
    """The fastest exact way to explain many rows of ``bundle`` (cached per weights):

    1. a dense chain DeepExplainer would explain: :mod:`precimed.explain.deeplift`, after it
       reproduced DeepExplainer's values on the bundle's own rows to 1e-6;
    2. any other model DeepExplainer explains: SHAP's graph, many rows per call;
    3. anything else: the per-row path (``backend_for(bundle).explain``).
    """
    from precimed.explain.deeplift import verified_chain
    from precimed.explain.tabular import DeepBackend, backend_for, background_matrix

    key = (bundle.id, str(bundle.card["weights_sha256"]))
    with _COHORT_LOCK:
        found = _COHORT.get(key)
        if found is not None:
            return found
        backend = backend_for(bundle)
        if isinstance(backend, DeepBackend) and deep_explainer_of(backend) is not None:
            bg = background_matrix(bundle)
            m = min(32, len(bg) // 2)
            sample = (0.5 * (bg[:m] + bg[len(bg) - m:])).astype(bg.dtype)  # between rows
            steps = verified_chain(bundle.model(), bg, backend.explain, sample)
            expected = backend.explain(bg[:1])[1]
            if steps is not None:
                found = CohortExplainer(
                    "shap.DeepExplainer rule (DeepLIFT rescale), all rows at once; "
                    "ill-conditioned rows by shap.DeepExplainer itself",
                    _chain_explain(steps, bg, backend.explain, expected))
            else:
                found = CohortExplainer("shap.DeepExplainer, many rows per call",
                                        lambda x: batched_deep_values(backend, x))
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
