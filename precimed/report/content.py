"""What a one-page report says, gathered once for both the PDF and the HTML renderer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from precimed.cards import feature_labels, subject_word
from precimed.charts import WATERFALL_BARS, Waterfall, waterfall
from precimed.explain.base import Explanation
from precimed.format import probability
from precimed.report.evidence_text import evidence_lines
from precimed.report.pseudonym import pseudonymise

NOT_FOR_CLINICAL_USE = (
    "Not for clinical use. PreciMed is a research and demonstration tool, not a medical device. "
    "Its predictions must not guide the diagnosis or treatment of any patient."
)


@dataclass
class ReportContent:
    """Everything printed on the report, already in words and numbers."""

    subject: str
    pseudonym: str
    generated: str
    model_name: str
    model_id: str
    version: str
    weights_sha256: str
    prediction: str
    decision_rule: str
    probabilities: dict[str, float]
    positive_class: str | None
    threshold: float | None
    chart_title: str = ""
    chart_note: str = ""
    waterfall: Waterfall | None = None  # the screen's own layout (precimed.charts)
    image_png: bytes | None = None
    summary: list[tuple[str, str]] = field(default_factory=list)
    limitations: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    statement: str = NOT_FOR_CLINICAL_USE  # printed on every report, whatever the card says


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _metrics_line(card: dict[str, Any]) -> str:
    parts = []
    for name, m in card["evaluation"]["metrics"].items():
        ci = f" (95% CI {m['ci95'][0]:.3f}-{m['ci95'][1]:.3f})" if m.get("ci95") else ""
        label = name.upper() if name in ("auroc", "auroc_macro", "brier") else name
        parts.append(f"{label.replace('_MACRO', ' macro')} {m['value']:.3f}{ci}")
    return "; ".join(parts)


def decision_rule(card: dict[str, Any]) -> str:
    if card["task"] == "binary":
        return (f"'{card['positive_class']}' when P({card['positive_class']}) >= "
                f"{float(card['threshold']):g} (the card's threshold)")
    return "the most probable class (arg-max)"


def gather(card: dict[str, Any], *, identifier: str, probabilities: dict[str, float],
           explanation: Explanation | None = None, when: dt.datetime | None = None,
           image_png: bytes | None = None, image_caption: str | None = None,
           warnings: list[str] | None = None, key: bytes | None = None,
           flagged: Mapping[str, str] | None = None) -> ReportContent:
    """Assemble the report; the identifier is only ever used through :func:`pseudonymise`.

    ``flagged`` (feature → "extrapolated" / "imputed") marks those features' bars; ``warnings``
    are printed next to the prediction."""
    import numpy as np

    from precimed.predict import decide

    classes = list(card["classes"])
    probs = np.array([[float(probabilities[c]) for c in classes]])
    prediction = classes[int(decide(probs, card)[0])]
    when = (when or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    td = card["training_data"]
    counts = ", ".join(f"{c} {n}" for c, n in td.get("class_counts", {}).items())
    summary = [
        ("Intended use", card["intended_use"]),
        ("Out of scope", card["out_of_scope"]),
        ("Training data", f"{td['source']}; n = {td['n']}" + (f" ({counts})" if counts else "")),
        ("Label", td["label_definition"]),
        ("Evaluation", f"{card['evaluation']['method'].split(';')[0]}: {_metrics_line(card)}"),
        *evidence_lines(card),  # calibration, baselines, weaker subgroups, survival
        ("Citation", td["citation"]),
    ]
    content = ReportContent(
        subject=subject_word(card), pseudonym=pseudonymise(identifier, key=key),
        generated=when.strftime("%Y-%m-%d %H:%M UTC"), model_name=card["name"],
        model_id=card["id"], version=card["version"], weights_sha256=card["weights_sha256"],
        prediction=prediction, decision_rule=decision_rule(card),
        probabilities={c: float(probabilities[c]) for c in classes},
        positive_class=card.get("positive_class"),
        threshold=float(card["threshold"]) if card.get("threshold") is not None else None,
        summary=summary, limitations=list(card["limitations"]), warnings=list(warnings or []),
        image_png=image_png,
    )
    if explanation is not None:
        content.waterfall = waterfall(explanation.base_value, explanation.values,
                                      explanation.feature_values, output=explanation.output,
                                      class_name=explanation.class_name, max_features=WATERFALL_BARS,
                                      labels=feature_labels(card), flagged=flagged)
        content.chart_title = (f"Why P({explanation.class_name}) = {probability(explanation.output)}: "
                               f"SHAP values ({explanation.method})")
        content.chart_note = (f"Base value (average over the training background) "
                              f"{explanation.base_value:.3f} + sum of bars = "
                              f"{probability(explanation.output)}. "
                              f"Red pushes toward '{explanation.class_name}', blue away.")
    elif image_png is not None:
        content.chart_title = image_caption or "Explanation"
    return content
