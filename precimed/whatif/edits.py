"""Edits to one row, checked against the model card before anything is predicted.

Rules (shared/CONVENTIONS.md, card ``inputs``):

* a feature the card marks ``fixed`` (age, receptor status, …) cannot be changed: an edit to
  another value is refused with a :class:`~precimed.errors.PrecimedInputError`;
* numbers must be finite, ``int`` features whole; category values must be one of the card's
  levels (matched ignoring case);
* a number outside the card's ``min``–``max`` (the training range) is kept and flagged as
  *extrapolation*, the same policy as :func:`precimed.tabular.validate.validate_table`; pass
  ``allow_extrapolation=False`` to refuse it instead.

Example:
    >>> card = {"modality": "tabular", "id": "demo", "inputs": [
    ...     {"name": "age", "dtype": "int", "min": 24, "max": 60, "fixed": True},
    ...     {"name": "gene", "dtype": "float", "min": 0.0, "max": 10.0},
    ...     {"name": "er", "dtype": "category", "levels": ["negative", "positive"]}]}
    >>> row = {"age": 50, "gene": 4.0, "er": "positive"}
    >>> e = apply_edits(card, row, {"gene": "12", "er": "NEGATIVE"})
    >>> e.edited, e.changed
    ({'age': 50.0, 'gene': 12.0, 'er': 'negative'}, ['gene', 'er'])
    >>> [f.kind for f in e.flags]
    ['extrapolation']
    >>> apply_edits(card, row, {"age": 40})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    precimed.errors.PrecimedInputError: 'age' is fixed: the model card marks it as a feature ...
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from precimed.cards import FeatureSpec, feature_specs
from precimed.errors import PrecimedInputError

if TYPE_CHECKING:
    import pandas as pd

    from precimed.tabular.validate import ValidatedTable

Value = float | str


@dataclass(frozen=True)
class EditFlag:
    """A remark on one value: ``kind`` is 'extrapolation' (outside the training range)."""

    feature: str
    kind: str
    value: Value
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"feature": self.feature, "kind": self.kind, "value": self.value,
                "message": self.message}


@dataclass(frozen=True)
class EditedRow:
    """A row before and after the edits (feature → value, card order)."""

    original: dict[str, Value]
    edited: dict[str, Value]
    changed: list[str] = field(default_factory=list)
    flags: list[EditFlag] = field(default_factory=list)

    def changes(self) -> dict[str, Value]:
        """Feature → new value, for the changed features only."""
        return {f: self.edited[f] for f in self.changed}


def spec_index(card: dict[str, Any]) -> dict[str, FeatureSpec]:
    """Feature name → spec, in card order."""
    return {s.name: s for s in feature_specs(card)}


def resolve_feature(card: dict[str, Any], name: str) -> FeatureSpec:
    """The spec of ``name`` (exact, else ignoring case and surrounding spaces).

    Raises:
        PrecimedInputError: the card has no such input.
    """
    specs = spec_index(card)
    if name in specs:
        return specs[name]
    key = name.strip().lower()
    for spec in specs.values():
        if spec.name.strip().lower() == key:
            return spec
    close = [s for s in specs if key and key in s.lower()][:5]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise PrecimedInputError(f"the model has no input '{name}'{hint}",
                             expected=f"one of the card's {len(specs)} input names")


def parse_value(spec: FeatureSpec, value: Any) -> Value:
    """Check one value against its spec and return it typed (float, or the card's level).

    Raises:
        PrecimedInputError: not a finite number, not a whole number for an ``int`` feature,
            or not one of a category's levels.
    """
    if spec.is_categorical:
        text = str(value).strip()
        for level in spec.levels:
            if level.lower() == text.lower():
                return level
        raise PrecimedInputError(f"'{spec.name}' cannot be '{text[:40]}'",
                                 expected=f"one of {', '.join(spec.levels)}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PrecimedInputError(f"'{spec.name}' = '{str(value)[:40]}' is not a number",
                                 expected="a finite number"
                                 + (f" in [{spec.min:g}, {spec.max:g}]" if spec.min is not None
                                    and spec.max is not None else "")) from None
    if not math.isfinite(number):
        raise PrecimedInputError(f"'{spec.name}' = {value} is not finite",
                                 expected="a finite number")
    if spec.dtype == "int" and number != round(number):
        raise PrecimedInputError(f"'{spec.name}' = {number:g} is not a whole number",
                                 expected=f"an integer ({spec.unit or 'the card says int'})")
    return number


def plausible_range(spec: FeatureSpec) -> tuple[float, float] | None:
    """The card's ``min``–``max`` of a numeric feature (None for categories or when unset)."""
    if spec.is_categorical or spec.min is None or spec.max is None:
        return None
    return float(spec.min), float(spec.max)


def range_flag(spec: FeatureSpec, value: Value) -> EditFlag | None:
    """An extrapolation flag when a number lies outside the training range, else None."""
    bounds = plausible_range(spec)
    if bounds is None or isinstance(value, str):
        return None
    lo, hi = bounds
    if lo <= float(value) <= hi:
        return None
    return EditFlag(spec.name, "extrapolation", value,
                    f"'{spec.name}' = {float(value):g} is outside the training range "
                    f"[{lo:g}, {hi:g}]: the model extrapolates")


def same_value(a: Value, b: Value) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b)
    return float(a) == float(b)


