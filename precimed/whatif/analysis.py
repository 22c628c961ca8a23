"""Re-predict and re-explain an edited row, with the change against the original.

Both rows (original and edited) go through the model and the explainer together, in one
batched call each (:func:`precimed.predict.predict_proba`,
:func:`precimed.explain.tabular.explain_matrix`), so an edit costs two rows of work. SHAP
values are per feature and per class on the probability scale; for every class
``base + Σ values = probability`` (SHAP's local accuracy), before and after the edit.

Example:
    >>> from precimed.registry import get_bundle  # doctest: +SKIP
    >>> w = evaluate_edits(bundle, row, {"X200726_at": 12.0})  # doctest: +SKIP
    >>> w.delta_probabilities()  # doctest: +SKIP
    {'no metastasis': -0.031, 'metastasis': 0.031}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from precimed import audit
from precimed.whatif.edits import EditedRow, EditFlag, Value, apply_edits, encode_rows

if TYPE_CHECKING:
    from precimed.registry import Bundle


@dataclass
class RowState:
    """One row's prediction and explanation (all classes)."""

    values: dict[str, Value]
    probabilities: dict[str, float]
    prediction: str
    shap: dict[str, dict[str, float]]  # class → feature → SHAP value

    def to_json(self, class_name: str | None = None) -> dict[str, Any]:
        shap = self.shap if class_name is None else {class_name: self.shap[class_name]}
        return {"values": self.values, "probabilities": self.probabilities,
                "prediction": self.prediction, "shap": shap}


@dataclass
class WhatIf:
    """The original row, the edited row, and what changed between them."""

    model: str
    classes: list[str]
    base_values: dict[str, float]
    before: RowState
    after: RowState
    changed: list[str]
    flags: list[EditFlag] = field(default_factory=list)
    method: str = ""

    def delta_probabilities(self) -> dict[str, float]:
        """Class → probability after − before."""
        return {c: self.after.probabilities[c] - self.before.probabilities[c] for c in self.classes}

    def delta_shap(self, class_name: str) -> dict[str, float]:
        """Feature → SHAP value after − before, for ``class_name``."""
        a, b = self.after.shap[class_name], self.before.shap[class_name]
        return {f: a[f] - b[f] for f in a}

    def additivity_error(self) -> float:
        """Largest |base + Σ SHAP − probability| over both rows and every class."""
        err = 0.0
        for state in (self.before, self.after):
            for c in self.classes:
                total = self.base_values[c] + sum(state.shap[c].values())
                err = max(err, abs(total - state.probabilities[c]))
        return err

    def to_json(self, class_name: str | None = None, top: int | None = None) -> dict[str, Any]:
        """JSON-able summary; ``class_name`` restricts SHAP to one class, ``top`` keeps the
        features with the largest |ΔSHAP| (every feature by default)."""
        classes = [class_name] if class_name else self.classes
        delta = {c: self.delta_shap(c) for c in classes}
        if top is not None:
            keep = sorted(delta[classes[0]], key=lambda f: -abs(delta[classes[0]][f]))[:top]
            delta = {c: {f: d[f] for f in keep} for c, d in delta.items()}
        return {
            "model": self.model,
            "method": self.method,
            "changes": {f: self.after.values[f] for f in self.changed},
            "flags": [f.to_json() for f in self.flags],
            "before": {"probabilities": self.before.probabilities,
                       "prediction": self.before.prediction},
            "after": {"probabilities": self.after.probabilities,
                      "prediction": self.after.prediction},
            "delta_probabilities": self.delta_probabilities(),
            "base_values": {c: self.base_values[c] for c in classes},
            "shap_before": {c: self.before.shap[c] for c in classes},
            "shap_after": {c: self.after.shap[c] for c in classes},
            "delta_shap": delta,
            "additivity_error": self.additivity_error(),
        }


def evaluate_rows(bundle: Bundle,
                  rows: list[Mapping[str, Value]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities (n, classes), SHAP values (n, features, classes) and base (classes,) for
    rows given as feature → value, in one batched model call and one explainer call."""
    from precimed.explain.tabular import explain_matrix
    from precimed.predict import predict_proba

    x = encode_rows(bundle.card, rows)
    probs = predict_proba(bundle, x)
    values, base = explain_matrix(bundle, x)
    return probs, values, base


def evaluate_edits(bundle: Bundle, row: Mapping[str, Any], edits: Mapping[str, Any], *,
                   allow_extrapolation: bool = True) -> WhatIf:
    """Apply ``edits`` to ``row`` (see :func:`precimed.whatif.edits.apply_edits`), then predict
    and explain both the original and the edited row.

    Raises:
        PrecimedInputError: an edit the card does not allow.
    """
    edited = apply_edits(bundle.card, row, edits, allow_extrapolation=allow_extrapolation)
    return evaluate_edited(bundle, edited)


def evaluate_edited(bundle: Bundle, edited: EditedRow) -> WhatIf:
    """Predict and explain an already checked :class:`EditedRow`."""
    from precimed.explain.tabular import backend_for
    from precimed.predict import decide

    card = bundle.card
    classes = bundle.classes
    names = list(edited.original)
    probs, values, base = evaluate_rows(bundle, [edited.original, edited.edited])
    picks = decide(probs, card)
    # The trail keeps which features changed and the probabilities, never the values.
    audit.record("whatif", bundle, encode_rows(card, [edited.original, edited.edited]),
                 {"changed": list(edited.changed),
                  "before": {c: float(probs[0, j]) for j, c in enumerate(classes)},
                  "after": {c: float(probs[1, j]) for j, c in enumerate(classes)}})
    states = []
    for k, vals in enumerate((edited.original, edited.edited)):
        states.append(RowState(
            values=dict(vals),
            probabilities={c: float(probs[k, j]) for j, c in enumerate(classes)},
            prediction=classes[int(picks[k])],
            shap={c: {f: float(values[k, i, j]) for i, f in enumerate(names)}
                  for j, c in enumerate(classes)},
        ))
    return WhatIf(model=bundle.id, classes=classes,
                  base_values={c: float(base[j]) for j, c in enumerate(classes)},
                  before=states[0], after=states[1], changed=list(edited.changed),
                  flags=list(edited.flags), method=backend_for(bundle).name)
