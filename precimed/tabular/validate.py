"""Check a table against a tabular card and turn it into model input.

Rules, in the order applied:

* column names match the card's inputs ignoring case and surrounding whitespace;
  missing inputs are an error that names them; extra columns are ignored with a note;
* numeric cells that are not numbers (text, ``inf``) make their row invalid (flagged per cell);
* categorical cells must be one of the card's levels (case-insensitive), else the row is invalid;
* empty cells are imputed with the training median (numeric) or most frequent level
  (categorical) kept in the card, and flagged;
* numbers outside the card's plausible range are kept and flagged as extrapolation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from precimed.cards import FeatureSpec, feature_specs
from precimed.errors import PrecimedInputError

MISSING_POLICY = (
    "Empty cells are filled with the training median (numbers) or the most frequent training "
    "level (categories) and flagged; cells that are not valid values make their row unusable."
)
FLAG_WORDS = {"range": "extrapolated", "missing": "imputed"}
_MISSING_TOKENS = {"", "na", "n/a", "nan", "null", "none", "?"}
# Plain decimals whose text → float64 conversion is the same in pandas, Arrow and Python's
# float() (checked in tests on random and edge-case numbers): at most 15 significant digits
# before the exponent (so digit accumulation is exact, whatever parser), a two-digit exponent.
NUMBER = r"^[+-]?([0-9]{1,15}|[0-9]+\.[0-9]+)([eE][+-]?[0-9]{1,2})?$"
_PLAIN = re.compile(NUMBER)
# A table of at most this many rows (the patients on a page, not a cohort) has its text columns
# read cell by cell in Python. pandas' vectorised passes cost about 1.3 ms a column whatever the
# length, so the 6-row, 376-column DILI sample took 0.5 s to validate on every page view. A cell
# that is neither a plain decimal nor a missing token sends its column to the pandas path, so
# values and messages are the same (tests compare the two paths on hostile tables).
SMALL_TABLE = 2048


@dataclass(frozen=True)
class CellIssue:
    """One flagged cell. ``kind`` is 'missing' (imputed), 'range' (kept, extrapolation),
    'type' or 'level' (the row cannot be scored)."""

    row: int
    column: str
    kind: str
    value: str
    message: str

    @property
    def blocks_row(self) -> bool:
        return self.kind in ("type", "level")


@dataclass
class ValidatedTable:
    """The outcome of :func:`validate_table`.

    Attributes:
        frame: one column per card input, in card order, raw units; invalid rows hold NaN.
        issues: flagged cells.
        notes: table-level remarks (ignored columns, renamed columns).
        valid_rows: 0-based rows that can be scored.
    """

    frame: pd.DataFrame
    issues: list[CellIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    valid_rows: list[int] = field(default_factory=list)

    def row_errors(self) -> dict[int, str]:
        """Rows that cannot be scored, with the reason."""
        out: dict[int, list[str]] = {}
        for issue in self.issues:
            if issue.blocks_row:
                out.setdefault(issue.row, []).append(issue.message)
        return {r: "; ".join(m) for r, m in out.items()}

    def row_flags(self, row: int) -> dict[str, str]:
        """Inputs of ``row`` whose value the model did not see as given: column → "extrapolated"
        (outside the training range, kept) or "imputed" (empty, filled in)."""
        return {i.column: FLAG_WORDS[i.kind] for i in self.issues if i.row == row and i.kind in FLAG_WORDS}

    def row_warnings(self, row: int) -> list[str]:
        """The messages of ``row``'s extrapolated and imputed cells, for reports and the CLI."""
        return [i.message for i in self.issues if i.row == row and i.kind in FLAG_WORDS]

    def issues_frame(self) -> pd.DataFrame:
        return pd.DataFrame([i.__dict__ for i in self.issues],
                            columns=["row", "column", "kind", "value", "message"])


