"""Numbers as a clinician should read them: one module for the screen, the reports and the CLI.

Rules (issue 16):

- a probability is never printed as certain: "> 99.9%" and "< 0.1%", never "100.0%" or "0.0%";
- a change that rounds to zero carries no sign ("0.0 pp", not "+0.0 pp" or "-0.0 pp");
- a missing value is an empty cell, never "None" or "nan".

Pure functions, no Streamlit; pages, reports and figures all call these.

Example:
    >>> percent(0.99996), percent(0.73412), percent(0.00001), percent(None)
    ('> 99.9%', '73.4%', '< 0.1%', '')
    >>> delta_pp(0.00004), delta_pp(0.0123), delta_pp(-0.2)
    ('0.0 pp', '+1.2 pp', '-20.0 pp')
    >>> signed(-0.00004), signed(0.01234)
    ('0.000', '+0.012')
"""

from __future__ import annotations

from typing import Any

MINUS = "-"  # ASCII: Streamlit's st.metric reads the direction of a delta from a leading "-"


def is_missing(value: Any) -> bool:
    """None, NaN, pandas NA/NaT: anything a table should show as an empty cell."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and NaT are the only values unequal to themselves
    except (TypeError, ValueError):  # pandas NA: its comparison is NA, which has no truth value
        return type(value).__name__ in ("NAType", "NaTType")


def percent(p: float | None, decimals: int = 1) -> str:
    """A probability (0–1) as a percentage that never claims certainty.

    A value that would round to 100 % reads "> 99.9%", one that would round to 0 % reads
    "< 0.1%" (at ``decimals`` = 1; the bound follows ``decimals``).
    """
    if is_missing(p):
        return ""
    p = float(p)  # type: ignore[arg-type]
    text = f"{p:.{decimals}%}"
    bound = 10.0 ** -decimals
    if float(text.rstrip("%")) >= 100.0:
        return f"> {100 - bound:.{decimals}f}%"
    if float(text.rstrip("%")) <= 0.0:
        return f"< {bound:.{decimals}f}%"
    return text


def probability(p: float | None, decimals: int = 3) -> str:
    """A probability (0–1) with ``decimals`` decimals that never claims certainty: one that
    would round to 1 reads "> 0.999", one that would round to 0 reads "< 0.001".

    Example:
        >>> probability(0.99996), probability(0.00004), probability(0.25)
        ('> 0.999', '< 0.001', '0.250')
    """
    if is_missing(p):
        return ""
    text = f"{float(p):.{decimals}f}"  # type: ignore[arg-type]
    bound = 10.0 ** -decimals
    if float(text) >= 1.0:
        return f"> {1 - bound:.{decimals}f}"
    if float(text) <= 0.0:
        return f"< {bound:.{decimals}f}"
    return text


def signed(value: float, decimals: int = 3, *, unit: str = "") -> str:
    """A change with its sign ("+0.012", "-0.300"); a change that rounds to zero has none."""
    text = f"{abs(float(value)):.{decimals}f}"
    suffix = f" {unit}" if unit else ""
    if float(text) == 0.0:
        return text + suffix
    return ("+" if value > 0 else MINUS) + text + suffix


def delta_pp(delta: float, decimals: int = 1) -> str:
    """A change of probability (as a fraction) in percentage points: "+1.2 pp", "0.0 pp"."""
    return signed(100.0 * float(delta), decimals, unit="pp")


def is_zero_change(delta: float, decimals: int = 1) -> bool:
    """True when :func:`delta_pp` would print an unsigned zero (show no arrow, no colour)."""
    return float(f"{abs(100.0 * float(delta)):.{decimals}f}") == 0.0


def number(value: Any, digits: int = 4) -> str:
    """A feature value: text as given, numbers with ``digits`` significant digits, missing empty."""
    if is_missing(value):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    text = f"{v:.{digits}g}"
    return "0" if float(text) == 0.0 else text


def cell(value: Any) -> Any:
    """A value for a table cell: missing becomes "" (an empty cell), the rest is unchanged."""
    return "" if is_missing(value) else value


def blank_missing(frame: Any, columns: list[str] | None = None) -> Any:
    """A copy of a DataFrame whose text columns show missing values as empty cells.

    Numeric columns keep their dtype (so they still sort as numbers); Streamlit draws their
    missing values as empty cells already.
    """
    out = frame.copy()
    for name in columns if columns is not None else list(out.columns):
        col = out[name]
        if col.dtype.kind in "biufcmM":
            continue
        out[name] = col.map(cell).astype("object")
    return out


def millimetres(value_px: float, spacing_mm: float | None, digits: int = 1) -> str:
    """A length in pixels as millimetres when the pixel spacing is known, else in pixels."""
    if spacing_mm:
        return f"{value_px * spacing_mm:.{digits}f} mm"
    return f"{value_px:.0f} px"
