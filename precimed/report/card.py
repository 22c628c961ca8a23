"""A model card in words and tables for clinicians (used by the Model cards page).

Metric names become phrases a clinician reads without a glossary ("AUROC for 'severe' against
the other classes"); every interval is labelled as a 95% CI.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from precimed.cards import display_name
from precimed.plots import AWAY, TOWARD, calibration_figure

_PHRASES = {
    "auroc": "AUROC: how well the model ranks a case above a non-case (0.5 = chance, 1 = perfect)",
    "auroc_macro": "AUROC, average over the classes (each class against the rest)",
    "brier": "Brier score: mean squared error of the probabilities (lower is better)",
    "brier_prevalence": "Brier score of always predicting the class frequencies (reference)",
    "sensitivity": "Sensitivity at the threshold (cases detected)",
    "specificity": "Specificity at the threshold (non-cases correctly cleared)",
    "prevalence": "Share of cases in the evaluation data",
    "accuracy": "Accuracy (share of correct decisions)",
    "balanced_accuracy": "Balanced accuracy (mean recall over the classes)",
    "auroc_repeat_averaged": "AUROC of the predictions averaged over the CV repeats (a 5-model "
                             "average, not the shipped model; for reference)",
    "auroc_macro_repeat_averaged": "Macro AUROC of the predictions averaged over the CV repeats "
                                   "(a 5-model average, not the shipped model; for reference)",
}
_EXTRA_COLOURS = ["#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]


def metric_phrase(name: str, card: dict[str, Any]) -> str:
    """A metric key of the card as a phrase."""
    if name in _PHRASES:
        return _PHRASES[name]
    for prefix, what in (("auroc_", "AUROC for '{}' against the other classes"),
                         ("recall_", "Recall (sensitivity) for '{}'"),
                         ("precision_", "Precision for '{}'")):
        if name.startswith(prefix) and name[len(prefix):] in card["classes"]:
            return what.format(name[len(prefix):])
    return name.replace("_", " ").capitalize()


def metrics_table(card: dict[str, Any]) -> pd.DataFrame:
    """One row per evaluation metric: phrase, value, 95% CI."""
    rows = []
    for name, m in card["evaluation"]["metrics"].items():
        ci, rr = m.get("ci95"), m.get("repeat_range")
        rows.append({"metric": metric_phrase(name, card), "value": round(float(m["value"]), 4),
                     "95% CI": f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else "—",
                     "single CV repeats": f"{rr[0]:.3f}–{rr[1]:.3f}" if rr else "—"})
    return pd.DataFrame(rows)


def inputs_table(card: dict[str, Any]) -> pd.DataFrame:
    """The model's inputs: name, type, unit, plausible range or levels, fixed, description."""
    rows = []
    for item in card["inputs"]:
        if card["modality"] == "image":
            rows.append({"input": item["name"], "shape": " × ".join(map(str, item["shape"])),
                         "modalities": ", ".join(item.get("modalities", [])),
                         "photometric": ", ".join(item.get("photometric", []))})
            continue
        span = (", ".join(item["levels"]) if item["dtype"] == "category"
                else f"{item['min']:g} to {item['max']:g}")
        rows.append({"input": display_name(item["name"], item.get("symbol")), "type": item["dtype"],
                     "unit": item.get("unit", ""),
                     "training range / levels": span,
                     "fixed in what-if": "yes" if item.get("fixed") else "",
                     "description": item.get("description", "")})
    return pd.DataFrame(rows)


def class_counts_table(card: dict[str, Any]) -> pd.DataFrame:
    counts = card["training_data"].get("class_counts", {})
    total = sum(counts.values()) or 1
    return pd.DataFrame([{"class": c, "n": n, "share": f"{n / total:.1%}"} for c, n in counts.items()])


def calibration_chart(card: dict[str, Any]) -> go.Figure | None:
    """The card's calibration curve(s): the main curve, plus one per class when the card has them."""
    cal = card["evaluation"].get("calibration", {})
    if not cal.get("predicted"):
        return None
    kind = cal.get("kind")
    if card["task"] == "binary":
        title = f"Calibration of P({card['positive_class']}) (out-of-fold)"
    else:
        title = f"Calibration ({kind})" if kind else "Calibration"
    fig = calibration_figure(cal["predicted"], cal["observed"], title=title)
    fig.data[1].name = "model" if card["task"] == "binary" else "top label"
    for k, (cls, curve) in enumerate(cal.get("per_class", {}).items()):
        colour = TOWARD if k == 0 else _EXTRA_COLOURS[(k - 1) % len(_EXTRA_COLOURS)]
        fig.add_trace(go.Scatter(x=curve["predicted"], y=curve["observed"], mode="lines+markers",
                                 name=f"P({cls})", line={"color": colour, "dash": "dot"}))
    if cal.get("per_class"):
        fig.data[1].line.color = AWAY
    return fig


def confusion(card: dict[str, Any]) -> dict[str, Any] | None:
    """The card's confusion matrix as ``{"classes", "matrix"}`` (for the heat map), if any."""
    cm = card["evaluation"].get("confusion_matrix")
    return {"classes": cm["classes"], "matrix": cm["counts"]} if cm else None
