"""One-page patient (or compound) reports, PDF or HTML, produced offline.

A report holds a pseudonymised identifier (:func:`pseudonymise`, a keyed hash: the identifier
itself never appears), the model's name, version and weights checksum, the prediction with its
decision rule and every class probability, the SHAP explanation chart, the card summary, the
limitations, the not-for-clinical-use statement and the date and time.

Pages call :func:`build_report` (from values already on screen) or :func:`report_for_row`
(from a validated table) and hand the bytes to a download button.

Example:
    >>> pdf = report_for_row(bundle, table, 0, identifier="GSE7390-row0")  # doctest: +SKIP
    >>> pdf[:5]  # doctest: +SKIP
    b'%PDF-'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from precimed.errors import PrecimedInputError
from precimed.explain.base import Explanation
from precimed.report.content import NOT_FOR_CLINICAL_USE, ReportContent, gather
from precimed.report.pseudonym import pseudonymise

if TYPE_CHECKING:
    from precimed.registry import Bundle
    from precimed.tabular.validate import ValidatedTable

FORMATS = ("pdf", "html")
MIME = {"pdf": "application/pdf", "html": "text/html"}
ID_COLUMNS = ("patient_id", "patient", "id", "sample", "compound", "compound_id", "name", "mrn")

__all__ = ["FORMATS", "MIME", "NOT_FOR_CLINICAL_USE", "ReportContent", "build_report",
           "format_of", "identifier_column", "pseudonymise", "report_for_row"]


def format_of(path_or_fmt: str) -> str:
    """'pdf' or 'html' from a format name or a file name."""
    fmt = path_or_fmt.lower().rsplit(".", 1)[-1]
    fmt = "html" if fmt == "htm" else fmt
    if fmt not in FORMATS:
        raise PrecimedInputError(f"unsupported report format '{path_or_fmt}'",
                                 expected="a .pdf or .html file")
    return fmt


def build_report(card: dict[str, Any], *, identifier: str, probabilities: dict[str, float],
                 explanation: Explanation | None = None, fmt: str = "pdf",
                 when: dt.datetime | None = None, image_png: bytes | None = None,
                 image_caption: str | None = None, warnings: list[str] | None = None,
                 key: bytes | None = None, flagged: Mapping[str, str] | None = None) -> bytes:
    """The report as bytes.

    Args:
        card: the model card.
        identifier: the patient's identifier (only its keyed hash is printed).
        probabilities: every class's probability.
        explanation: the SHAP explanation to chart (tabular models).
        fmt: ``"pdf"`` or ``"html"``.
        when: the report time (default now, UTC).
        image_png: for image models, a PNG (e.g. the heatmap overlay) shown instead of bars.
        warnings: input flags for this row (imputed or out-of-range cells), printed next to
            the prediction.
        flagged: feature → "extrapolated" / "imputed": those bars are marked "⚠ <word>".
        key: pseudonymisation key (default: the installation's, see :mod:`.pseudonym`).
    """
    content = gather(card, identifier=identifier, probabilities=probabilities,
                     explanation=explanation, when=when, image_png=image_png,
                     image_caption=image_caption, warnings=warnings, key=key, flagged=flagged)
    if format_of(fmt) == "pdf":
        from precimed.report.pdf import render_pdf

        return render_pdf(content)
    from precimed.report.html import render_html

    return render_html(content)


def identifier_column(columns: list[str]) -> str | None:
    """The column that names the patient/compound, if the table has one."""
    lowered = {c.strip().lower(): c for c in columns}
    return next((lowered[k] for k in ID_COLUMNS if k in lowered), None)


def report_for_row(bundle: Bundle, table: ValidatedTable, row: int, *, identifier: str,
                   fmt: str = "pdf", when: dt.datetime | None = None,
                   class_name: str | None = None, key: bytes | None = None) -> bytes:
    """Predict and explain one row of a validated table and build its report.

    Raises:
        PrecimedInputError: the row does not exist or cannot be scored.
    """
    from precimed.explain.tabular import explain_rows
    from precimed.predict import predict_proba
    from precimed.tabular.validate import encode

    if not 0 <= row < len(table.frame):
        raise PrecimedInputError(f"row {row} does not exist",
                                 expected=f"a row between 0 and {len(table.frame) - 1}")
    [explanation] = explain_rows(bundle, table, [row], class_name=class_name)
    probs = predict_proba(bundle, encode(table.frame.iloc[[row]], bundle.card))[0]
    from precimed.evaluation import subgroup_caveats

    caveats = subgroup_caveats(bundle.card, table.frame.iloc[row].to_dict())  # weaker subgroups
    probabilities = {c: float(p) for c, p in zip(bundle.classes, probs, strict=True)}
    return build_report(bundle.card, identifier=identifier, probabilities=probabilities,
                        explanation=explanation, fmt=fmt, when=when, warnings=table.row_warnings(row) + caveats,
                        key=key, flagged=table.row_flags(row))
