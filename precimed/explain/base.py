"""The explainer backend interface and the explanation record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


class ExplainerBackend(Protocol):
    """Explains model-ready rows.

    ``explain(x)`` returns ``(values, expected)``: values shaped (rows, inputs, outputs) and the
    expected output over the background, shaped (outputs,). Values plus expected add up to the
    model output (SHAP's local accuracy).
    """

    name: str

    def explain(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass
class Explanation:
    """One row's explanation for one class, on the probability scale.

    ``base_value + sum(values) == output`` to within float error (checked in tests).
    """

    row: int
    class_name: str
    base_value: float
    output: float
    values: dict[str, float]
    feature_values: dict[str, Any]
    method: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def additivity_error(self) -> float:
        return abs(self.base_value + sum(self.values.values()) - self.output)

    def to_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "class": self.class_name,
            "method": self.method,
            "base_value": self.base_value,
            "output": self.output,
            "values": self.values,
            "feature_values": {k: _jsonable(v) for k, v in self.feature_values.items()},
        }


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v
