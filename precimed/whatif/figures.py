"""The what-if page's ICE / partial-dependence chart as inline SVG (a pure function).

Why SVG and not Plotly: every what-if edit redraws this chart. A browser profile of 12 edits on
the 2-core machine put 72 ms of main-thread script per edit in Plotly's redraw of it, the largest
share by far (React, emotion and Markdown together took 95 ms), and the server spent 17 ms per
edit building the Plotly figure (``add_hline`` alone 11 ms). The chart has at most
:data:`~precimed.whatif.curves.POINTS` points per curve, so it needs no zoom: each point carries a
native tooltip instead.

Colours from :mod:`precimed.charts`: this row's curve in blue, its current value as a
vermillion diamond, the cohort average (PDP) dashed in bluish green, the cohort's own curves
faint grey.

Every series is a ``<g>`` with ``data-kind`` (``cohort``, ``pdp``, ``ice``, ``current``,
``threshold``), ``data-label`` and ``data-value`` (the probability at the current value, or
the threshold), and ``data-points``: ``[x, y]`` pairs as JSON, so tests read the numbers, not
pixels.

Example:
    >>> import numpy as np
    >>> from precimed.whatif.curves import IceCurve
    >>> ice = IceCurve("age", [40.0, 50.0, 60.0], np.array([[0.8, 0.2], [0.7, 0.3], [0.5, 0.5]]),
    ...                ["no", "yes"], 50.0, 1)
    >>> svg = ice_pdp_svg(ice, None, "yes", threshold=0.5)
    >>> from precimed.charts import read_svg_bars
    >>> [(s["kind"], s["value"]) for s in read_svg_bars(svg)]
    [('threshold', '0.5'), ('ice', '0.3'), ('current', '0.3')]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np

from precimed.charts import AWAY, CHAR_PX, NEUTRAL, TOWARD, nice_ticks, svg_open
from precimed.format import number

if TYPE_CHECKING:
    from precimed.whatif.curves import IceCurve, PartialDependence

PDP_COLOUR = "#009E73"  # Okabe-Ito bluish green: the cohort average, distinct from the row
WIDTH, HEIGHT = 560, 360
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 40, 96  # plot margins: y ticks; title; x ticks, axis title, legend


def _x_scale(grid: Sequence[Any], categorical: bool) -> tuple[Any, list[tuple[float, str]]]:
    """(value → x pixel, [(x pixel, tick text)]) for a numeric or categorical grid."""
    inner = WIDTH - LEFT - RIGHT
    if categorical:
        cats = [str(v) for v in grid]
        step = inner / max(len(cats), 1)
        pos = {c: LEFT + step * (k + 0.5) for k, c in enumerate(cats)}
        return (lambda v: pos[str(v)]), [(pos[c], c) for c in cats]
    lo, hi = float(min(grid)), float(max(grid))
    span = max(hi - lo, 1e-12)

    def x_of(v: Any) -> float:
        return LEFT + (float(v) - lo) / span * inner

    return x_of, [(x_of(t), f"{t:g}") for t in nice_ticks(lo, hi) if lo - 1e-9 <= t <= hi + 1e-9]


def _y(p: float) -> float:
    return TOP + (1.0 - float(p)) * (HEIGHT - TOP - BOTTOM)


def _points(x_of: Any, grid: Sequence[Any], ys: np.ndarray) -> tuple[str, str]:
    """(SVG polyline points, the data-points attribute: [x, y] pairs as JSON)."""
    svg = " ".join(f"{x_of(g):.1f},{_y(p):.1f}" for g, p in zip(grid, ys, strict=True))
    data = json.dumps([[g if isinstance(g, str) else float(g), float(p)] for g, p in zip(grid, ys, strict=True)])
    return svg, escape(data)


def _diamond(cx: float, cy: float, r: float) -> str:
    """The current value's marker: a vermillion diamond with a black edge."""
    pts = f"{cx:.1f},{cy - r:.1f} {cx + r:.1f},{cy:.1f} {cx:.1f},{cy + r:.1f} {cx - r:.1f},{cy:.1f}"
    return f'<polygon points="{pts}" fill="{TOWARD}" stroke="black" stroke-width="1"/>'


