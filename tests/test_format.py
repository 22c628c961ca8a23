"""Numbers a clinician reads right (issue 16, item 5): no certainty claimed, no signed zero,
empty cells for missing values, millimetres where the spacing is known."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from precimed.format import (
    MINUS,
    blank_missing,
    delta_pp,
    is_zero_change,
    millimetres,
    number,
    percent,
    probability,
    signed,
)


@pytest.mark.parametrize(("p", "text"), [(0.99996, "> 99.9%"), (1.0, "> 99.9%"), (0.00004, "< 0.1%"),
                                         (0.0, "< 0.1%"), (0.7345, "73.5%"), (None, ""), (math.nan, "")])
def test_percent_never_claims_certainty(p: float | None, text: str) -> None:
    assert percent(p) == text


@pytest.mark.parametrize(("p", "text"), [(0.99996, "> 0.999"), (1.0, "> 0.999"), (0.0004, "< 0.001"),
                                         (0.25, "0.250"), (None, "")])
def test_probability_never_claims_certainty(p: float | None, text: str) -> None:
    assert probability(p) == text


def test_no_signed_zero_and_a_true_minus() -> None:
    assert signed(-0.0001) == "0.000" and signed(0.0) == "0.000"
    assert signed(0.012) == "+0.012" and signed(-0.3) == f"{MINUS}0.300"
    assert delta_pp(-0.00001) == "0.0 pp" and is_zero_change(-0.00001)
    assert delta_pp(0.0123) == "+1.2 pp" and not is_zero_change(0.0123)


def test_missing_values_are_empty_cells_and_numbers_keep_their_type() -> None:
    frame = pd.DataFrame({"error": [None, "bad cell"], "p": [0.5, math.nan]})
    shown = blank_missing(frame)
    assert shown["error"].tolist() == ["", "bad cell"]
    assert shown["p"].dtype.kind == "f"  # still sorts as a number
    assert number(None) == "" and number(-0.0) == "0" and number(12.345678) == "12.35"


def test_lengths_in_millimetres_when_the_spacing_is_known() -> None:
    assert millimetres(10, 0.7) == "7.0 mm" and millimetres(10, None) == "10 px"
