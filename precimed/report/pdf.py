"""The report as a one-page A4 PDF (fpdf2), drawn without a browser.

The explanation chart is drawn with the PDF's own rectangles and text: a ten-bar chart needs no
plotting engine, and plotly's static export (kaleido) would start a headless Chromium for each
report (seconds, and a browser the offline install may lack). Text uses DejaVu Sans when the
system has it (every character of the cards); otherwise Helvetica with characters outside
Latin-1 replaced.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from precimed.charts import COLOURS, FLAG, NEUTRAL, TOWARD, Waterfall
from precimed.report.content import ReportContent

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
PAGE_W, MARGIN = 210.0, 12.0
_LATIN1 = {"\u2013": "-", "\u2014": "-", "\u2264": "<=", "\u2265": ">=", "\u2192": "->",
           "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2026": "...",
           "\u00d7": "x", "\u26a0": "!"}


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


class _Doc:
    def __init__(self, base: float) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(orientation="P", unit="mm", format="A4")
        self.pdf.set_margins(MARGIN, MARGIN, MARGIN)
        self.pdf.set_auto_page_break(True, margin=MARGIN)
        self.base = base
        self.family = "Helvetica"
        regular = next((d / "DejaVuSans.ttf" for d in FONT_DIRS
                        if (d / "DejaVuSans.ttf").is_file()), None)
        if regular is not None:
            self.pdf.add_font("DejaVu", "", str(regular))
            bold = regular.with_name("DejaVuSans-Bold.ttf")
            self.pdf.add_font("DejaVu", "B", str(bold if bold.is_file() else regular))
            mono = regular.with_name("DejaVuSansMono.ttf")
            self.pdf.add_font("DejaVuMono", "", str(mono if mono.is_file() else regular))
            self.family = "DejaVu"
        self.pdf.add_page()

    def text(self, s: str) -> str:
        if self.family == "DejaVu":
            return s
        for a, b in _LATIN1.items():
            s = s.replace(a, b)
        return s.encode("latin-1", "replace").decode("latin-1")

    def font(self, style: str = "", scale: float = 1.0, mono: bool = False) -> None:
        if mono:
            self.pdf.set_font("DejaVuMono" if self.family == "DejaVu" else "Courier", "",
                              self.base * scale)
        else:
            self.pdf.set_font(self.family, style, self.base * scale)

    @property
    def line_h(self) -> float:
        return self.base * 0.47

    def para(self, s: str, style: str = "", scale: float = 1.0, colour: str = "#000000") -> None:
        from fpdf.enums import XPos, YPos

        self.font(style, scale)
        self.pdf.set_text_color(*_rgb(colour))
        self.pdf.multi_cell(0, self.line_h * scale, self.text(s), align="L", new_x=XPos.LMARGIN,
                            new_y=YPos.NEXT)
        self.pdf.set_text_color(0, 0, 0)

    def labelled(self, label: str, s: str) -> None:
        """A bold label then regular text, wrapped (``write`` flows inline; no markdown, so
        card text cannot switch styles)."""
        self.font("B")
        self.pdf.write(self.line_h, self.text(f"{label}. "))
        self.font()
        self.pdf.write(self.line_h, self.text(s))
        self.pdf.ln(self.line_h)

    def heading(self, s: str) -> None:
        self.pdf.ln(1.2)
        self.para(s, "B", 1.2)
        y = self.pdf.get_y()
        self.pdf.set_draw_color(180, 180, 180)
        self.pdf.line(MARGIN, y, PAGE_W - MARGIN, y)
        self.pdf.ln(0.8)

    def bars(self, bars: list[tuple[str, float, str]], *, label_w: float, scale_max: float,
             value_fmt: str) -> None:
        """Horizontal bars from a zero line, one per (label, value, colour)."""
        pdf = self.pdf
        h = self.line_h * 1.05
        x0 = MARGIN + label_w
        width = PAGE_W - 2 * MARGIN - label_w - 16
        zero = x0 + width / 2 if any(v < 0 for _, v, _ in bars) else x0
        half = (x0 + width - zero) or width
        self.font()
        for label, value, colour in bars:
            y = pdf.get_y()
            pdf.set_xy(MARGIN, y)
            pdf.cell(label_w - 1, h, self.text(label)[:70], align="R")
            length = half * min(abs(value) / scale_max, 1.0) if scale_max > 0 else 0.0
            pdf.set_fill_color(*_rgb(colour))
            left = zero - length if value < 0 else zero
            pdf.rect(left, y + 0.5, max(length, 0.2), h - 1.0, style="F")
            text_x = zero + length + 1 if value >= 0 else zero + 1
            pdf.set_xy(text_x, y)
            pdf.cell(15, h, value_fmt.format(value))
            pdf.set_y(y + h)
        pdf.set_draw_color(60, 60, 60)
        top = pdf.get_y() - h * len(bars)
        pdf.line(zero, top, zero, pdf.get_y())

    def waterfall(self, wf: Waterfall, *, label_w: float) -> None:
        """The screen's waterfall (:func:`precimed.charts.waterfall`): the same bars, spans,
        texts and colours, drawn with fpdf's own primitives (no SVG or font round trip)."""
        pdf = self.pdf
        h = self.line_h * 1.05
        room = 16.0  # mm beside the bar ends for the value texts
        x0 = MARGIN + label_w + room
        width = PAGE_W - 2 * MARGIN - label_w - 2 * room
        lo, hi = wf.extent()
        span = max(hi - lo, 1e-6)

        def x_of(v: float) -> float:
            return x0 + (v - lo) / span * width

        self.font()
        top = pdf.get_y()
        for b in wf.bars:
            y = pdf.get_y()
            pdf.set_xy(MARGIN, y)
            pdf.set_text_color(*_rgb(FLAG if b.flag else "#000000"))
            pdf.cell(label_w - 1, h, self.text(b.label)[:70], align="R")
            pdf.set_text_color(0, 0, 0)
            left, right = sorted((x_of(b.start), x_of(b.end)))
            pdf.set_fill_color(*_rgb(COLOURS[b.kind]))
            pdf.rect(left, y + 0.5, max(right - left, 0.2), h - 1.0, style="F")
            if b.kind == "away":
                pdf.set_xy(left - room, y)
                pdf.cell(room - 1, h, self.text(b.text), align="R")
            else:
                pdf.set_xy(right + 1, y)
                pdf.cell(room - 1, h, self.text(b.text))
            pdf.set_y(y + h)
        pdf.set_draw_color(60, 60, 60)
        pdf.line(x_of(0.0), top, x_of(0.0), pdf.get_y())