def apply_edits(card: dict[str, Any], row: Mapping[str, Any], edits: Mapping[str, Any], *,
                allow_extrapolation: bool = True) -> EditedRow:
    """Apply ``edits`` (feature → value) to ``row`` (feature → value) after the card's checks.

    Args:
        card: a tabular model card.
        row: the original values of every input (e.g. from :func:`row_values`).
        edits: the values to change; names are matched ignoring case. An "edit" that keeps a
            value as it is, fixed features included, is accepted and not counted as a change.
        allow_extrapolation: False refuses numbers outside the training range.

    Returns:
        The row before and after, the changed features and the extrapolation flags of the
        edited row (original out-of-range values included, so the page can flag them too).

    Raises:
        PrecimedInputError: unknown feature, fixed feature, invalid value, or (with
            ``allow_extrapolation=False``) a value outside the training range.
    """
    specs = spec_index(card)
    original: dict[str, Value] = {}
    for name, spec in specs.items():
        if name not in row:
            raise PrecimedInputError(f"the row has no value for '{name}'",
                                     expected=f"all {len(specs)} inputs of the card")
        original[name] = parse_value(spec, row[name])
    edited = dict(original)
    changed: list[str] = []
    for raw_name, raw_value in edits.items():
        spec = resolve_feature(card, raw_name)
        value = parse_value(spec, raw_value)
        if same_value(value, original[spec.name]):
            edited[spec.name] = original[spec.name]
            if spec.name in changed:
                changed.remove(spec.name)
            continue
        if spec.fixed:
            raise PrecimedInputError(
                f"'{spec.name}' is fixed: the model card marks it as a feature that cannot change",
                expected="edits to the non-fixed features only")
        flag = range_flag(spec, value)
        if flag is not None and not allow_extrapolation:
            raise PrecimedInputError(flag.message, expected="a value inside the training range")
        edited[spec.name] = value
        if spec.name not in changed:
            changed.append(spec.name)
    flags = [f for name, spec in specs.items() if (f := range_flag(spec, edited[name])) is not None]
    return EditedRow(original=original, edited=edited, changed=changed, flags=flags)


def row_values(table: ValidatedTable, row: int) -> dict[str, Value]:
    """One valid row of a validated table as feature → value (card order, raw units).

    Raises:
        PrecimedInputError: the row does not exist or cannot be scored.
    """
    n = len(table.frame)
    if not 0 <= row < n:
        raise PrecimedInputError(f"row {row} does not exist",
                                 expected=f"a row between 0 and {n - 1}")
    if row not in table.valid_rows:
        reason = table.row_errors().get(row, "invalid row")
        raise PrecimedInputError(f"row {row} cannot be used: {reason}",
                                 expected="a row whose cells are all valid")
    series = table.frame.iloc[row]
    return {name: (str(v) if isinstance(v, str) else float(v)) for name, v in series.items()}


def rows_frame(card: dict[str, Any], rows: Iterable[Mapping[str, Value]]) -> pd.DataFrame:
    """Rows (feature → value) as a frame in card order, ready for
    :func:`precimed.tabular.validate.encode`."""
    import pandas as pd

    specs = feature_specs(card)
    data = list(rows)
    return pd.DataFrame({s.name: pd.Series([r[s.name] for r in data],
                                           dtype="object" if s.is_categorical else "float64")
                         for s in specs})


_LAYOUTS: dict[tuple[Any, ...], tuple[list[tuple[str, int]], list[tuple[str, dict[str, int]]], int]] = {}


def _layout(card: dict[str, Any]) -> tuple[list[tuple[str, int]], list[tuple[str, dict[str, int]]], int]:
    """(numeric feature → column, category → {level → column}, width), cached per input list."""
    from precimed.tabular.validate import encoded_columns

    key = tuple((i["name"], i["dtype"], tuple(i.get("levels", ()))) for i in card["inputs"])
    layout = _LAYOUTS.get(key)
    if layout is None:
        enc = encoded_columns(card)
        numeric = [(name, j) for j, (name, level) in enumerate(enc) if level is None]
        cats: dict[str, dict[str, int]] = {}
        for j, (name, level) in enumerate(enc):
            if level is not None:
                cats.setdefault(name, {})[level] = j
        layout = (numeric, list(cats.items()), len(enc))
        _LAYOUTS[key] = layout
    return layout


def encode_rows(card: dict[str, Any], rows: Iterable[Mapping[str, Value]]) -> np.ndarray:
    """Rows (feature → value) → float32 model input, exactly as
    :func:`precimed.tabular.validate.encode` lays it out, without building a DataFrame
    (a 376-column frame costs ~50 ms; this costs well under 1 ms for a few rows).

    Example:
        >>> card = {"modality": "tabular", "id": "d", "inputs": [
        ...     {"name": "g", "dtype": "float", "min": 0, "max": 1},
        ...     {"name": "er", "dtype": "category", "levels": ["neg", "pos"]}]}
        >>> encode_rows(card, [{"g": 0.5, "er": "pos"}]).tolist()
        [[0.5, 0.0, 1.0]]
    """
    numeric, cats, width = _layout(card)
    data = list(rows)
    out = np.zeros((len(data), width), dtype="float32")
    if numeric:
        cols = [j for _, j in numeric]
        out[:, cols] = np.array([[float(r[name]) for name, _ in numeric] for r in data],
                                dtype="float32").reshape(len(data), len(numeric))
    for name, levels in cats:
        for i, r in enumerate(data):
            j = levels.get(str(r[name]))
            if j is not None:
                out[i, j] = 1.0
    return out


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``["gene=12.5", "grade=intermediate"]`` → ``{"gene": "12.5", "grade": "intermediate"}``.

    Raises:
        PrecimedInputError: an item without ``=`` or without a name.
    """
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise PrecimedInputError(f"cannot read the edit '{item}'", expected="FEATURE=VALUE")
        out[name.strip()] = value.strip()
    return out
