"""Genomics & clinical tables: upload or pick a sample, validate, predict, explain (SHAP).

Structure (issue 16): the script body does what a model or file change needs (read, validate,
predict every row: each once per model and input, :func:`pages._ui.memo`); the patient view
(row picker, prediction, waterfall, report) and the cohort summary are fragments, so a row
switch reruns only the patient view. Widget keys carry the model and input
(:func:`pages._ui.scoped`): a model switch never shows the previous model's patient.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from pages._compare import show_reference
from pages._ui import (
    card_summary,
    class_metrics,
    memo,
    model_banner,
    page_setup,
    pick_model,
    row_labeller,
    scoped,
    show_error,
    svg_chart,
    table_input,
)
from precimed.cards import feature_labels, subject_word
from precimed.charts import (
    BEESWARM_FEATURES,
    SVG_DOTS,
    WATERFALL_BARS,
    beeswarm_svg,
    probability_svg,
    waterfall,
    waterfall_svg,
)
from precimed.errors import PrecimedInputError
from precimed.evaluation.caveats import subgroup_caveats
from precimed.format import blank_missing
from precimed.plots import beeswarm_figure
from precimed.tabular.validate import MISSING_POLICY, ValidatedTable, flag_headline, validate_table

page_setup()
st.title("Genomic and clinical data")
bundle = pick_model("tabular", key="tabular_model")
if bundle is None:
    st.stop()
card = bundle.card
subject = subject_word(card)
classes = list(card["classes"])
labels = feature_labels(card)  # gene symbols beside probe columns

chosen_input = table_input(bundle, prefix="", subject=subject)
if chosen_input is None:
    st.stop()
raw, input_key = chosen_input
try:
    table = memo("gx_table", (bundle.id, input_key), lambda: validate_table(raw, card))
except PrecimedInputError as exc:
    show_error(exc)
    st.stop()

st.caption(f"Missing values: {MISSING_POLICY}")
for note in table.notes:
    st.info(note)
if table.issues:
    issues = table.issues_frame()
    blocking = issues["kind"].isin(["type", "level"]).sum()
    with st.expander(f"{len(issues)} flagged cell(s), {blocking} making a row unusable", expanded=bool(blocking)):
        st.dataframe(issues, hide_index=True, key="issues")
if not table.valid_rows:
    st.error(f"No row of this table can be used (expected at least one {subject} with valid values).")
    st.stop()

try:
    from precimed.predict import predict_table

    with st.spinner("Loading the model…"):
        predictions = memo("gx_predictions", (bundle.id, input_key), lambda: predict_table(bundle, table))
except Exception as exc:  # noqa: BLE001 - shown to the user without a traceback
    show_error(exc)
    st.stop()
model_banner(card)


@st.fragment
def patient_view(table: ValidatedTable, predictions: list[Any], input_key: str) -> None:
    """Row picker, prediction, SHAP waterfall and report: a row switch reruns only this."""
    from precimed.explain.tabular import explain_rows

    row = st.selectbox(f"{subject.capitalize()} (row)", table.valid_rows, format_func=row_labeller(raw),
                       key=scoped("row", bundle.id, input_key))
    pred = predictions[row]
    # Default: the positive class (binary) or this row's predicted class (multiclass); the key
    # carries the row, so the default follows the row and a choice stays while it is shown.
    default = card.get("positive_class") or pred.prediction
    explain_class = st.selectbox("Explain the probability of", classes, index=classes.index(default),
                                 key=scoped("explain_class", bundle.id, input_key, row))
    try:
        [expl] = memo("gx_expl", (bundle.id, input_key, row, explain_class),
                      lambda: explain_rows(bundle, table, [row], class_name=explain_class))
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        return
    pos = card.get("positive_class")
    flagged = table.row_flags(row)  # extrapolated / imputed inputs of this row
    st.subheader("Prediction")
    class_metrics(pred.probabilities, classes if not pos else [pos], key="gx_probs",
                  help=f"decision threshold {card['threshold']}" if card.get("threshold") else None)
    st.markdown(f"Prediction for this {subject}: **{pred.prediction}**"
                + (f" (threshold {card['threshold']:g} on P({pos}))" if pos else " (most probable class)"))
    if pos and card.get("output"):  # e.g. a published score's monotone transform, not a risk
        st.caption(card["output"]["what"])
    caveats = subgroup_caveats(card, table.frame.iloc[row].to_dict())  # weaker subgroups
    for line in caveats:
        st.warning(line, icon="⚠️")
    left, right = st.columns([1, 2])
    with left:
        svg_chart(probability_svg(pred.probabilities, threshold=card.get("threshold"),
                                  positive_class=pos or explain_class), key="probabilities")
        if headline := flag_headline(table, row, labels):
            st.warning(headline, icon="⚠️")
        card_summary(card)
    with right:
        st.subheader(f"Why: SHAP explanation for this {subject}")
        svg_chart(waterfall_svg(waterfall(expl.base_value, expl.values, expl.feature_values,
                                          output=expl.output, class_name=expl.class_name,
                                          max_features=WATERFALL_BARS, labels=labels, flagged=flagged)),
                  key="waterfall")
        st.caption(f"{expl.method}, background: {card['explanation']['background']}. "
                   f"Red bars push toward '{expl.class_name}', blue bars away"
                   + (f"; the {len(expl.values) - WATERFALL_BARS} weakest features are summed "
                      "into one bar" if len(expl.values) > WATERFALL_BARS else "")
                   + f". Base value + sum of bars = output (error {expl.additivity_error:.1e}).")

    def _report_pdf() -> bytes:
        from precimed.report import build_report, identifier_column

        id_col = identifier_column(list(raw.columns))
        identifier = str(raw.iloc[row][id_col]) if id_col else f"row {row}"
        return build_report(card, identifier=identifier, probabilities=pred.probabilities,
                            explanation=expl, fmt="pdf", flagged=flagged,
                            warnings=table.row_warnings(row) + caveats)

    with left:
        st.download_button(f"Download {subject} report (PDF)", data=_report_pdf,
                           file_name=f"precimed-report-{bundle.id}-row{row}.pdf", mime="application/pdf",
                           key="report_pdf", help="One page: pseudonymised identifier, model and version, "
                           "prediction, explanation chart, card summary, limitations. Made offline.")
    show_reference(bundle, raw, row, pred.probabilities)  # the published reference, if a card pairs one


@st.fragment
def cohort_view(table: ValidatedTable, predictions: list[Any], input_key: str) -> None:
    """Every row's prediction and the cohort SHAP summary (its class picker reruns only this)."""
    st.subheader(f"All {len(predictions)} rows")
    rows = pd.DataFrame([{"row": p.row, "prediction": p.prediction,
                          **{f"P({c})": p.probabilities.get(c) for c in classes},
                          "error": p.error} for p in predictions])
    st.dataframe(blank_missing(rows, ["prediction", "error"]), hide_index=True, key="predictions")
    summary_class = card.get("positive_class") or st.selectbox(
        "Cohort summary for the probability of", classes, key=scoped("summary_class", bundle.id))
    try:
        from precimed.explain.tabular import explain_table

        values, frame = memo("gx_cohort", (bundle.id, input_key, summary_class),
                             lambda: explain_table(bundle, table, summary_class))
        args = (values, frame.to_numpy(), list(frame.columns))
        if values.shape[0] * min(values.shape[1], BEESWARM_FEATURES) <= SVG_DOTS:  # no Plotly script
            svg_chart(beeswarm_svg(*args, class_name=summary_class, labels=labels), key="beeswarm")
        else:
            st.plotly_chart(beeswarm_figure(*args, class_name=summary_class, labels=labels), key="beeswarm")
    except Exception as exc:  # noqa: BLE001
        show_error(exc)


patient_view(table, predictions, input_key)
if len(table.valid_rows) > 1:
    cohort_view(table, predictions, input_key)