def _render(c: ReportContent, base: float) -> Any:
    d = _Doc(base)
    pdf = d.pdf
    pdf.set_title(f"PreciMed report {c.pseudonym}")
    pdf.set_creator("PreciMed")
    d.para("PreciMed prediction report", "B", 1.7)
    d.para(c.statement, "B", 1.0, colour="#B00020")
    pdf.ln(1)
    d.labelled(f"{c.subject.capitalize()} (pseudonymised)",
               f"{c.pseudonym} (keyed hash of the identifier; "
               "the identifier is not in this report)")
    d.labelled("Date and time", c.generated)
    d.labelled("Model", f"{c.model_name}, version {c.version} (id {c.model_id})")
    d.font(mono=True, scale=0.9)
    pdf.cell(0, d.line_h, d.text(f"weights SHA-256 {c.weights_sha256}"),
             new_x="LMARGIN", new_y="NEXT")

    d.heading("Prediction")
    d.labelled("Prediction", c.prediction)
    d.labelled("Decision rule", c.decision_rule)
    bars = [(f"P({name})", p, TOWARD if name == (c.positive_class or c.prediction) else NEUTRAL)
            for name, p in c.probabilities.items()]
    d.bars(bars, label_w=55, scale_max=1.0, value_fmt="{:.1%}")
    if c.threshold is not None and c.positive_class:
        d.para(f"Threshold {c.threshold:g} on P({c.positive_class}).", scale=0.9)
    if c.warnings:  # next to the prediction, where the answer is read
        d.para("⚠ Input flags: " + "; ".join(c.warnings), "B", scale=0.95, colour="#8A5A00")

    if c.waterfall or c.image_png:
        d.heading("Explanation")
        d.para(c.chart_title, "B")
        if c.waterfall:
            d.waterfall(c.waterfall, label_w=70)
            d.para(c.chart_note, scale=0.9)
        elif c.image_png:
            pdf.image(io.BytesIO(c.image_png), w=70)

    d.heading("Model card summary")
    for label, text in c.summary:
        d.labelled(label, text)
    d.heading("Limitations")
    for item in c.limitations:
        d.para(f"- {item}")
    pdf.ln(1)
    d.para(c.statement, "B", 0.95, colour="#B00020")
    return pdf


def render_pdf(content: ReportContent) -> bytes:
    """One A4 page: the font shrinks (9 pt down to 6 pt) until everything fits on one page."""
    pdf = None
    for base in (9.0, 8.5, 8.0, 7.5, 7.0, 6.5, 6.0):
        pdf = _render(content, base)
        if pdf.page_no() == 1:
            break
    assert pdf is not None
    return bytes(pdf.output())