def flag_headline(table: ValidatedTable, row: int, labels: dict[str, str] | None = None) -> str | None:
    """One sentence to print next to ``row``'s prediction when any of its inputs was
    extrapolated or imputed, else ``None``.

    Example: "⚠ Extrapolated input: 'size' = 25 is outside the training range [0.6, 5]. The model
    never saw such a value: read this prediction, and that feature's bar, with caution."
    """
    issues = [i for i in table.issues if i.row == row and i.kind in FLAG_WORDS]
    if not issues:
        return None
    names = labels or {}
    parts = []
    for kind, word in (("range", "Extrapolated"), ("missing", "Imputed")):
        mine = [i for i in issues if i.kind == kind]
        if not mine:
            continue
        shown = "; ".join(i.message.replace(f"'{i.column}'", f"'{names.get(i.column, i.column)}'", 1)
                          for i in mine[:4]) + (f"; and {len(mine) - 4} more" if len(mine) > 4 else "")
        parts.append(f"⚠ {word} input{'s' if len(mine) > 1 else ''}: {shown}.")
    if any(i.kind == "range" for i in issues):
        why = "The model never saw such values: read this prediction, and the flagged bars, with caution."
    else:
        why = "This prediction uses filled-in values: read it, and the flagged bars, with caution."
    return " ".join(parts) + " " + why


def match_columns(columns: list[str], specs: list[FeatureSpec]) -> tuple[dict[str, str], list[str]]:
    """Map card input name → table column, tolerant of case and whitespace.

    Returns:
        (mapping, notes). Raises if inputs are missing.
    """
    by_key: dict[str, str] = {}
    for col in columns:
        by_key.setdefault(col.strip().lower(), col)
    mapping: dict[str, str] = {}
    missing: list[str] = []
    for spec in specs:
        found = by_key.get(spec.name.strip().lower())
        if found is None:
            missing.append(spec.name)
        else:
            mapping[spec.name] = found
    if missing:
        shown = ", ".join(missing[:12]) + (f" and {len(missing) - 12} more" if len(missing) > 12 else "")
        raise PrecimedInputError(
            f"{len(missing)} required column(s) missing: {shown}",
            expected=f"the model's {len(specs)} input columns; see its card",
        )
    notes: list[str] = []
    renamed = [f"'{c}' → '{n}'" for n, c in mapping.items() if c != n]
    if renamed:
        notes.append(f"Matched {len(renamed)} column name(s) ignoring case/spaces: "
                     + ", ".join(renamed[:5]) + (" …" if len(renamed) > 5 else ""))
    used = set(mapping.values())
    extra = [c for c in columns if c not in used]
    if extra:
        notes.append(f"Ignored {len(extra)} column(s) the model does not use: "
                     + ", ".join(extra[:8]) + (" …" if len(extra) > 8 else ""))
    return mapping, notes


def _as_text(series: pd.Series) -> pd.Series:
    return series.astype("string").fillna("").str.strip()


def _plain_text_numbers(raw: pd.Series) -> tuple[np.ndarray, list[str], np.ndarray] | None:
    """(values, trimmed texts, missing) of a short text column whose every cell is a plain
    decimal or a missing token, read in Python; None when a cell is anything else."""
    if len(raw) > SMALL_TABLE or not (raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype)):
        return None
    out = np.empty(len(raw), dtype="float64")
    missing = np.zeros(len(raw), dtype=bool)
    texts: list[str] = []
    for i, cell in enumerate(raw.tolist()):
        if cell is None or cell is pd.NA or (isinstance(cell, float) and cell != cell):
            cell = ""  # None, NA and NaN: empty, as astype("string").fillna("") makes them
        elif not isinstance(cell, str):
            return None
        text = cell.strip()
        texts.append(text)
        if text.lower() in _MISSING_TOKENS:
            missing[i], out[i] = True, np.nan
        elif _PLAIN.match(text):
            out[i] = float(text)
        else:
            return None
    return out, texts, missing


