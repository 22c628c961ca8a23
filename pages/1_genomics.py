"""Genomics & clinical tables: upload or pick a sample, validate, predict, explain (SHAP)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages._compare import show_reference
from pages._ui import card_summary, model_banner, page_setup, pick_model, show_error
from precimed.cards import feature_labels, subject_word
from precimed.errors import PrecimedInputError
from precimed.evaluation.caveats import subgroup_caveats
from precimed.plots import beeswarm_figure, probability_figure, waterfall_figure
from precimed.samples import sample_files
from precimed.tabular.io import read_table
from precimed.tabular.validate import MISSING_POLICY, flag_headline, validate_table

WATERFALL_BARS = 12  # strongest features drawn one by one; the rest fold into one bar

page_setup()
st.title("Genomic and clinical data")
bundle = pick_model("tabular", key="tabular_model")
if bundle is None:
    st.stop()
card = bundle.card
subject = subject_word(card)
labels = feature_labels(card)  # gene symbols beside probe columns

source = st.radio("Data", ["Sample file", "Upload"], horizontal=True, key="source")
raw: pd.DataFrame | None = None
try:
    if source == "Upload":
        upload = st.file_uploader("CSV, TSV or Parquet, one row per " + subject,
                                  type=["csv", "tsv", "txt", "parquet"], key="upload")
        if upload is not None:
            raw = read_table(upload.getvalue(), upload.name)
    else:
        samples = sample_files(bundle.id)
        if not samples:
            st.info("No sample file ships for this model; upload one.")
        else:
            chosen = st.selectbox("Sample file", samples, format_func=lambda p: p.name, key="sample")
            raw = read_table(chosen)
except PrecimedInputError as exc:
    show_error(exc)

if raw is None:
    st.stop()

try:
    table = validate_table(raw, card)
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

LABEL_COLUMNS = ("sample", "id", "patient", "patient_id", "compound")
label_col = next((c for c in raw.columns if c.strip().lower() in LABEL_COLUMNS), None)


def row_label(r: int) -> str:
    extra = f" · {raw.iloc[r][label_col]}" if label_col else ""
    return f"row {r}{extra}"


row = st.selectbox(f"{subject.capitalize()} (row)", table.valid_rows, format_func=row_label, key="row")

try:
    from precimed.explain.tabular import explain_rows
    from precimed.predict import predict_table

    with st.spinner("Loading the model…"):
        predictions = predict_table(bundle, table)
    pred = predictions[row]
    class_options = card["classes"]
    # Default: the positive class (binary) or this row's predicted class (multiclass). Reset
    # whenever the model or row changes, so the default follows the row; a choice the user makes
    # stays while they look at the same row.
    if st.session_state.get("explain_context") != (bundle.id, row):
        st.session_state["explain_context"] = (bundle.id, row)
        st.session_state["explain_class"] = card.get("positive_class") or pred.prediction
    explain_class = st.selectbox("Explain the probability of", class_options, key="explain_class")
    [expl] = explain_rows(bundle, table, [row], class_name=explain_class)
except Exception as exc:  # noqa: BLE001 - shown to the user without a traceback
    show_error(exc)
    st.stop()

model_banner(card)
flagged = table.row_flags(row)  # extrapolated / imputed inputs of this row
left, right = st.columns([1, 2])
with left:
    st.subheader("Prediction")
    pos = card.get("positive_class")
    if pos:
        st.metric(f"P({pos})", f"{pred.probabilities[pos]:.1%}",
                  help=f"decision threshold {card['threshold']}" if card.get("threshold") else None)
        if card.get("output"):  # e.g. a published score's monotone transform, not a risk
            st.caption(card["output"]["what"])
    else:  # multiclass: every class probability, the explained one highlighted in the chart
        for column, name in zip(st.columns(len(class_options)), class_options, strict=True):
            column.metric(f"P({name})", f"{pred.probabilities[name]:.1%}")
    st.markdown(f"Prediction for this {subject}: **{pred.prediction}**"
                + (f" (threshold {card['threshold']:g} on P({pos}))" if pos else " (most probable class)"))
    for line in subgroup_caveats(card, table.frame.iloc[row].to_dict()):  # weaker subgroups
        st.warning(line, icon="⚠️")
    st.plotly_chart(probability_figure(pred.probabilities, threshold=card.get("threshold"),
                                       positive_class=pos or explain_class), key="probabilities")
    if headline := flag_headline(table, row, labels):
        st.warning(headline, icon="⚠️")
    card_summary(card)
with right:
    st.subheader(f"Why: SHAP explanation for this {subject}")
    st.plotly_chart(waterfall_figure(expl.base_value, expl.values, expl.feature_values,
                                     output=expl.output, class_name=expl.class_name,
                                     max_features=WATERFALL_BARS, labels=labels, flagged=flagged),
                    key="waterfall")
    st.caption(f"{expl.method}, background: {card['explanation']['background']}. "
               f"Red bars push toward '{expl.class_name}', blue bars away"
               + (f"; the {len(expl.values) - WATERFALL_BARS} weakest features are summed "
                  "into one bar" if len(expl.values) > WATERFALL_BARS else "")
               + f". Base value + sum of bars = output (error {expl.additivity_error:.1e}).")


show_reference(bundle, raw, row, pred.probabilities)  # the published reference, if a card pairs one


def _report_pdf() -> bytes:
    from precimed.report import build_report

    identifier = str(raw.iloc[row][label_col]) if label_col else f"row {row}"
    return build_report(card, identifier=identifier, probabilities=pred.probabilities,
                        explanation=expl, fmt="pdf", warnings=table.row_warnings(row), flagged=flagged)


with left:
    st.download_button(f"Download {subject} report (PDF)", data=_report_pdf,
                       file_name=f"precimed-report-{bundle.id}-row{row}.pdf", mime="application/pdf",
                       key="report_pdf", help="One page: pseudonymised identifier, model and version, "
                       "prediction, explanation chart, card summary, limitations. Made offline.")

if len(table.valid_rows) > 1:
    st.subheader(f"All {len(predictions)} rows")
    rows = pd.DataFrame([{"row": p.row, "prediction": p.prediction,
                          **{f"P({c})": p.probabilities.get(c) for c in card["classes"]},
                          "error": p.error} for p in predictions])
    st.dataframe(rows, hide_index=True, key="predictions")
    try:
        from precimed.explain.tabular import explain_table

        values, frame = explain_table(bundle, table, explain_class)
        st.plotly_chart(beeswarm_figure(values, frame.to_numpy(), list(frame.columns),
                                        class_name=explain_class, labels=labels), key="beeswarm")
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
