"""Plotly figures for cohort explanations and calibration (pure functions; no Streamlit).

Colours follow shared/CONVENTIONS.md on every chart: vermillion pushes toward the explained
class, blue pushes away (Okabe-Ito pair, safe for the common colour-vision deficiencies). The
per-patient waterfall and probability bars are SVG (:mod:`precimed.charts`, which says why);
the colours are defined there and re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

from precimed.charts import AWAY, BEESWARM_FEATURES, NEUTRAL, TOWARD

__all__ = ["AWAY", "NEUTRAL", "TOWARD", "beeswarm_figure", "calibration_figure"]

WEBGL_POINTS = 5_000  # dots in a beeswarm above which it is drawn with WebGL


def beeswarm_figure(values: np.ndarray, feature_values: np.ndarray | Any, features: list[str],
                    *, class_name: str, max_features: int = BEESWARM_FEATURES, seed: int = 0,
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
