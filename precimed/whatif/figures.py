"""Plotly figures of the what-if page (pure functions; colours from :mod:`precimed.plots`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

from precimed.plots import AWAY, NEUTRAL, TOWARD

if TYPE_CHECKING:
    from precimed.whatif.curves import IceCurve, PartialDependence

PDP_COLOUR = "#009E73"  # Okabe-Ito bluish green: the cohort average, distinct from the row


def ice_pdp_figure(ice: IceCurve, pdp: PartialDependence | None, class_name: str, *,
                   threshold: float | None = None, cohort_curves: int = 0) -> go.Figure:
    """This row's ICE curve (current value marked) and the cohort's PDP for ``class_name``.

    Args:
        cohort_curves: draw that many of the cohort's own ICE curves, faintly, behind the PDP.
    """
    j = ice.classes.index(class_name)
    x = [str(v) for v in ice.grid] if isinstance(ice.current_value, str) else ice.grid
    fig = go.Figure()
    if pdp is not None:
        px = [str(v) for v in pdp.grid] if isinstance(ice.current_value, str) else pdp.grid
        for k in range(min(cohort_curves, pdp.rows)):
            fig.add_trace(go.Scatter(x=px, y=pdp.ice[k, :, j], mode="lines", hoverinfo="skip",
                                     line={"color": "#CCCCCC", "width": 1}, showlegend=False))
        fig.add_trace(go.Scatter(x=px, y=pdp.mean[:, j], mode="lines",
                                 name=f"PDP: average over {pdp.rows} rows",
                                 line={"color": PDP_COLOUR, "width": 3, "dash": "dash"}))
    fig.add_trace(go.Scatter(x=x, y=ice.probabilities[:, j], mode="lines+markers",
                             name="ICE: this row", line={"color": AWAY, "width": 3},
                             marker={"size": 4}))
    fig.add_trace(go.Scatter(x=[x[ice.current_index]], y=[ice.probabilities[ice.current_index, j]],
                             mode="markers", name=f"current value ({ice.current_value})",
                             marker={"color": TOWARD, "size": 14, "symbol": "diamond",
                                     "line": {"color": "black", "width": 1}}))
    if threshold is not None:
        fig.add_hline(y=threshold, line_dash="dot", line_color=NEUTRAL,
                      annotation_text=f"threshold {threshold:g}")
    fig.update_layout(title=f"P({class_name}) as '{ice.feature}' varies"
                            + (" (fixed feature: not actionable)" if ice.fixed else ""),
                      xaxis_title=ice.feature, yaxis_title=f"P({class_name})",
                      yaxis={"range": [0, 1]}, height=380,
                      margin={"l": 10, "r": 10, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.25})
    return fig
