"""The report as one self-contained HTML page: inline CSS and an inline SVG chart, no script,
no external resource (a Content-Security-Policy forbids them), printable on one A4 page.

The charts are the screen's own SVG (:mod:`precimed.charts`): no plotting engine or browser is
needed to produce them offline, and the report shows the same bars as the page.
"""

from __future__ import annotations

import base64
from html import escape

from precimed.charts import probability_svg, waterfall_svg
from precimed.report.content import ReportContent

CSS = """
@page { size: A4; margin: 12mm; }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 9pt; color: #111;
max-width: 186mm; }
h1 { font-size: 15pt; margin: 0 0 2mm; } h2 { font-size: 11pt; border-bottom: 1px solid #bbb;
margin: 3mm 0 1mm; } p { margin: 0.8mm 0; } .warn { color: #B00020; font-weight: bold; }
.mono { font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; } .flags { color: #8A5A00; }
ul { margin: 0.5mm 0; padding-left: 5mm; }
"""


def render_html(c: ReportContent) -> bytes:
    """The report as UTF-8 HTML bytes."""
    e = escape
    out = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>PreciMed report {e(c.pseudonym)}</title><style>{CSS}</style></head><body>",
        "<h1>PreciMed prediction report</h1>",
        f'<p class="warn">{e(c.statement)}</p>',
        f"<p><b>{e(c.subject.capitalize())} (pseudonymised).</b> {e(c.pseudonym)} "
        "(keyed hash of the identifier; the identifier is not in this report)</p>",
        f"<p><b>Date and time.</b> {e(c.generated)}</p>",
        f"<p><b>Model.</b> {e(c.model_name)}, version {e(c.version)} (id {e(c.model_id)})</p>",
        f'<p class="mono">weights SHA-256 {e(c.weights_sha256)}</p>',
        "<h2>Prediction</h2>",
        f"<p><b>Prediction.</b> {e(c.prediction)}</p>",
        f"<p><b>Decision rule.</b> {e(c.decision_rule)}</p>",
        probability_svg(c.probabilities, threshold=c.threshold,
                        positive_class=c.positive_class or c.prediction),
    ]
    if c.threshold is not None and c.positive_class:
        out.append(f"<p>Threshold {c.threshold:g} on P({e(c.positive_class)}).</p>")
    if c.warnings:  # next to the prediction, where the answer is read
        out.append(f'<p class="flags"><b>⚠ Input flags:</b> {e("; ".join(c.warnings))}</p>')
    if c.waterfall or c.image_png:
        out.append(f"<h2>Explanation</h2><p><b>{e(c.chart_title)}</b></p>")
        if c.waterfall:
            out.append(waterfall_svg(c.waterfall))  # the screen's own chart
            out.append(f"<p>{e(c.chart_note)}</p>")
        elif c.image_png:
            data = base64.b64encode(c.image_png).decode("ascii")
            out.append('<img alt="explanation" style="width:70mm" '
                       f'src="data:image/png;base64,{data}">')
    out.append("<h2>Model card summary</h2>")
    out += [f"<p><b>{e(label)}.</b> {e(text)}</p>" for label, text in c.summary]
    out.append("<h2>Limitations</h2><ul>")
    out += [f"<li>{e(item)}</li>" for item in c.limitations]
    out.append(f'</ul><p class="warn">{e(c.statement)}</p></body></html>')
    return "\n".join(out).encode("utf-8")