def _check_numeric(spec: FeatureSpec, raw: pd.Series, issues: list[CellIssue]) -> pd.Series:
    plain = _plain_text_numbers(raw)
    shown: list[str] | pd.Series  # a flagged cell's text, for its message
    if plain is not None:
        arr64, shown, missing = plain
    elif pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.astype("float64")
        missing = values.isna().to_numpy()
        arr64 = values.to_numpy(dtype="float64", na_value=np.nan)
        shown = values  # only read for flagged cells; astype("string") cost ~90% of validation
    else:
        text = _as_text(raw)
        missing = text.str.lower().isin(_MISSING_TOKENS).to_numpy()
        values = pd.to_numeric(text.where(~missing, None), errors="coerce").astype("float64")
        arr64 = values.to_numpy(dtype="float64", na_value=np.nan)
        shown = text

    def text_of(i: int) -> str:
        return str(shown[i] if isinstance(shown, list) else shown.iloc[i])

    # Beyond float32's range a number becomes inf in the model input (found by tests/fuzz).
    with np.errstate(invalid="ignore"):
        bad = ~missing & ~(np.isfinite(arr64) & (np.abs(arr64) <= np.finfo(np.float32).max))
    for b in map(int, np.flatnonzero(bad)):
        issues.append(CellIssue(b, spec.name, "type", text_of(b)[:40],
                                f"'{spec.name}' is '{text_of(b)[:40]}', not a number"))
    fill = float(spec.median) if isinstance(spec.median, (int, float)) else (
        (float(spec.min) + float(spec.max)) / 2 if spec.min is not None and spec.max is not None else 0.0)
    for i in np.flatnonzero(missing):
        issues.append(CellIssue(int(i), spec.name, "missing", "",
                                f"'{spec.name}' is empty; filled with the training median {fill:g}"))
    arr = np.where(bad, np.nan, arr64)
    arr[missing] = fill
    if spec.min is not None and spec.max is not None:
        with np.errstate(invalid="ignore"):
            out = (arr < spec.min) | (arr > spec.max)
        for i in np.flatnonzero(out & ~missing):
            issues.append(CellIssue(int(i), spec.name, "range", f"{arr[i]:g}",
                                    f"'{spec.name}' = {arr[i]:g} is outside the training range "
                                    f"[{spec.min:g}, {spec.max:g}] (extrapolation)"))
    return pd.Series(arr, index=raw.index)


def _check_category(spec: FeatureSpec, raw: pd.Series, issues: list[CellIssue]) -> pd.Series:
    text = _as_text(raw)
    lookup = {level.lower(): level for level in spec.levels}
    lowered = text.str.lower()
    missing = lowered.isin(_MISSING_TOKENS - {"none"} if "none" in lookup else _MISSING_TOKENS)
    mapped = lowered.map(lookup)
    fill = str(spec.median) if spec.median in spec.levels else spec.levels[0]
    out = pd.Series(mapped, index=raw.index, dtype="object")
    for i in np.flatnonzero(missing.to_numpy()):
        issues.append(CellIssue(int(i), spec.name, "missing", "",
                                f"'{spec.name}' is empty; filled with the most frequent level '{fill}'"))
        out.iloc[i] = fill
    unknown = (~missing & mapped.isna()).to_numpy()
    for i in np.flatnonzero(unknown):
        issues.append(CellIssue(int(i), spec.name, "level", str(text.iloc[i])[:40],
                                f"'{spec.name}' is '{str(text.iloc[i])[:40]}', not one of "
                                f"{', '.join(spec.levels)}"))
    return out


