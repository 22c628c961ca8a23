"""Plotly figures for explanations and predictions (pure functions; no Streamlit).

Colours follow shared/CONVENTIONS.md on every chart: vermillion pushes toward the explained
class, blue pushes away (Okabe-Ito pair, safe for the common colour-vision deficiencies).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

TOWARD = "#D55E00"  # vermillion
AWAY = "#0072B2"  # blue
NEUTRAL = "#7F7F7F"
OTHER_LABEL = "other features"
WATERFALL_BARS = 12  # strongest features drawn one by one, on screen and in reports
FLAG = "#8A5A00"  # dark amber: input flags (extrapolated / imputed values)


def bar_label(name: str, feature_values: Mapping[str, Any], labels: Mapping[str, str] | None = None,
              flagged: Mapping[str, str] | None = None) -> str:
    """A bar's label: display name (gene symbol with the column), its value, and a flag suffix
    (``"⚠ extrapolated"``) when the value was extrapolated or imputed. Used on screen and in reports."""
    shown = (labels or {}).get(name, name)
    text = f"{shown} = {_fmt(feature_values[name])}" if name in feature_values else shown
    flag = (flagged or {}).get(name)
    return f"{text} ⚠ {flag}" if flag else text


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return str(value)


def fold_values(values: dict[str, float], max_features: int,
                keep: Mapping[str, Any] | None = None) -> list[tuple[str, float]]:
    """The ``max_features`` largest |SHAP| features, the rest summed into one "other" entry.

    Features in ``keep`` (flagged inputs) are always shown on their own. The folded list sums to
    the same total as ``values``, so additivity survives the fold.
    """
    ordered = sorted(values.items(), key=lambda kv: -abs(kv[1]))
    kept = set(keep or ()) & set(values)
    room = max(max_features - len(kept), 0)
    free = [kv for kv in ordered if kv[0] not in kept][:room]
    chosen = {n for n, _ in free} | kept
    head = [kv for kv in ordered if kv[0] in chosen]
    rest = [kv for kv in ordered if kv[0] not in chosen]
    if rest:
        head.append((f"{len(rest)} {OTHER_LABEL}", float(sum(v for _, v in rest))))
    return head


def waterfall_figure(base_value: float, values: dict[str, float], feature_values: dict[str, Any],
                     *, output: float, class_name: str, max_features: int = 12,
                     title: str | None = None, labels: Mapping[str, str] | None = None,
                     flagged: Mapping[str, str] | None = None) -> go.Figure:
    """A SHAP waterfall: base value, each feature's push, the model output.

    Features are sorted by |SHAP| with the largest at the top; beyond ``max_features`` they are
    folded into one bar whose value is their sum. ``labels`` maps a feature to its display name
    (:func:`precimed.cards.feature_labels`); ``flagged`` maps a feature whose value was
    extrapolated or imputed to that word: its bar label ends in "⚠ <word>", its value text
    carries a ⚠, and the label is drawn in amber, always kept among the bars drawn.
    """
    from precimed.format import probability, signed

    flagged = dict(flagged or {})
    folded = fold_values(values, max_features, keep=flagged)[::-1]  # plotly draws bottom-up
    names = [name for name, _ in folded]
    ticks = [bar_label(name, feature_values, labels, flagged) for name in names]
    shown = [f'<span style="color:{FLAG}"><b>{t}</b></span>' if n in flagged else t
             for n, t in zip(names, ticks, strict=True)]
    deltas = [v for _, v in folded]
    fig = go.Figure(go.Waterfall(
        orientation="h",
        measure=["absolute"] + ["relative"] * len(deltas) + ["total"],
        y=["base value (average over background)"] + shown + [f"P({class_name})"],
        x=[base_value] + deltas + [0.0],
        base=0.0,
        text=[f"{base_value:.3f}"] + [signed(d) + (" ⚠" if n in flagged else "")
                                      for n, d in zip(names, deltas, strict=True)] + [probability(output)],
        textposition="outside",
        increasing={"marker": {"color": TOWARD}},
        decreasing={"marker": {"color": AWAY}},
        totals={"marker": {"color": NEUTRAL}},
        connector={"line": {"color": "#BBBBBB", "width": 1}},
    ))
    # Leave room on both sides for the "+0.012" labels drawn outside the bars.
    path = np.concatenate([[0.0, base_value], base_value + np.cumsum(deltas), [output]])
    lo, hi = float(path.min()), float(path.max())
    pad = 0.18 * max(hi - lo, 1e-6)
    fig.update_xaxes(range=[lo - pad, hi + pad])
    fig.update_layout(
        title=title or f"Why P({class_name}) = {probability(output)}",
        xaxis_title=f"probability of '{class_name}'",
        height=max(320, 34 * (len(deltas) + 2) + 110),
        margin={"l": 10, "r": 40, "t": 50, "b": 40},
        showlegend=False,
    )
    return fig


WEBGL_POINTS = 5_000  # dots in a beeswarm above which it is drawn with WebGL


def beeswarm_figure(values: np.ndarray, feature_values: np.ndarray | Any, features: list[str],
                    *, class_name: str, max_features: int = 15, seed: int = 0,
                    labels: Mapping[str, str] | None = None) -> go.Figure:
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
    # SVG up to a few thousand dots: WebGL (Scattergl) costs a GL context, which in a browser
    # without a GPU (software GL) took seconds to open a page (bench_ui: first explanation);
    # beyond that, SVG itself gets slow and WebGL pays off.
    trace = go.Scattergl if values.shape[0] * len(order) > WEBGL_POINTS else go.Scatter
    for rank, j in enumerate(order):
        col = pd.to_numeric(frame.iloc[:, j], errors="coerce").to_numpy(dtype="float64")
        finite = np.isfinite(col)
        if finite.any() and np.ptp(col[finite]) > 0:
            colour = (col - np.nanmin(col)) / np.ptp(col[finite])
        else:
            colour = np.full(len(col), 0.5)
        jitter = rng.uniform(-0.3, 0.3, size=len(col))
        fig.add_trace(trace(
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
        yaxis={"tickvals": list(range(len(order))),
               "ticktext": [(labels or {}).get(features[j], features[j]) for j in order]},
        height=max(320, 28 * len(order) + 120),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    fig.add_vline(x=0, line_color="#999999", line_width=1)
    return fig


def probability_figure(probabilities: dict[str, float], *, threshold: float | None,
                       positive_class: str | None) -> go.Figure:
    """Horizontal bars of the class probabilities with the decision threshold marked."""
    from precimed.format import percent

    names = list(probabilities)
    probs = [probabilities[n] for n in names]
    colours = [TOWARD if n == positive_class else NEUTRAL for n in names]
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
