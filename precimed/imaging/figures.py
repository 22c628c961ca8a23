"""Plotly figures for the imaging page (pure functions; no Streamlit).

The displayed image travels as one PNG (``go.Image`` with a data URI), which keeps a 2000-pixel
radiograph to a few hundred kilobytes; the SHAP heatmap is a ``go.Heatmap`` at the model's
resolution, stretched over the image with ``x0/dx`` and ``y0/dy``. Its colour scale follows
shared/CONVENTIONS.md: vermillion toward the explained class, blue away, transparent at zero,
so the image shows through where the model did not look. The colour limits are fixed per
model (the card's ``explanation.heatmap_scale``, from held-out images) when one is given, so a
negative image with tiny attributions looks quiet instead of being stretched to full colour.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

from precimed.dicom.window import to_png
from precimed.plots import AWAY, TOWARD

if TYPE_CHECKING:
    from precimed.imaging.regions import Region


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


SHAP_COLOURSCALE = [
    [0.0, _rgba(AWAY, 1.0)], [0.35, _rgba(AWAY, 0.55)], [0.5, _rgba(AWAY, 0.0)],
    [0.65, _rgba(TOWARD, 0.55)], [1.0, _rgba(TOWARD, 1.0)],
]


def image_figure(rendered: np.ndarray, *, values: np.ndarray | None = None, opacity: float = 0.6,
                 regions: Sequence[Region] = (), zoom: float = 1.0, class_name: str = "",
                 title: str | None = None, scale: float | None = None) -> go.Figure:
    """The windowed image, optionally with the SHAP heatmap and the strongest regions on top.

    Args:
        rendered: uint8 (H, W) or (H, W, 3), as :func:`precimed.dicom.window.render` returns.
        values: SHAP values on the model grid (h, w); drawn over the whole image.
        opacity: of the heatmap layer (0–1).
        regions: rectangles to outline, numbered by rank.
        zoom: ≥ 1; shows the central 1/zoom of the image (the chart can also be zoomed/panned).
        scale: fixed colour limit ±scale (see :func:`heatmap_scale`); None = this map's own max.
    """
    h, w = rendered.shape[:2]
    rgb = rendered if rendered.ndim == 3 else np.repeat(rendered[..., np.newaxis], 3, axis=2)
    uri = "data:image/png;base64," + base64.b64encode(to_png(np.ascontiguousarray(rgb))).decode()
    fig = go.Figure(go.Image(source=uri, x0=0, y0=0, dx=1, dy=1, hoverinfo="x+y",
                             name="image"))
    if values is not None:
        vh, vw = values.shape
        limit = float(scale) if scale else float(np.max(np.abs(values))) or 1.0
        fig.add_trace(go.Heatmap(
            z=values, x0=(w / vw - 1) / 2, dx=w / vw, y0=(h / vh - 1) / 2, dy=h / vh,
            zmin=-limit, zmax=limit, zmid=0, colorscale=SHAP_COLOURSCALE, opacity=opacity,
            name="SHAP", hovertemplate="row %{y:.0f}, column %{x:.0f}<br>SHAP %{z:.2e}<extra></extra>",
            colorbar={"title": {"text": f"SHAP<br>toward<br>{class_name}" if class_name else "SHAP"},
                      "thickness": 14},
        ))
    for r in regions:
        fig.add_shape(type="rect", x0=r.left - 0.5, x1=r.right + 0.5, y0=r.top - 0.5, y1=r.bottom + 0.5,
                      line={"color": TOWARD, "width": 2, "dash": "dot"})
        fig.add_annotation(x=r.left, y=r.top, text=str(r.rank), showarrow=False, yshift=10,
                           font={"color": TOWARD, "size": 14}, bgcolor="rgba(255,255,255,0.7)")
    zoom = max(float(zoom), 1.0)
    half_w, half_h = w / (2 * zoom), h / (2 * zoom)
    fig.update_xaxes(range=[w / 2 - half_w - 0.5, w / 2 + half_w - 0.5], showgrid=False,
                     visible=False, constrain="domain")
    fig.update_yaxes(range=[h / 2 + half_h - 0.5, h / 2 - half_h - 0.5], showgrid=False,
                     visible=False, scaleanchor="x")
    fig.update_layout(title=title, margin={"l": 0, "r": 0, "t": 40 if title else 0, "b": 0},
                      height=min(720, max(360, int(640 * h / max(w, 1)))), showlegend=False,
                      plot_bgcolor="black")
    return fig


def heatmap_scale(card: dict[str, Any]) -> float | None:
    """The model's fixed heatmap colour limit (``explanation.heatmap_scale.value``), or None."""
    value = (card.get("explanation") or {}).get("heatmap_scale", {}).get("value")
    return float(value) if value else None