def ice_pdp_svg(ice: IceCurve, pdp: PartialDependence | None, class_name: str, *,
                threshold: float | None = None, cohort_curves: int = 0) -> str:
    """This row's ICE curve (current value marked) and the cohort's PDP for ``class_name``, as
    one line of SVG in a ``<div>`` (see :func:`precimed.charts.svg_open`).

    Args:
        cohort_curves: draw that many of the cohort's own ICE curves, faintly, behind the PDP.
    """
    j = ice.classes.index(class_name)
    categorical = isinstance(ice.current_value, str)
    grid = list(dict.fromkeys([*ice.grid, *(pdp.grid if pdp is not None else [])]))  # order kept
    x_of, xticks = _x_scale(grid, categorical)
    title = (f"P({class_name}) as '{ice.feature}' varies"
             + (" (fixed feature: not actionable)" if ice.fixed else ""))
    bottom = HEIGHT - BOTTOM
    out = svg_open(WIDTH, HEIGHT, title, "ice")
    out.append(f'<text x="4" y="18" font-weight="bold" fill="#111">{escape(title)}</text>')
    for t in nice_ticks(0.0, 1.0):
        y = _y(t)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#E5E5E5"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{t:g}</text>')
    for x, text in xticks:
        out.append(f'<text x="{x:.1f}" y="{bottom + 16:.1f}" text-anchor="middle" fill="#555">{escape(text)}</text>')
    out.append(f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2:.1f}" y="{bottom + 34:.1f}" text-anchor="middle" '
               f'fill="#333">{escape(ice.feature)}</text>'
               f'<text x="12" y="{TOP + (bottom - TOP) / 2:.1f}" text-anchor="middle" fill="#333" '
               f'transform="rotate(-90 12 {TOP + (bottom - TOP) / 2:.1f})">{escape(f"P({class_name})")}</text>')
    legend: list[tuple[str, str, str]] = []  # (colour, dash, text)
    if threshold is not None:
        y = _y(threshold)
        out.append(f'<g data-kind="threshold" data-label="threshold" data-value="{float(threshold)!r}">'
                   f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{NEUTRAL}" '
                   f'stroke-dasharray="2 3"/><text x="{WIDTH - RIGHT - 4}" y="{y - 4:.1f}" text-anchor="end" '
                   f'fill="{NEUTRAL}">threshold {threshold:g}</text></g>')
    if pdp is not None:
        for k in range(min(cohort_curves, pdp.rows)):
            pts, data = _points(x_of, pdp.grid, pdp.ice[k, :, j])
            out.append(f'<g data-kind="cohort" data-label="cohort row {k}" data-points="{data}">'
                       f'<polyline points="{pts}" fill="none" stroke="#CCCCCC" stroke-width="1"/></g>')
        name = f"PDP: average over {pdp.rows} rows"
        pts, data = _points(x_of, pdp.grid, pdp.mean[:, j])
        out.append(f'<g data-kind="pdp" data-label="{escape(name)}" data-points="{data}">'
                   f'<title>{escape(name)}</title><polyline points="{pts}" fill="none" stroke="{PDP_COLOUR}" '
                   'stroke-width="3" stroke-dasharray="8 5"/></g>')
        legend.append((PDP_COLOUR, "8 5", name))
    ys = ice.probabilities[:, j]
    pts, data = _points(x_of, ice.grid, ys)
    dots = "".join(f'<circle cx="{x_of(g):.1f}" cy="{_y(p):.1f}" r="3" fill="{AWAY}">'
                   f'<title>{escape(f"{ice.feature} = {g}: P({class_name}) = {float(p):.3f}")}</title></circle>'
                   for g, p in zip(ice.grid, ys, strict=True))
    p_now = float(ys[ice.current_index])
    out.append(f'<g data-kind="ice" data-label="ICE: this row" data-value="{p_now!r}" data-points="{data}">'
               f'<polyline points="{pts}" fill="none" stroke="{AWAY}" stroke-width="3"/>{dots}</g>')
    legend.append((AWAY, "", "ICE: this row"))
    cx, cy = x_of(ice.grid[ice.current_index]), _y(p_now)
    now = f"current value ({number(ice.current_value)})"
    out.append(f'<g data-kind="current" data-label="{escape(now)}" data-value="{p_now!r}">'
               f'<title>{escape(f"{now}: P({class_name}) = {p_now:.3f}")}</title>'
               f'{_diamond(cx, cy, 8)}</g>')
    x, y = float(LEFT), float(bottom + 56)
    for colour, dash, text in [*legend, (TOWARD, "", now)]:
        if x > LEFT and x + 34 + CHAR_PX * len(text) > WIDTH:  # a second legend line
            x, y = float(LEFT), y + 20
        mark = (_diamond(x + 11, y, 6) if text == now else
                f'<line x1="{x:.1f}" x2="{x + 22:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" stroke-width="3"'
                + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        out.append(f'{mark}<text x="{x + 28:.1f}" y="{y + 4:.1f}" fill="#333">{escape(text)}</text>')
        x += 40 + CHAR_PX * len(text)
    out.append("</svg></div>")
    return "".join(out)

