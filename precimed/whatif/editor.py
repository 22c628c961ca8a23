"""What the what-if editor shows: which features, in which order, with which bounds.

A model may have hundreds of inputs (the DILI model has 376): the page shows the ``top``
features by the size of their effect on this row (|SHAP| of the explained class), every
feature already edited, and the features whose name matches a search, never all of them.

Example:
    >>> from precimed.cards import FeatureSpec
    >>> specs = [FeatureSpec("a", "float", min=0, max=1), FeatureSpec("b", "float", min=0, max=1),
    ...          FeatureSpec("gene_x", "float", min=0, max=1)]
    >>> visible_features(specs, {"a": 0.1, "b": -0.3, "gene_x": 0.0}, top=1, search="gene")
    ['b', 'gene_x']
    >>> widget_bounds(FeatureSpec("a", "float", min=0.0, max=10.0), 12.0)
    (0.0, 12.0, 0.1)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from precimed.cards import FeatureSpec
from precimed.whatif.edits import Value

SEARCH_LIMIT = 30  # most search matches shown at once


def effect_order(shap: Mapping[str, float]) -> list[str]:
    """Features sorted by |SHAP|, largest first (ties keep card order)."""
    return sorted(shap, key=lambda f: -abs(shap[f]))


def visible_features(specs: Sequence[FeatureSpec], shap: Mapping[str, float], *, top: int,
                     search: str = "", edited: Iterable[str] = (),
                     limit: int = SEARCH_LIMIT) -> list[str]:
    """The features to render: the ``top`` largest |SHAP|, those already ``edited``, and up
    to ``limit`` whose name, gene symbol or description contains ``search`` (case-insensitive), in the
    order of their effect."""
    order = effect_order({s.name: shap.get(s.name, 0.0) for s in specs})
    show = set(order[:max(top, 0)]) | set(edited)
    query = search.strip().lower()
    if query:
        matches = [s.name for s in specs
                   if query in s.name.lower() or query in (s.description or "").lower()
                   or query in (s.symbol or "").lower()]
        show |= set(sorted(matches, key=order.index)[:limit])
    return [f for f in order if f in show]


def widget_bounds(spec: FeatureSpec, original: Value, *, extrapolate: bool = False,
                  ) -> tuple[float | None, float | None, float]:
    """(min, max, step) for a number input: the card's range widened to include the row's own
    value; no bounds when ``extrapolate`` is on. The step is about 1/100 of the range, rounded
    to a power of ten (1 for ``int`` features)."""
    lo = float(spec.min) if spec.min is not None else None
    hi = float(spec.max) if spec.max is not None else None
    if spec.dtype == "int":
        step = 1.0
    elif lo is not None and hi is not None and hi > lo:
        step = 10.0 ** math.floor(math.log10((hi - lo) / 100))
    else:
        step = 0.01
    if extrapolate:
        return None, None, step
    value = float(original)
    if lo is not None:
        lo = min(lo, value)
    if hi is not None:
        hi = max(hi, value)
    return lo, hi, step


def describe_range(spec: FeatureSpec) -> str:
    """'range 2.02–8.74 log2 expression (training data)' or the levels of a category."""
    if spec.is_categorical:
        return "levels: " + ", ".join(spec.levels)
    unit = f" {spec.unit}" if spec.unit else ""
    return f"training range {spec.min:g}–{spec.max:g}{unit}"
