"""Plotly figures for explanations and predictions (pure functions; no Streamlit).

Colours follow shared/CONVENTIONS.md on every chart: vermillion pushes toward the explained
class, blue pushes away (Okabe-Ito pair, safe for the common colour-vision deficiencies).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

TOWARD = "#D55E00"  # vermillion
AWAY = "#0072B2"  # blue
NEUTRAL = "#7F7F7F"
OTHER_LABEL = "other features"


WATERFALL_BARS = 12  # strongest features drawn one by one, on screen and in the PDF alike


def _fmt(value: Any) -> str:
    from precimed.format import number

    return number(value)


def fold_values(values: dict[str, float], max_features: int) -> list[tuple[str, float]]:
    """The ``max_features`` largest |SHAP| features, the rest summed into one "other" entry.

    The folded list sums to the same total as ``values``, so additivity survives the fold.
    """
    ordered = sorted(values.items(), key=lambda kv: -abs(kv[1]))
    head = ordered[:max_features]
    rest = ordered[max_features:]
    if rest:
        head.append((f"{len(rest)} {OTHER_LABEL}", float(sum(v for _, v in rest))))
    return head


@dataclass(frozen=True)
class WaterfallBar:
    """One bar of a SHAP waterfall, from ``start`` to ``end`` on the probability axis."""

    label: str
    start: float
    end: float
    kind: str  # "base" | "feature" | "output"
    text: str
    colour: str

    @property
    def value(self) -> float:
        return self.end - self.start


def waterfall_bars(base_value: float, values: dict[str, float], feature_values: dict[str, Any], *,
                   output: float, class_name: str,
                   max_features: int = WATERFALL_BARS) -> list[WaterfallBar]:
    """The waterfall, top to bottom: the output, the strongest features (largest first), the
    folded rest, the base value (SHAP's layout). Bars accumulate bottom-up from the base value,
    so each feature's bar starts where the one below it ends.

    The one definition of the explanation chart: :func:`waterfall_figure` (screen) and the PDF
    and HTML reports (:mod:`precimed.report`) all draw these bars, so they show the same bar
    count and the same colours: red toward ``class_name``, blue away, grey for base and output.
    """
    from precimed.format import signed

    bottom_up = [WaterfallBar("base value (average over background)", 0.0, float(base_value), "base",
                              f"{base_value:.3f}", NEUTRAL)]
    at = float(base_value)
    for name, v in fold_values(values, max_features)[::-1]:
        label = f"{name} = {_fmt(feature_values[name])}" if name in feature_values else name
        bottom_up.append(WaterfallBar(label, at, at + v, "feature", signed(v),
                                      TOWARD if v > 0 else AWAY if v < 0 else NEUTRAL))
        at += v
    bottom_up.append(WaterfallBar(f"P({class_name})", 0.0, float(output), "output", f"{output:.3f}",
                                  NEUTRAL))
    return bottom_up[::-1]


def waterfall_figure(base_value: float, values: dict[str, float], feature_values: dict[str, Any],
                     *, output: float, class_name: str, max_features: int = WATERFALL_BARS,
                     title: str | None = None) -> go.Figure:
    """A SHAP waterfall (plotly) of :func:`waterfall_bars`: base value, each feature's push,
    the model output; features sorted by |SHAP|, the largest at the top; beyond
    ``max_features`` they are folded into one bar whose value is their sum.
    """
    bars = waterfall_bars(base_value, values, feature_values, output=output,
                          class_name=class_name, max_features=max_features)[::-1]  # bottom-up
    deltas = [b.value for b in bars if b.kind == "feature"]
    measure = {"base": "absolute", "feature": "relative", "output": "total"}
    fig = go.Figure(go.Waterfall(
        orientation="h",
        measure=[measure[b.kind] for b in bars],
        y=[b.label for b in bars],
        x=[b.end if b.kind == "base" else b.value if b.kind == "feature" else 0.0 for b in bars],
        base=0.0,
        text=[b.text for b in bars],
        textposition="outside",
        increasing={"marker": {"color": TOWARD}},
        decreasing={"marker": {"color": AWAY}},
        totals={"marker": {"color": NEUTRAL}},
        connector={"line": {"color": "#BBBBBB", "width": 1}},
    ))
    # Leave room on both sides for the "+0.012" labels drawn outside the bars.
    path = np.array([0.0, output] + [e for b in bars for e in (b.start, b.end)])
    lo, hi = float(path.min()), float(path.max())
    pad = 0.18 * max(hi - lo, 1e-6)
    fig.update_xaxes(range=[lo - pad, hi + pad])
    fig.update_layout(
        title=title or f"Why P({class_name}) = {output:.3f}",
        xaxis_title=f"probability of '{class_name}'",
        height=max(320, 34 * (len(deltas) + 2) + 110),
        margin={"l": 10, "r": 40, "t": 50, "b": 40},
        showlegend=False,
    )
    return fig


def beeswarm_figure(values: np.ndarray, feature_values: np.ndarray | Any, features: list[str],
                    *, class_name: str, max_features: int = 15, seed: int = 0) -> go.Figure:
    """Cohort SHAP summary (beeswarm-style): one dot per row and feature, x = SHAP value,
    colour = the feature's value (low → high, scaled per feature), features sorted by mean |SHAP|.

    Args:
        values: (rows, features) SHAP values for ``class_name``.
        feature_values: (rows, features) values; non-numeric columns are shown in grey.
    """
    import pandas as pd

    frame = pd.DataFrame(feature_values, columns=features)
    importance = np.abs(values).mean(axis=0)
    order = np.argsort(-importance)[:max_features][::-1]
    rng = np.random.default_rng(seed)
    fig = go.Figure()
    for rank, j in enumerate(order):
        col = pd.to_numeric(frame.iloc[:, j], errors="coerce").to_numpy(dtype="float64")
        finite = np.isfinite(col)
        if finite.any() and np.ptp(col[finite]) > 0:
            colour = (col - np.nanmin(col)) / np.ptp(col[finite])
        else:
            colour = np.full(len(col), 0.5)
        jitter = rng.uniform(-0.3, 0.3, size=len(col))
        fig.add_trace(go.Scattergl(
            x=values[:, j], y=rank + jitter, mode="markers", name=features[j],
            marker={"color": colour, "colorscale": [[0, AWAY], [0.5, "#DDDDDD"], [1, TOWARD]],
                    "cmin": 0, "cmax": 1, "size": 6, "opacity": 0.8,
                    "showscale": rank == len(order) - 1,
                    "colorbar": {"title": "feature value", "tickvals": [0, 1], "ticktext": ["low", "high"]}},
            customdata=frame.iloc[:, j].astype(str).to_numpy(),
            hovertemplate=f"{features[j]} = %{{customdata}}<br>SHAP %{{x:.4f}}<extra></extra>",
            showlegend=False,
        ))
    fig.update_layout(
        title=f"Cohort SHAP summary for P({class_name})",
        xaxis_title=f"SHAP value (effect on P({class_name}))",
        yaxis={"tickvals": list(range(len(order))), "ticktext": [features[j] for j in order]},
        height=max(320, 28 * len(order) + 120),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    fig.add_vline(x=0, line_color="#999999", line_width=1)
    return fig


def probability_colours(names: list[str], highlighted: str | None) -> list[str]:
    """Probability bars: the positive (or explained) class in red, the others grey; never the
    blue that means "pushes away" on the explanation charts. Shared by screen and PDF."""
    return [TOWARD if n == highlighted else NEUTRAL for n in names]


def probability_figure(probabilities: dict[str, float], *, threshold: float | None,
                       positive_class: str | None) -> go.Figure:
    """Horizontal bars of the class probabilities with the decision threshold marked."""
    from precimed.format import percent

    names = list(probabilities)
    probs = [probabilities[n] for n in names]
    colours = probability_colours(names, positive_class)
    fig = go.Figure(go.Bar(x=probs, y=names, orientation="h", marker_color=colours,
                           text=[percent(p) for p in probs], textposition="auto"))
    if threshold is not None and positive_class is not None:
        fig.add_vline(x=threshold, line_dash="dash", line_color="#333333",
                      annotation_text=f"threshold {threshold:g}", annotation_position="top")
    fig.update_layout(xaxis={"range": [0, 1], "title": "probability"}, height=80 + 45 * len(names),
                      margin={"l": 10, "r": 10, "t": 30, "b": 40}, showlegend=False)
    return fig


def calibration_figure(predicted: list[float], observed: list[float], *, title: str) -> go.Figure:
    """Calibration curve (predicted vs observed frequency) with the diagonal."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect",
                             line={"dash": "dash", "color": "#999999"}))
    fig.add_trace(go.Scatter(x=predicted, y=observed, mode="lines+markers", name="model",
                             line={"color": AWAY}))
    fig.update_layout(title=title, xaxis_title="mean predicted probability",
                      yaxis_title="observed frequency", height=360,
                      xaxis={"range": [0, 1]}, yaxis={"range": [0, 1]},
                      margin={"l": 10, "r": 10, "t": 50, "b": 40})
    return fig
