"""Model cards: JSON Schema validation and typed accessors.

A card (``assets/models/<id>/card.json``) describes a bundle: inputs, classes, threshold,
training data, evaluation, intended use and limits. Its schema is
``precimed/schemas/card.schema.json``; :func:`validate_card` enforces it, plus the rules a
schema cannot say (class names agree with the positive class, min ≤ max).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from precimed.errors import BundleError

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "card.schema.json"


@cache
def card_schema() -> dict[str, Any]:
    """Return the card JSON Schema shipped with the package."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text("utf-8"))
    return schema


def _non_finite(obj: Any, path: str = "") -> str | None:
    """The path of the first NaN or infinite number in ``obj``, else ``None``."""
    stack = [(obj, path)]
    while stack:
        cur, where = stack.pop()
        if isinstance(cur, float) and not math.isfinite(cur):
            return where or "(top level)"
        if isinstance(cur, dict):
            stack.extend((v, f"{where}/{k}".lstrip("/")) for k, v in cur.items())
        elif isinstance(cur, list):
            stack.extend((v, f"{where}/{i}".lstrip("/")) for i, v in enumerate(cur))
    return None


def validate_card(card: Any, *, source: str = "card.json") -> dict[str, Any]:
    """Check ``card`` against the schema and the cross-field rules.

    Args:
        card: the parsed JSON.
        source: where it came from, for the message.

    Returns:
        The card, unchanged.

    Raises:
        BundleError: naming the first failing field and what is expected.
    """
    import jsonschema  # 0.1 s; only needed when a card is read

    bad = _non_finite(card)
    if bad is not None:  # Python's json accepts NaN/Infinity, and NaN passes every bound check
        raise BundleError(f"{source}: '{bad}' is not a finite number",
                          expected="finite numbers (JSON has no NaN or Infinity)")
    validator = jsonschema.Draft202012Validator(card_schema())
    errors = sorted(validator.iter_errors(card), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise BundleError(
            f"{source}: invalid card at '{where}': {err.message}",
            expected="a card that follows precimed/schemas/card.schema.json",
        )
    assert isinstance(card, dict)
    classes = card["classes"]
    if "positive_class" in card and card["positive_class"] not in classes:
        raise BundleError(
            f"{source}: positive_class '{card['positive_class']}' is not one of the classes",
            expected=f"one of {classes}",
        )
    counts = card["training_data"]["class_counts"]
    if counts and set(counts) != set(classes):
        raise BundleError(
            f"{source}: training_data.class_counts names {sorted(counts)}",
            expected=f"exactly the classes {classes}",
        )
    if card["modality"] == "tabular":
        names = [i["name"] for i in card["inputs"]]
        if len(set(n.strip().lower() for n in names)) != len(names):
            raise BundleError(f"{source}: input names repeat", expected="unique input names")
        for item in card["inputs"]:
            if item["dtype"] != "category" and item["min"] > item["max"]:
                raise BundleError(
                    f"{source}: input '{item['name']}' has min > max",
                    expected="min ≤ max",
                )
    check_evidence(card, source=source)
    return card


# A sentence that calls the model calibrated, unless it negates it ("not calibrated", "poorly
# calibrated", "uncalibrated" does not match at all).
_CALIBRATED = re.compile(r"\bcalibrated\b", re.IGNORECASE)
_NEGATION = re.compile(r"\b(not|no|never|poorly|cannot|can't|isn't|aren't|mis\w*|without)\b", re.IGNORECASE)
_PROSE_FIELDS = ("name", "intended_use", "out_of_scope", "limitations", "caveats", "ethical_considerations")


def claims_calibrated(text: str) -> bool:
    """Whether ``text`` calls the model calibrated (a sentence with "calibrated", not negated)."""
    return any(_CALIBRATED.search(part) and not _NEGATION.search(part)
               for part in re.split(r"[.;:!?]\s", text))


def _prose(card: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key in _PROSE_FIELDS:
        value = card.get(key)
        items = value if isinstance(value, list) else [value]
        out.extend((key, v) for v in items if isinstance(v, str))
    ev = card.get("evaluation", {})
    out.extend((f"evaluation/{k}", ev[k]) for k in ("method", "class_imbalance", "model_selection")
               if isinstance(ev.get(k), str))
    cal = ev.get("calibration", {})
    if isinstance(cal.get("statement"), str):
        out.append(("evaluation/calibration/statement", cal["statement"]))
    return out


def _check_calibration_block(block: dict[str, Any], where: str, source: str) -> bool | None:
    """The wording rule on one calibration block; returns whether it may be called calibrated."""
    from precimed.evaluation.calibration import SLOPE_RANGE, is_calibrated

    if "intercept" not in block or "slope" not in block:
        return None
    ok = is_calibrated(block["intercept"], block["slope"])
    if "calibrated" in block and block["calibrated"] != ok:
        lo, hi = SLOPE_RANGE
        raise BundleError(
            f"{source}: '{where}/calibrated' is {block['calibrated']} but slope "
            f"{block['slope']['value']} and intercept CI {block['intercept']['ci95']} say {ok}",
            expected=f"calibrated true only when {lo} ≤ slope ≤ {hi} and the intercept's 95% CI includes 0")
    statement = block.get("statement")
    if isinstance(statement, str) and claims_calibrated(statement) and not ok:
        raise BundleError(f"{source}: '{where}/statement' calls the model calibrated",
                          expected="the word 'calibrated' only when slope is 0.8–1.25 and the "
                                   "intercept's 95% CI includes 0")
    return ok


def check_evidence(card: dict[str, Any], *, source: str = "card.json") -> None:
    """Cross-field rules of honest reporting (issue 11).

    - "calibrated": a card may call its model calibrated (the ``calibrated`` flag, or any
      sentence in its prose) only when the calibration slope is within 0.8–1.25 and the
      intercept's 95% CI includes 0; a claim without intercept and slope fails too.
    - Subgroups: the ``weaker`` flag must follow the card's rule, and every weaker subgroup must
      be called out in ``caveats``.
    - Baselines: each verdict must be the one the figures give.

    Raises:
        BundleError: naming the field and the rule.
    """
    ev = card.get("evaluation", {})
    cal = ev.get("calibration", {})
    ok = _check_calibration_block(cal, "evaluation/calibration", source)
    for name, block in (cal.get("per_class") or {}).items():
        _check_calibration_block(block, f"evaluation/calibration/per_class/{name}", source)
    for where, text in _prose(card):
        if not ok and claims_calibrated(text):  # False, or None: no intercept and slope
            raise BundleError(
                f"{source}: '{where}' calls the model calibrated: \"{text[:80]}\"",
                expected="the word 'calibrated' only when the card's calibration slope is 0.8–1.25 "
                         "and its intercept's 95% CI includes 0")
    _check_subgroups(card, source)
    _check_baselines(card, source)


def _check_subgroups(card: dict[str, Any], source: str) -> None:
    from precimed.evaluation.caveats import caveat_line
    from precimed.evaluation.subgroups import is_weaker

    metrics = card["evaluation"].get("metrics", {})
    overall = (metrics.get("auroc") or metrics.get("auroc_macro") or {}).get("value")
    for k, sub in enumerate(card["evaluation"].get("subgroups", [])):
        if overall is None:
            break
        if sub["weaker"] != is_weaker(sub.get("auroc"), overall):
            raise BundleError(f"{source}: 'evaluation/subgroups/{k}/weaker' does not follow the rule",
                              expected="weaker exactly when AUROC ≤ overall − 0.10 or its CI's "
                                       "upper end < overall")
        if sub["weaker"] and caveat_line(card, sub) not in card.get("caveats", []):
            raise BundleError(f"{source}: weaker subgroup {sub['factor']} = {sub['level']} is not "
                              "called out in 'caveats'", expected=f"caveats to include \"{caveat_line(card, sub)}\"")


def _check_baselines(card: dict[str, Any], source: str) -> None:
    from precimed.evaluation.baselines import verdict

    ev = card["evaluation"]
    key = "auroc" if card["task"] == "binary" else "auroc_macro"
    word = "AUROC" if card["task"] == "binary" else "macro AUROC"
    for k, b in enumerate(ev.get("baselines", [])):
        diff = b.get("network_minus_baseline", {}).get(key)
        if diff is None or key not in ev.get("metrics", {}) or key not in b:
            continue
        want = verdict("network", b["name"].split(" (")[0], word, ev["metrics"][key], b[key], diff)
        if b["verdict"] != want:
            raise BundleError(f"{source}: 'evaluation/baselines/{k}/verdict' does not follow its figures",
                              expected=f"\"{want}\"")


@dataclass(frozen=True)
class FeatureSpec:
    """One tabular input as the card describes it."""

    name: str
    dtype: str
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    levels: tuple[str, ...] = ()
    fixed: bool = False
    median: float | str | None = None
    description: str | None = None
    symbol: str | None = None  # gene symbol of a probe set, shown beside its column name

    @property
    def label(self) -> str:
        """The name to show a reader: see :func:`display_name`."""
        return display_name(self.name, self.symbol)

    @property
    def is_categorical(self) -> bool:
        return self.dtype == "category"

    @classmethod
    def from_card(cls, item: dict[str, Any]) -> FeatureSpec:
        return cls(
            name=item["name"],
            dtype=item["dtype"],
            unit=item.get("unit"),
            min=item.get("min"),
            max=item.get("max"),
            levels=tuple(item.get("levels", ())),
            fixed=bool(item.get("fixed", False)),
            median=item.get("median"),
            description=item.get("description"),
            symbol=item.get("symbol"),
        )


def feature_specs(card: dict[str, Any]) -> list[FeatureSpec]:
    """The ordered tabular inputs of a card."""
    if card["modality"] != "tabular":
        raise BundleError(f"model '{card['id']}' takes images", expected="a tabular model")
    return [FeatureSpec.from_card(i) for i in card["inputs"]]


def display_name(name: str, symbol: str | None = None) -> str:
    """How a feature is named wherever a reader sees it: ``"ESR1 (X205225_at)"`` for a probe set
    with a gene symbol, the column name alone otherwise.

    Example:
        >>> display_name("X205225_at", "ESR1"), display_name("age")
        ('ESR1 (X205225_at)', 'age')
    """
    return f"{symbol} ({name})" if symbol and symbol != name else name


def feature_labels(card: dict[str, Any]) -> dict[str, str]:
    """Input name → display name (:func:`display_name`) for every tabular input of a card;
    empty for image models."""
    if card.get("modality") != "tabular":
        return {}
    return {i["name"]: display_name(i["name"], i.get("symbol")) for i in card["inputs"]}


def subject_word(card: dict[str, Any]) -> str:
    """What one row is: 'patient', 'compound', … (for wording on pages and reports)."""
    return str(card.get("subject", "patient"))


def positive_class(card: dict[str, Any]) -> str | None:
    return card.get("positive_class")
