"""A network beside its published reference score: which pairs, what each says, whether they agree.

The pairing comes from the cards, never from a page: a network's card may name its reference
(``reference_model``), and a published reference's card lists the networks it is shown beside
(``reference_for``).

Example:
    >>> net, ref = get_bundle("breast-metastasis-gse7390"), get_bundle("relapse-score-wang2005")  # doctest: +SKIP
    >>> compare_row(net, ref, raw_table, 0).message  # doctest: +SKIP
    'Both call this patient high risk: ...'
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from precimed.cards import subject_word
from precimed.errors import PrecimedInputError

if TYPE_CHECKING:
    import pandas as pd

    from precimed.registry import Bundle


def reference_for(card: dict[str, Any], bundles: Iterable[Bundle]) -> Bundle | None:
    """The published reference to show beside the model of ``card``, or ``None``."""
    if card.get("kind") == "published_reference" or card.get("task") != "binary":
        return None
    bundles = list(bundles)
    named = card.get("reference_model")
    for b in bundles:
        if named and b.id == named:
            return b
    for b in bundles:
        if b.card.get("kind") == "published_reference" and card["id"] in b.card.get("reference_for", []):
            return b
    return None


def short_name(card: dict[str, Any]) -> str:
    """A model's name without its parenthesised details: "76-gene Relapse Score"."""
    return str(card["name"]).split(" (")[0].split(",")[0]


@dataclass(frozen=True)
class Call:
    """What one model says about one row."""

    model_id: str
    name: str
    prediction: str
    high_risk: bool
    probability: float
    threshold: float
    positive_class: str
    score: float | None  # the published score, for a reference whose output is sigmoid(score / T)

    @property
    def detail(self) -> str:
        sign = "≥" if self.high_risk else "<"
        if self.score is not None:
            return f"score {self.score:+.1f} {sign} 0"
        return (f"'{self.prediction}' (P({self.positive_class}) = {self.probability:.3f} {sign} "
                f"threshold {self.threshold:g})")


def call_for(card: dict[str, Any], probabilities: dict[str, float]) -> Call:
    """A binary model's call from its class probabilities (the card's threshold decides)."""
    pos = card["positive_class"]
    p = float(probabilities[pos])
    threshold = float(card["threshold"])
    high = p >= threshold
    prediction = pos if high else next(c for c in card["classes"] if c != pos)
    score = None
    temperature = (card.get("output") or {}).get("temperature")
    if temperature and 0.0 < p < 1.0:
        score = float(temperature) * math.log(p / (1.0 - p))
    return Call(card["id"], short_name(card), prediction, high, p, threshold, pos, score)


@dataclass(frozen=True)
class Comparison:
    network: Call
    reference: Call
    agree: bool
    message: str


def compare_calls(network: Call, reference: Call, subject: str = "patient") -> Comparison:
    """Whether two calls agree, in one plain sentence."""
    def risk(c: Call) -> str:
        return "high risk" if c.high_risk else "low risk"

    if network.high_risk == reference.high_risk:
        message = (f"Both call this {subject} {risk(network)}: the network predicts {network.detail}; "
                   f"the {reference.name} gives {reference.detail}.")
    else:
        message = (f"They disagree: the network calls this {subject} {risk(network)}, predicting "
                   f"{network.detail}; the {reference.name} calls it {risk(reference)} ({reference.detail}).")
    return Comparison(network, reference, network.high_risk == reference.high_risk, message)


def compare_row(network: Bundle, reference: Bundle, raw: pd.DataFrame, row: int,
                network_probabilities: dict[str, float] | None = None) -> Comparison:
    """Score row ``row`` of an uploaded table with both models and compare their calls.

    ``network_probabilities``: the network's result for this row if already computed (the page
    has it), so that only the reference is run.

    Raises:
        PrecimedInputError: the reference cannot score this table or row (missing columns, a bad
            cell), with what it needs.
    """
    from precimed.predict import predict_table
    from precimed.tabular.validate import validate_table

    if not 0 <= row < len(raw):
        raise PrecimedInputError(f"row {row} does not exist", expected=f"a row between 0 and {len(raw) - 1}")
    one = raw.iloc[[row]].reset_index(drop=True)  # only this row is scored (and audited)
    calls: list[Call] = []
    for bundle in (network, reference):
        if bundle is network and network_probabilities is not None:
            calls.append(call_for(network.card, network_probabilities))
            continue
        try:
            table = validate_table(one, bundle.card)
        except PrecimedInputError as exc:
            raise PrecimedInputError(f"{short_name(bundle.card)} cannot score row {row}: {exc.what}",
                                     expected=exc.expected) from None
        [pred] = predict_table(bundle, table)
        calls.append(call_for(bundle.card, pred.probabilities))
    return compare_calls(calls[0], calls[1], subject_word(network.card))
