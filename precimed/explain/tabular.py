"""SHAP explanations for tabular Keras MLPs.

``shap.DeepExplainer`` is exact for Dense/ReLU/sigmoid/softmax networks and takes ~5 ms a row,
but once it meets an op it does not support it breaks gradients for the whole process. So a
model reaches it only if every layer is on an allow-list; any other model uses SHAP's
Permutation explainer, which is slower but model-agnostic and exactly additive.

One-hot columns of a categorical feature are summed back into that feature, which keeps the
additivity (base value + Σ values = output).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from precimed import audit, lazy
from precimed.explain.base import ExplainerBackend, Explanation
from precimed.predict import decide, raw_output, to_probabilities
from precimed.tabular.validate import aggregation_matrix, encode, validate_table

if TYPE_CHECKING:
    from precimed.registry import Bundle
    from precimed.tabular.validate import ValidatedTable

DEEP_SAFE_LAYERS = {"InputLayer", "Dense", "Dropout", "Normalization", "BatchNormalization",
                    "Activation", "ReLU", "GaussianNoise"}
DEEP_SAFE_ACTIVATIONS = {"relu", "linear", "sigmoid", "softmax", "tanh", "elu", "softplus"}
BACKGROUND_ROWS = 100


def deep_explainer_supports(model: Any) -> bool:
    """True if every layer and activation of ``model`` is one DeepExplainer handles."""
    for layer in model.layers:
        if type(layer).__name__ not in DEEP_SAFE_LAYERS:
            return False
        act = getattr(layer, "activation", None)
        if act is not None and getattr(act, "__name__", "linear") not in DEEP_SAFE_ACTIVATIONS:
            return False
    return True


_DEEP_LOCK = threading.Lock()


class DeepBackend:
    """``shap.DeepExplainer`` on the model (exact for the allow-listed layers)."""

    name = "shap.DeepExplainer"

    def __init__(self, model: Any, background: np.ndarray) -> None:
        shap = lazy.shap()

        self._explainer = shap.DeepExplainer(model, background)
        # DeepExplainer swaps TensorFlow's process-wide gradient registry while it runs: one
        # call at a time across *all* instances (two bundles explained at once in two threads,
        # e.g. Streamlit's fast reruns, break gradients for the whole process).
        self._lock = _DEEP_LOCK

    def explain(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            # Additivity is checked by our tests (and shown on the page); SHAP's own check
            # would run the model a second time on every call.
            values = np.asarray(self._explainer.shap_values(x, check_additivity=False),
                                dtype="float64")
            expected = np.atleast_1d(np.asarray(self._explainer.expected_value, dtype="float64"))
        if values.ndim == 2:
            values = values[:, :, None]
        return values, expected


class PermutationBackend:
    """SHAP's Permutation explainer over the background (any model; exactly additive)."""

    name = "shap.PermutationExplainer"

    def __init__(self, model: Any, background: np.ndarray) -> None:
        shap = lazy.shap()

        self._model = model
        masker = shap.maskers.Independent(background, max_samples=len(background))
        self._explainer = shap.PermutationExplainer(self._f, masker)

    def _f(self, x: np.ndarray) -> np.ndarray:
        return raw_output(self._model, np.asarray(x, dtype="float32"))

    def explain(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        result = self._explainer(x, max_evals=2 * x.shape[1] + 1 + 2 * x.shape[1] * 5)
        values = np.asarray(result.values, dtype="float64")
        if values.ndim == 2:
            values = values[:, :, None]
        base = np.atleast_1d(np.asarray(result.base_values, dtype="float64"))
        expected = base.reshape(len(x), -1)[0] if base.size > 1 else base
        return values, expected


_BACKENDS: dict[tuple[str, str], ExplainerBackend] = {}
_BACKENDS_LOCK = threading.Lock()


def background_matrix(bundle: Bundle, rows: int = BACKGROUND_ROWS) -> np.ndarray:
    """The bundle's background rows (first ``rows``), validated and encoded."""
    frame = bundle.background().iloc[:rows]
    return encode(validate_table(frame, bundle.card).frame, bundle.card)


def backend_for(bundle: Bundle) -> ExplainerBackend:
    """The cached explainer backend of a tabular bundle."""
    key = (bundle.id, bundle.card["weights_sha256"])
    with _BACKENDS_LOCK:
        if key not in _BACKENDS:
            model = bundle.model()
            bg = background_matrix(bundle)
            cls = DeepBackend if deep_explainer_supports(model) else PermutationBackend
            _BACKENDS[key] = cls(model, bg)
        return _BACKENDS[key]


def explain_matrix(bundle: Bundle, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SHAP values per *feature* and class on the probability scale.

    Returns:
        ``(values, base)`` with values shaped (rows, features, classes) and base (classes,),
        in the card's class order.
    """
    values, expected = backend_for(bundle).explain(x)
    return feature_scale(bundle, values, expected)


def feature_scale(bundle: Bundle, values: np.ndarray,
                  expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Backend output (rows, encoded inputs, outputs) → :func:`explain_matrix`'s shapes."""
    agg = aggregation_matrix(bundle.card)
    feat = np.einsum("nio,if->nfo", values, agg)
    card = bundle.card
    if card["task"] == "binary":
        pos = card["classes"].index(card["positive_class"])
        both = np.empty(feat.shape[:2] + (2,))
        both[:, :, pos] = feat[:, :, 0]
        both[:, :, 1 - pos] = -feat[:, :, 0]
        base = np.empty(2)
        base[pos] = expected[0]
        base[1 - pos] = 1.0 - expected[0]
        return both, base
    return feat, expected


def explain_rows(bundle: Bundle, table: ValidatedTable, rows: list[int],
                 class_name: str | None = None) -> list[Explanation]:
    """Explain rows of a validated table.

    Args:
        bundle: a tabular bundle.
        table: from :func:`precimed.tabular.validate.validate_table`.
        rows: 0-based rows, each among ``table.valid_rows``.
        class_name: the class to explain; default the positive class (binary) or the predicted
            class of each row (multiclass).

    Example:
        >>> [e] = explain_rows(bundle, table, [0])  # doctest: +SKIP
        >>> abs(e.base_value + sum(e.values.values()) - e.output) < 1e-4  # doctest: +SKIP
        True
    """
    from precimed.errors import PrecimedInputError

    card = bundle.card
    classes = card["classes"]
    for r in rows:
        if r not in table.valid_rows:
            reason = table.row_errors().get(r, "no such row")
            raise PrecimedInputError(f"row {r} cannot be explained: {reason}",
                                     expected=f"a valid row between 0 and {len(table.frame) - 1}")
    if class_name is not None and class_name not in classes:
        raise PrecimedInputError(f"unknown class '{class_name}'", expected=f"one of {classes}")
    frame = table.frame.iloc[rows]
    x = encode(frame, card)
    values, base = explain_matrix(bundle, x)
    probs = to_probabilities(raw_output(bundle.model(), x), card)
    picks = decide(probs, card)
    names = list(frame.columns)
    cells = frame.to_numpy(dtype=object)  # to_dict("records") costs ~10 ms for 80 columns
    method = backend_for(bundle).name
    out: list[Explanation] = []
    for k, r in enumerate(rows):
        if class_name is not None:
            c = classes.index(class_name)
        elif card["task"] == "binary":
            c = classes.index(card["positive_class"])
        else:
            c = int(picks[k])
        out.append(Explanation(
            row=r, class_name=classes[c], base_value=float(base[c]), output=float(probs[k, c]),
            values={n: float(values[k, j, c]) for j, n in enumerate(names)},
            feature_values=dict(zip(names, cells[k], strict=True)),
            method=method,
        ))
    audit.record("explain", bundle, x, audit.explanation_output(out))
    return out


def explain_table(bundle: Bundle, table: ValidatedTable, class_name: str) -> tuple[np.ndarray, Any]:
    """SHAP values of every valid row for one class, for cohort summaries.

    Returns:
        ``(values, frame)``: values shaped (valid rows, features) and the matching raw frame.
    """
    frame = table.frame.iloc[table.valid_rows]
    values, _ = explain_matrix(bundle, encode(frame, bundle.card))
    return values[:, :, bundle.classes.index(class_name)], frame
