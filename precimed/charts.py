"""The SHAP waterfall and the probability bars as inline SVG (pure functions; no Streamlit).

Why SVG and not Plotly for these two: a browser tab loads Plotly's 4.6 MB script before it can
draw its first Plotly chart. On the 2-core machine a new Genomics tab showed its waterfall 3.4–3.7 s
after the click with Plotly and 1.8–2.5 s with this markup (``bench_ui.py``), and each what-if
edit redrew four Plotly charts. A waterfall needs no zoom, only exact labels, so it is drawn
here; each bar carries a native tooltip (``<title>``). A cohort beeswarm is drawn here up to
:data:`SVG_DOTS` dots; larger ones, the calibration and survival curves and images stay in Plotly
(the what-if ICE chart is SVG too: :mod:`precimed.whatif.figures`).

The layout (:func:`waterfall`) is computed once and drawn by every renderer: this SVG on screen
and in the HTML report, and the PDF's own drawing (:mod:`precimed.report.pdf`), so the screen
and the reports show the same bars, labels and colours.

Colours follow shared/CONVENTIONS.md: vermillion pushes toward the explained class, blue
pushes away (Okabe-Ito pair, safe for the common colour-vision deficiencies).

Example:
    >>> wf = waterfall(0.3, {"a": 0.2, "b": -0.05}, {"a": 1.0, "b": 2.0}, output=0.45,
    ...                class_name="yes")
    >>> [(b.label, b.text) for b in wf.bars]
    [('P(yes)', '0.450'), ('a = 1', '+0.200'), ('b = 2', '-0.050'), ('base value (average over background)', '0.300')]
    >>> waterfall_svg(wf).startswith('<div class="pm-chart">')
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np

TOWARD = "#D55E00"  # vermillion
AWAY = "#0072B2"  # blue
NEUTRAL = "#7F7F7F"
FLAG = "#8A5A00"  # dark amber: input flags (extrapolated / imputed values)
OTHER_LABEL = "other features"
BASE_LABEL = "base value (average over background)"
WATERFALL_BARS = 12  # strongest features drawn one by one, on screen and in reports
COLOURS = {"toward": TOWARD, "away": AWAY, "base": NEUTRAL, "total": NEUTRAL}

# Text metrics for a 12 px sans-serif face, used to size the label column. SVG cannot measure
# text before the browser lays it out, so widths are estimated generously (wide glyphs).
FONT_PX = 12
CHAR_PX = 6.9
ROW_PX = 26
PLOT_PX = 420  # width of the bar area
VALUE_PX = 70  # room beside a bar end for its value text
PROB_PX = 200  # width of the probability bars: they sit in a third of the page, beside the card


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


def fold_values(values: Mapping[str, float], max_features: int,
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


@dataclass(frozen=True)
class Bar:
    """One row of a waterfall: it spans ``start`` → ``end`` on the output scale.

    ``kind`` is "total" (the output, from 0), "toward" / "away" (a feature's push), or "base"
    (the base value, from 0). ``value`` is the push (or the output / base value)."""

    label: str
    start: float
    end: float
    value: float
    kind: str
    text: str
    flag: str | None = None


@dataclass(frozen=True)
class Waterfall:
    """A SHAP waterfall laid out top to bottom: the output, features largest first, the base."""

    title: str
    axis_title: str
    bars: tuple[Bar, ...]

    def extent(self) -> tuple[float, float]:
        """(lo, hi) of the output scale every renderer draws: every bar's ends and zero."""
        points = [0.0] + [v for b in self.bars for v in (b.start, b.end)]
        return min(points), max(points)


def waterfall(base_value: float, values: Mapping[str, float], feature_values: Mapping[str, Any], *,
              output: float, class_name: str, max_features: int = WATERFALL_BARS,
              title: str | None = None, labels: Mapping[str, str] | None = None,
              flagged: Mapping[str, str] | None = None) -> Waterfall:
    """Lay out a SHAP waterfall: base value, each feature's push, the model output.

    Features are sorted by |SHAP| with the largest at the top; beyond ``max_features`` they are
    folded into one bar whose value is their sum (:func:`fold_values`). ``labels`` maps a feature
    to its display name (:func:`precimed.cards.feature_labels`); ``flagged`` maps a feature whose
    value was extrapolated or imputed to that word: such a bar is always drawn, its label ends
    in "⚠ <word>" and its value text carries a ⚠.

    As in SHAP's own waterfall, the pushes accumulate from the base value at the bottom up to
    the output at the top, so each bar starts where the one below it ended.
    """
    from precimed.format import probability, signed

    flagged = dict(flagged or {})
    folded = fold_values(values, max_features, keep=flagged)
    x = float(base_value)
    spans: list[tuple[float, float]] = []
    for _, d in reversed(folded):  # bottom-up
        spans.append((x, x + float(d)))
        x += float(d)
    spans.reverse()
    bars = [Bar(f"P({class_name})", 0.0, float(output), float(output), "total", probability(output))]
    for (name, d), (start, end) in zip(folded, spans, strict=True):
        flag = flagged.get(name)
        bars.append(Bar(bar_label(name, feature_values, labels, flagged), start, end, float(d),
                        "toward" if d >= 0 else "away", signed(d) + (" ⚠" if flag else ""), flag))
    bars.append(Bar(BASE_LABEL, 0.0, float(base_value), float(base_value), "base", f"{base_value:.3f}"))
    return Waterfall(title=title or f"Why P({class_name}) = {probability(output)}",
                     axis_title=f"probability of '{class_name}'", bars=tuple(bars))


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart)."""
    span = max(hi - lo, 1e-9)
    raw = span / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + k * step, 12) for k in range(int((hi - first) / step + 1e-9) + 1)]


def _text_px(text: str) -> float:
    return len(text) * CHAR_PX


def svg_open(width: float, height: float, title: str, kind: str) -> list[str]:
    t = escape(title)
    return ['<div class="pm-chart">',
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'width="100%" style="max-width:{width:.0f}px;height:auto;font-size:{FONT_PX}px" '
            f'role="img" aria-label="{t}" data-chart="{kind}"><title>{t}</title>']


def _axis(x_of: Any, ticks: list[float], top: float, bottom: float, title: str, mid: float) -> list[str]:
    out = []
    for t in ticks:
        x = x_of(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top:.1f}" y2="{bottom:.1f}" stroke="#E5E5E5"/>'
                   f'<text x="{x:.1f}" y="{bottom + 15:.1f}" text-anchor="middle" fill="#555">{t:g}</text>')
    out.append(f'<text x="{mid:.1f}" y="{bottom + 32:.1f}" text-anchor="middle" fill="#333">{escape(title)}</text>')
    return out


def waterfall_svg(wf: Waterfall) -> str:
    """The waterfall as one line of SVG in a ``<div>`` (an HTML block for Markdown renderers).

    Each bar is a ``<g>`` with ``data-label``, ``data-value``, ``data-kind`` (and ``data-flag``)
    so that tests and assistive tools read the numbers, not the pixels."""
    label_w = min(max(_text_px(b.label) for b in wf.bars) + 12, 460)
    width = label_w + PLOT_PX
    top = 34
    height = top + ROW_PX * len(wf.bars) + 44
    lo, hi = wf.extent()
    span = max(hi - lo, 1e-6)
    inner = PLOT_PX - 2 * VALUE_PX

    def x_of(v: float) -> float:
        return label_w + VALUE_PX + (v - lo) / span * inner

    bottom = top + ROW_PX * len(wf.bars)
    out = svg_open(width, height, wf.title, "waterfall")
    out.append(f'<text x="4" y="18" font-weight="bold" fill="#111">{escape(wf.title)}</text>')
    out += _axis(x_of, nice_ticks(lo, hi), top, bottom, wf.axis_title, label_w + PLOT_PX / 2)
    for i, b in enumerate(wf.bars):
        y = top + i * ROW_PX
        x0, x1 = sorted((x_of(b.start), x_of(b.end)))
        colour = COLOURS[b.kind]
        label_colour, weight = (FLAG, ' font-weight="bold"') if b.flag else ("#222", "")
        # value text beside the end the bar points to (left of a blue bar, right otherwise)
        text_x, anchor = (x0 - 4, "end") if b.kind == "away" else (x1 + 4, "start")
        tip = f"{b.label}: {b.text}" + (f" (from {b.start:.3f} to {b.end:.3f})" if b.kind in ("toward", "away") else "")
        attrs = (f'data-label="{escape(b.label)}" data-value="{b.value!r}" data-kind="{b.kind}"'
                 + (f' data-flag="{escape(b.flag)}"' if b.flag else ""))
        out.append(f'<g {attrs}><title>{escape(tip)}</title>'
                   f'<text x="{label_w - 8:.1f}" y="{y + 17:.1f}" text-anchor="end" fill="{label_colour}"{weight}>'
                   f'{escape(b.label)}</text>'
                   f'<rect x="{x0:.1f}" y="{y + 4:.1f}" width="{max(x1 - x0, 1.0):.1f}" height="{ROW_PX - 8}" '
                   f'fill="{colour}"/>'
                   f'<text x="{text_x:.1f}" y="{y + 17:.1f}" text-anchor="{anchor}" fill="#222">'
                   f'{escape(b.text)}</text></g>')
        if 0 < i < len(wf.bars) - 1:  # connector from this bar's start to the next bar's end
            xs = x_of(b.start)
            out.append(f'<line x1="{xs:.1f}" x2="{xs:.1f}" y1="{y + ROW_PX - 4:.1f}" y2="{y + ROW_PX + 4:.1f}" '
                       'stroke="#999"/>')
    out.append(f'<line x1="{x_of(0.0):.1f}" x2="{x_of(0.0):.1f}" y1="{top:.1f}" y2="{bottom:.1f}" stroke="#444"/>')
    out.append("</svg></div>")
    return "".join(out)


def probability_svg(probabilities: Mapping[str, float], *, threshold: float | None,
                    positive_class: str | None) -> str:
    """Horizontal bars of the class probabilities on 0–1, the decision threshold dashed.

    Texts use :func:`precimed.format.percent` ("> 99.9%", never "100.0%"), drawn in full."""
    from precimed.format import percent

    names = list(probabilities)
    label_w = min(max(_text_px(n) for n in names) + 12, 300)
    plot = PROB_PX
    width = label_w + plot + 20
    top = 26 if threshold is not None and positive_class is not None else 8
    row = 30
    bottom = top + row * len(names)
    height = bottom + 40

    def x_of(v: float) -> float:
        return label_w + v * plot

    title = "Class probabilities" + (f" (threshold {threshold:g} on P({positive_class}))"
                                     if threshold is not None and positive_class is not None else "")
    out = svg_open(width, height, title, "probabilities")
    out += _axis(x_of, [0.0, 0.25, 0.5, 0.75, 1.0], top, bottom, "probability", label_w + plot / 2)
    for i, name in enumerate(names):
        p = float(probabilities[name])
        y = top + i * row
        colour = TOWARD if name == positive_class else NEUTRAL
        text = percent(p)
        inside = p >= 0.45  # room for the text inside the bar
        tx, anchor, fill = ((x_of(p) - 4, "end", "#FFF") if inside else (x_of(p) + 4, "start", "#222"))
        out.append(f'<g data-label="{escape(name)}" data-value="{p!r}" data-kind="probability">'
                   f'<title>{escape(f"P({name}) = {text}")}</title>'
                   f'<text x="{label_w - 8:.1f}" y="{y + 19:.1f}" text-anchor="end" fill="#222">{escape(name)}</text>'
                   f'<rect x="{label_w:.1f}" y="{y + 5:.1f}" width="{max(p * plot, 1.0):.1f}" height="{row - 10}" '
                   f'fill="{colour}"/>'
                   f'<text x="{tx:.1f}" y="{y + 19:.1f}" text-anchor="{anchor}" fill="{fill}">'
                   f'{escape(text)}</text></g>')
    if threshold is not None and positive_class is not None:
        x = x_of(float(threshold))
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4:.1f}" y2="{bottom:.1f}" stroke="#333" '
                   f'stroke-dasharray="4 3" data-threshold="{float(threshold)!r}"/>'
                   f'<text x="{x:.1f}" y="{top - 8:.1f}" text-anchor="middle" fill="#333">'
                   f'threshold {float(threshold):g}</text>')
    out.append("</svg></div>")
    return "".join(out)


SVG_DOTS = 1_500  # a beeswarm with more dots than this is drawn by Plotly (WebGL) instead
BEESWARM_FEATURES = 15  # features shown in a cohort SHAP summary, SVG or Plotly


def _mix(a: str, b: str, t: float) -> str:
    pa, pb = (tuple(int(h[i:i + 2], 16) for i in (1, 3, 5)) for h in (a, b))
    return "#" + "".join(f"{round(x + (y - x) * t):02X}" for x, y in zip(pa, pb, strict=True))


def _dot_colour(t: float) -> str:
    """Low feature values blue, high vermillion, through light grey (Plotly's scale in
    :func:`precimed.plots.beeswarm_figure`)."""
    return _mix(AWAY, "#DDDDDD", 2 * t) if t <= 0.5 else _mix("#DDDDDD", TOWARD, 2 * t - 1)


def beeswarm_svg(values: np.ndarray, feature_values: Any, features: list[str], *, class_name: str,
                 max_features: int = BEESWARM_FEATURES, seed: int = 0,
                 labels: Mapping[str, str] | None = None) -> str:
    """Cohort SHAP summary as SVG: one dot per row and feature, x = SHAP value, colour = the
    feature's value (low → high, scaled per feature; grey when not a number), features sorted by
    mean |SHAP|, largest at the top. The same layout and jitter as Plotly's
    :func:`precimed.plots.beeswarm_figure`, which draws cohorts above :data:`SVG_DOTS` dots."""
    import pandas as pd

    frame = pd.DataFrame(feature_values, columns=features)
    order = list(np.argsort(-np.abs(values).mean(axis=0))[:max_features])
    rng = np.random.default_rng(seed)
    names = [(labels or {}).get(features[j], features[j]) for j in order]
    label_w = min(max(_text_px(n) for n in names) + 12, 360)
    width, row, top = label_w + PLOT_PX, 28, 34
    bottom = top + row * len(order)
    shown = values[:, order]
    lo, hi = float(min(shown.min(), 0.0)), float(max(shown.max(), 0.0))
    pad = 0.05 * max(hi - lo, 1e-6)
    lo, hi = lo - pad, hi + pad

    def x_of(v: float) -> float:
        return label_w + 10 + (v - lo) / (hi - lo) * (PLOT_PX - 30)

    title = f"Cohort SHAP summary for P({class_name})"
    out = svg_open(width, bottom + 44, title, "beeswarm")
    out.append(f'<text x="4" y="18" font-weight="bold" fill="#111">{escape(title)}</text>')
    out += _axis(x_of, nice_ticks(lo, hi), top, bottom, f"SHAP value (effect on P({class_name}))",
                 label_w + PLOT_PX / 2)
    out.append(f'<line x1="{x_of(0.0):.1f}" x2="{x_of(0.0):.1f}" y1="{top}" y2="{bottom}" stroke="#999"/>')
    groups: list[str] = []
    for rank, j in enumerate(reversed(order)):  # bottom-up, Plotly's order: the same jitter draws
        col = pd.to_numeric(frame.iloc[:, j], errors="coerce").to_numpy(dtype="float64")
        finite = np.isfinite(col)
        scaled = ((col - np.nanmin(col)) / np.ptp(col[finite]) if finite.any() and np.ptp(col[finite]) > 0
                  else np.full(len(col), 0.5))
        jitter = rng.uniform(-0.3, 0.3, size=len(col))
        y_mid = bottom - (rank + 0.5) * row
        texts = frame.iloc[:, j].astype(str).to_numpy()
        name = names[len(order) - 1 - rank]
        dots = [f'<g data-label="{escape(name)}" data-kind="feature" '
                f'data-value="{float(np.abs(values[:, j]).mean())!r}">'
                f'<text x="{label_w - 8}" y="{y_mid + 4:.1f}" text-anchor="end" fill="#222">{escape(name)}</text>']
        for v, t, dy, text in zip(values[:, j], scaled, jitter, texts, strict=True):
            fill = _dot_colour(float(t)) if np.isfinite(t) else "#DDDDDD"
            dots.append(f'<circle cx="{x_of(float(v)):.1f}" cy="{y_mid - dy * row:.1f}" r="3.5" fill="{fill}" '
                        f'fill-opacity="0.85"><title>{escape(f"{features[j]} = {text}; SHAP {float(v):+.4f}")}'
                        "</title></circle>")
        groups.append("".join(dots) + "</g>")
    out += groups[::-1]  # top to bottom in the markup, as read_svg_bars reports them
    legend_x = label_w + PLOT_PX - 150
    out.append(f'<text x="{legend_x}" y="18" fill="#555">feature value: '
               f'<tspan fill="{AWAY}">low</tspan> → <tspan fill="{TOWARD}">high</tspan></text>')
    out.append("</svg></div>")
    return "".join(out)


def read_svg_bars(markup: str) -> list[dict[str, str]]:
    """The ``data-*`` attributes of each ``<g data-kind=…>`` in an SVG chart's markup, in document
    order: the bars of :func:`waterfall_svg` or :func:`probability_svg`, top to bottom, or the
    series of :func:`precimed.whatif.figures.ice_pdp_svg` (for tests and for anyone reading the
    numbers back).

    Example:
        >>> read_svg_bars(probability_svg({"a": 0.25}, threshold=None, positive_class=None))
        [{'label': 'a', 'value': '0.25', 'kind': 'probability'}]
    """
    import xml.etree.ElementTree as ET

    start, end = markup.index("<svg"), markup.rindex("</svg>") + len("</svg>")
    root = ET.fromstring(markup[start:end])
    return [{k[5:]: v for k, v in g.attrib.items() if k.startswith("data-")}
            for g in root.iter("{http://www.w3.org/2000/svg}g") if "data-kind" in g.attrib]
