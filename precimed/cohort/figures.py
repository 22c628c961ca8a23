"""Plotly figures of a scored cohort (pure functions; no Streamlit).

Colours follow shared/CONVENTIONS.md: vermillion for the explained or positive class, blue
for the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from precimed.plots import AWAY, NEUTRAL, TOWARD


def risk_histogram(results: pd.DataFrame, class_name: str, *, threshold: float | None = None,
                   bins: int = 40) -> go.Figure:
    """Distribution of ``P(class_name)`` over the scored rows, split by the decision."""
    from precimed.cohort.score import prob_column

    p = results[prob_column(class_name)]
    chosen = results["prediction"] == class_name
    fig = go.Figure()
    for mask, name, colour in ((chosen, f"predicted {class_name}", TOWARD),
                               (~chosen & p.notna(), "predicted otherwise", AWAY)):
        fig.add_trace(go.Histogram(x=p[mask], name=name, marker_color=colour, opacity=0.8,
                                   xbins={"start": 0, "end": 1.0001, "size": 1 / bins}))
    if threshold is not None:
        fig.add_vline(x=threshold, line_dash="dash", line_color="#333333",
                      annotation_text=f"threshold {threshold:g}", annotation_position="top")
    fig.update_layout(barmode="stack", title=f"Risk distribution: P({class_name}) over "
                      f"{int(p.notna().sum())} scored rows", xaxis_title=f"P({class_name})",
                      yaxis_title="rows", xaxis={"range": [0, 1]}, height=360,
                      margin={"l": 10, "r": 10, "t": 50, "b": 40})
    return fig


def importance_figure(importance: pd.DataFrame, class_name: str, *,
                      max_features: int = 20, labels: Mapping[str, str] | None = None) -> go.Figure:
    """Global SHAP importance: mean |SHAP| per feature for one class, largest at the top
    (``labels``: display names, e.g. gene symbols, from :func:`precimed.cards.feature_labels`)."""
    col = importance[class_name].sort_values(ascending=False).head(max_features)[::-1]
    fig = go.Figure(go.Bar(x=col.to_numpy(), y=[(labels or {}).get(n, n) for n in col.index], orientation="h",
                           marker_color=TOWARD, text=[f"{v:.4f}" for v in col.to_numpy()],
                           textposition="outside"))
    fig.update_layout(title=f"Global SHAP importance for P({class_name})",
                      xaxis_title=f"mean |SHAP value| (effect on P({class_name}))",
                      height=max(320, 26 * len(col) + 110),
                      margin={"l": 10, "r": 40, "t": 50, "b": 40}, showlegend=False)
    return fig


def confusion_figure(confusion: dict[str, Any], *, title: str) -> go.Figure:
    """Confusion matrix heat map: rows = true class, columns = decided class, counts in cells."""
    classes = confusion["classes"]
    m = np.asarray(confusion["matrix"], dtype=float)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig = go.Figure(go.Heatmap(
        z=share, x=[f"decided {c}" for c in classes], y=[f"true {c}" for c in classes],
        text=m.astype(int), texttemplate="%{text}", colorscale=[[0, "#FFFFFF"], [1, AWAY]],
        zmin=0, zmax=1, colorbar={"title": "row share"},
        hovertemplate="%{y}, %{x}: %{text} rows (%{z:.1%} of the true class)<extra></extra>"))
    fig.update_layout(title=title, height=120 + 60 * len(classes),
                      yaxis={"autorange": "reversed"}, margin={"l": 10, "r": 10, "t": 50, "b": 40})
    return fig


def subgroup_auroc_figure(table: pd.DataFrame, *, title: str) -> go.Figure:
    """AUROC per subgroup with its 95% CI (from :func:`precimed.cohort.metrics.subgroup_table`)."""
    rows = table.dropna(subset=["AUROC"])
    lo, hi = [], []
    for value, ci in zip(rows["AUROC"], rows["95% CI"], strict=True):
        parts = ci.split("–") if isinstance(ci, str) and "–" in ci else None
        lo.append(value - float(parts[0]) if parts else 0.0)
        hi.append(float(parts[1]) - value if parts else 0.0)
    colours = [NEUTRAL if s == "all" else AWAY for s in rows["subgroup"]]
    labels = [f"{s} (n={n})" for s, n in zip(rows["subgroup"], rows["n"], strict=True)]
    fig = go.Figure(go.Scatter(
        x=rows["AUROC"], y=labels,
        mode="markers", marker={"color": colours, "size": 10},
        error_x={"type": "data", "symmetric": False, "array": hi, "arrayminus": lo}))
    fig.add_vline(x=0.5, line_dash="dot", line_color="#999999")
    fig.update_layout(title=title, xaxis={"range": [0, 1], "title": "AUROC (95% CI)"},
                      yaxis={"autorange": "reversed"}, height=120 + 40 * len(rows),
                      margin={"l": 10, "r": 10, "t": 50, "b": 40})
    return fig