def validate_table(table: pd.DataFrame, card: dict[str, Any]) -> ValidatedTable:
    """Validate ``table`` against the card's inputs (see the module docstring for the rules).

    Raises:
        PrecimedInputError: required columns missing, or no row can be scored.

    Example:
        >>> from precimed.registry import get_bundle  # doctest: +SKIP
        >>> v = validate_table(read_table("patients.csv"), get_bundle("breast-cytology-wdbc").card)
        >>> v.valid_rows  # doctest: +SKIP
        [0, 1, 2]
    """
    specs = feature_specs(card)
    mapping, notes = match_columns(list(table.columns), specs)
    table = table.reset_index(drop=True)
    issues: list[CellIssue] = []
    columns: dict[str, pd.Series] = {}
    for spec in specs:
        raw = table[mapping[spec.name]]
        if spec.is_categorical:
            columns[spec.name] = _check_category(spec, raw, issues)
        else:
            columns[spec.name] = _check_numeric(spec, raw, issues)
    frame = pd.DataFrame(columns)
    blocked = {i.row for i in issues if i.blocks_row}
    valid = [r for r in range(len(frame)) if r not in blocked]
    if not valid:
        if len(frame) == 0:  # found by tests/fuzz: next() below raised StopIteration
            raise PrecimedInputError("the table has no data rows", expected="at least one row")
        first = next(i for i in issues if i.blocks_row)
        raise PrecimedInputError(f"no row can be scored; for example row {first.row}: {first.message}",
                                 expected="numbers in numeric columns and the card's levels in categorical ones")
    issues.sort(key=lambda i: (i.row, i.column))
    return ValidatedTable(frame=frame, issues=issues, notes=notes, valid_rows=valid)


def encoded_columns(card: dict[str, Any]) -> list[tuple[str, str | None]]:
    """Model input columns: (feature, None) for numbers, (feature, level) per category level."""
    cols: list[tuple[str, str | None]] = []
    for spec in feature_specs(card):
        if spec.is_categorical:
            cols.extend((spec.name, level) for level in spec.levels)
        else:
            cols.append((spec.name, None))
    return cols


@dataclass(frozen=True)
class _EncodingPlan:
    numeric: list[str]
    numeric_pos: np.ndarray
    categorical: list[tuple[str, tuple[str, ...], list[int]]]
    width: int
    aggregation: np.ndarray


_PLANS: dict[tuple[Any, ...], _EncodingPlan] = {}


def _plan(card: dict[str, Any]) -> _EncodingPlan:
    """Column positions for :func:`encode`, cached per input list (encoding sits on the hot
    path of every live what-if edit, and per-column pandas lookups cost ~50 µs each)."""
    key = tuple((i["name"], i["dtype"], tuple(i.get("levels", ()))) for i in card["inputs"])
    plan = _PLANS.get(key)
    if plan is None:
        enc = encoded_columns(card)
        numeric = [n for n, lv in enc if lv is None]
        pos = {c: j for j, c in enumerate(enc)}
        cats = [(s.name, s.levels, [pos[(s.name, lv)] for lv in s.levels])
                for s in feature_specs(card) if s.is_categorical]
        specs = feature_specs(card)
        index = {s.name: k for k, s in enumerate(specs)}
        agg = np.zeros((len(enc), len(specs)), dtype="float64")
        for j, (name, _) in enumerate(enc):
            agg[j, index[name]] = 1.0
        plan = _EncodingPlan(numeric, np.array([pos[(n, None)] for n in numeric], dtype=int),
                             cats, len(enc), agg)
        _PLANS[key] = plan
    return plan


def encode(frame: pd.DataFrame, card: dict[str, Any]) -> np.ndarray:
    """Raw feature frame → float32 model input (numbers as is, categories one-hot).

    Scaling is inside the Keras model (a Normalization layer), so SHAP values stay in raw units.
    """
    plan = _plan(card)
    out = np.zeros((len(frame), plan.width), dtype="float32")
    if plan.numeric:
        out[:, plan.numeric_pos] = frame[plan.numeric].to_numpy(dtype="float32", na_value=np.nan)
    for name, levels, positions in plan.categorical:
        values = frame[name].to_numpy(dtype=object)
        for level, j in zip(levels, positions, strict=True):
            out[:, j] = values == level
    return out


def aggregation_matrix(card: dict[str, Any]) -> np.ndarray:
    """(encoded × features) 0/1 matrix that sums one-hot SHAP columns back to their feature."""
    return _plan(card).aggregation
