"""Named what-if scenarios: plain data (name + edits), compared in one batched prediction.

A scenario is what a user saves on the what-if page ("lower ESR1", "grade 3"): its edits are
re-checked against the card every time it is evaluated, so a scenario saved for one row can
be applied to another, and a stale one fails with a clear message rather than silently.

Example:
    >>> s = Scenario("lower gene", {"X200726_at": 11.0})
    >>> Scenario.from_json(s.to_json()) == s
    True
    >>> compare_scenarios(bundle, row, [s])[1]["scenario"]  # doctest: +SKIP
    'lower gene'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from precimed.errors import PrecimedInputError
from precimed.whatif.edits import EditedRow, Value, apply_edits, encode_rows

if TYPE_CHECKING:
    from precimed.registry import Bundle

ORIGINAL = "original"


@dataclass(frozen=True)
class Scenario:
    """A named set of edits (feature → value)."""

    name: str
    edits: dict[str, Value] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "edits": dict(self.edits)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scenario:
        """Read ``{"name": ..., "edits": {...}}``.

        Raises:
            PrecimedInputError: no name, or edits that are not an object.
        """
        name = str(data.get("name", "")).strip()
        edits = data.get("edits", {})
        if not name or not isinstance(edits, Mapping):
            raise PrecimedInputError("a scenario needs a name and an object of edits",
                                     expected='{"name": "...", "edits": {"feature": value}}')
        return cls(name, dict(edits))


def check_name(name: str, existing: Sequence[Scenario]) -> str:
    """A usable new scenario name (trimmed, not empty, not 'original', not taken).

    Raises:
        PrecimedInputError: otherwise.
    """
    clean = name.strip()
    if not clean:
        raise PrecimedInputError("the scenario has no name", expected="a short name")
    if clean.lower() == ORIGINAL or any(s.name.lower() == clean.lower() for s in existing):
        raise PrecimedInputError(f"a scenario named '{clean}' already exists",
                                 expected="a new name")
    return clean


def compare_scenarios(bundle: Bundle, row: Mapping[str, Any],
                      scenarios: Sequence[Scenario]) -> list[dict[str, Any]]:
    """One record per scenario, the original first: name, number of changes, the changes as
    text, each class probability, its change against the original, the prediction and
    extrapolation flags. All rows are predicted in one batched call.

    Raises:
        PrecimedInputError: a scenario's edits are not allowed by the card.
    """
    from precimed.predict import decide, predict_proba

    card = bundle.card
    classes = bundle.classes
    edited: list[EditedRow] = [apply_edits(card, row, {})]
    for s in scenarios:
        try:
            edited.append(apply_edits(card, row, s.edits))
        except PrecimedInputError as exc:
            raise PrecimedInputError(f"scenario '{s.name}': {exc.what}",
                                     expected=exc.expected) from None
    x = encode_rows(card, [e.edited for e in edited])
    probs = predict_proba(bundle, x)
    picks = decide(probs, card)
    out: list[dict[str, Any]] = []
    names = [ORIGINAL] + [s.name for s in scenarios]
    for k, (name, e) in enumerate(zip(names, edited, strict=True)):
        record: dict[str, Any] = {
            "scenario": name,
            "changes": len(e.changed),
            "edits": ", ".join(f"{f} = {_fmt(e.edited[f])}" for f in e.changed) or "—",
        }
        for j, c in enumerate(classes):
            record[f"P({c})"] = float(probs[k, j])
            record[f"Δ P({c})"] = float(probs[k, j] - probs[0, j])
        record["prediction"] = classes[int(picks[k])]
        record["extrapolation"] = ", ".join(f.feature for f in e.flags) or "—"
        out.append(record)
    return out


def _fmt(v: Value) -> str:
    return v if isinstance(v, str) else f"{v:.4g}"
