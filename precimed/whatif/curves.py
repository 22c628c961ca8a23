"""ICE and partial-dependence curves, computed in one batched model call.

*ICE* (individual conditional expectation; Goldstein et al., J Comput Graph Stat 2015): one
row's predicted probabilities as one feature sweeps its plausible range, every other feature
held at the row's values. *PDP* (partial dependence; Friedman, Ann Stat 2001): the mean of the
ICE curves of a cohort (the bundle's background rows, or an uploaded table).

The grid spans the card's ``min``–``max`` (the training range) and always contains the row's
own value, so the ICE curve passes through the row's prediction; categorical features sweep
their levels. scikit-learn's ``partial_dependence`` would do the same sweep, but needs a
scikit-learn estimator and loops over grid points; here all rows × points go to the Keras
model as one batch.

Example:
    >>> from precimed.registry import get_bundle  # doctest: +SKIP
    >>> c = ice_curve(bundle, row, "X200726_at")  # doctest: +SKIP
    >>> c.probabilities[c.current_index]  # doctest: +SKIP
    array([0.91, 0.09])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from precimed.cards import FeatureSpec
from precimed.errors import PrecimedInputError
from precimed.whatif.edits import Value, encode_rows, parse_value, resolve_feature

if TYPE_CHECKING:
    import pandas as pd

    from precimed.registry import Bundle

POINTS = 41
MAX_COHORT = 500  # rows of an uploaded cohort used for the PDP (first N); keeps it interactive


def feature_grid(spec: FeatureSpec, points: int = POINTS,
                 include: Sequence[Value] = ()) -> list[Value]:
    """Grid values of one feature: ``points`` evenly spaced over the card's range (whole numbers
    for ``int`` features) plus the values in ``include``, sorted; a category's levels.

    Example:
        >>> spec = FeatureSpec("grade", "int", min=1, max=3)
        >>> feature_grid(spec, points=5, include=[2.0])
        [1.0, 2.0, 3.0]
        >>> feature_grid(FeatureSpec("g", "float", min=0.0, max=1.0), points=3, include=[1.7])
        [0.0, 0.5, 1.0, 1.7]
    """
    if spec.is_categorical:
        return list(spec.levels)
    if spec.min is None or spec.max is None:
        raise PrecimedInputError(f"'{spec.name}' has no range in the model card",
                                 expected="min and max for numeric inputs")
    grid = np.linspace(float(spec.min), float(spec.max), max(points, 2))
    if spec.dtype == "int":
        grid = np.round(grid)
    extra = np.array([float(v) for v in include], dtype="float64")
    return [float(v) for v in np.unique(np.concatenate([grid, extra]))]


@dataclass
class IceCurve:
    """One row's probabilities along a feature's grid."""

    feature: str
    grid: list[Value]
    probabilities: np.ndarray  # (points, classes)
    classes: list[str]
    current_value: Value
    current_index: int
    fixed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"feature": self.feature, "grid": self.grid, "current_value": self.current_value,
                "current_index": self.current_index, "fixed": self.fixed,
                "probabilities": {c: self.probabilities[:, j].tolist()
                                  for j, c in enumerate(self.classes)}}


@dataclass
class PartialDependence:
    """The mean of the ICE curves of ``rows`` cohort rows (``ice`` keeps each curve)."""

    feature: str
    grid: list[Value]
    mean: np.ndarray  # (points, classes)
    ice: np.ndarray  # (rows, points, classes)
    classes: list[str]
    source: str

    @property
    def rows(self) -> int:
        return int(self.ice.shape[0])

    def to_json(self) -> dict[str, Any]:
        return {"feature": self.feature, "grid": self.grid, "rows": self.rows,
                "source": self.source,
                "mean": {c: self.mean[:, j].tolist() for j, c in enumerate(self.classes)}}


def sweep(bundle: Bundle, rows: Sequence[Mapping[str, Value]], feature: str,
          grid: Sequence[Value]) -> np.ndarray:
    """Probabilities (rows, points, classes) with ``feature`` set to each grid value in each
    row: rows × points model inputs, one batched call."""
    from precimed.predict import predict_proba

    card = bundle.card
    spec = resolve_feature(card, feature)
    base = encode_rows(card, rows)  # (r, d)
    p = len(grid)
    big = np.repeat(base, p, axis=0)  # row-major: row 0 all points, row 1 all points, …
    # Only the feature's own encoded columns change; encode one-row frames of the grid values
    # to get those columns exactly as encode() writes them (one-hot for categories).
    template = dict(rows[0])
    grid_rows = [{**template, spec.name: v} for v in grid]
    cols = _feature_columns(card, spec.name)
    grid_enc = encode_rows(card, grid_rows)[:, cols]  # (p, k)
    big[:, cols] = np.tile(grid_enc, (len(rows), 1))
    probs = predict_proba(bundle, big)
    return probs.reshape(len(rows), p, -1)


def _feature_columns(card: dict[str, Any], feature: str) -> list[int]:
    from precimed.tabular.validate import encoded_columns

    return [j for j, (name, _) in enumerate(encoded_columns(card)) if name == feature]


def ice_curve(bundle: Bundle, row: Mapping[str, Value], feature: str, *,
              points: int = POINTS) -> IceCurve:
    """This row's probabilities across ``feature``'s range; the row's own value is a grid point
    (``current_index``), where the curve equals the row's prediction.

    Raises:
        PrecimedInputError: unknown feature.
    """
    spec = resolve_feature(bundle.card, feature)
    current = parse_value(spec, row[spec.name])
    grid = feature_grid(spec, points, include=[] if spec.is_categorical else [current])
    probs = sweep(bundle, [row], spec.name, grid)[0]
    index = grid.index(current)
    return IceCurve(spec.name, grid, probs, bundle.classes, current, index, spec.fixed)


def partial_dependence(bundle: Bundle, cohort: pd.DataFrame | None, feature: str, *,
                       points: int = POINTS, grid: Sequence[Value] | None = None,
                       max_rows: int = MAX_COHORT) -> PartialDependence:
    """PDP of ``feature`` over ``cohort`` (a validated feature frame, see
    :func:`precimed.tabular.validate.validate_table`), or over the bundle's background rows
    when ``cohort`` is None. Only the first ``max_rows`` rows are used.

    Raises:
        PrecimedInputError: unknown feature, or an empty cohort.
    """
    spec = resolve_feature(bundle.card, feature)
    if cohort is None:
        from precimed.tabular.validate import validate_table

        frame = validate_table(bundle.background(), bundle.card).frame
        source = f"{len(frame)} background (training) rows kept in the bundle"
    else:
        frame = cohort.dropna()
        source = f"{min(len(frame), max_rows)} rows of the uploaded table"
    frame = frame.iloc[:max_rows]
    if frame.empty:
        raise PrecimedInputError("the cohort has no usable row", expected="at least one valid row")
    rows = [{k: (v if isinstance(v, str) else float(v)) for k, v in r.items()}
            for r in frame.to_dict(orient="records")]
    grid = list(grid) if grid is not None else feature_grid(spec, points)
    ice = sweep(bundle, rows, spec.name, grid)
    return PartialDependence(spec.name, grid, ice.mean(axis=0), ice, bundle.classes, source)
