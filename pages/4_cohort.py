"""Cohort: score every row of an uploaded table (or every image of a DICOM zip), see the risk
distribution, global SHAP importance and, with labels, how the model does overall and per
subgroup; download the scores and a one-page report for any row."""

from __future__ import annotations

import hashlib
from typing import Any

import streamlit as st

from pages._cohort_sections import performance, report
from pages._ui import model_banner, page_setup, pick_model, scoped, show_error
from precimed.cards import feature_labels, subject_word
from precimed.cohort.export import to_parquet_bytes, to_safe_csv
from precimed.cohort.figures import importance_figure, risk_histogram
from precimed.cohort.reader import CohortSource
from precimed.cohort.view import filter_results, focus_class, passthrough_columns
from precimed.format import blank_missing
from precimed.samples import sample_files

page_setup()
st.title("Cohort scoring")
bundle = pick_model(None, key="cohort_model")
if bundle is None:
    st.stop()
card = bundle.card
subject = subject_word(card)
model_banner(card)
classes = list(card["classes"])
state: dict[str, Any] = st.session_state.setdefault("cohort", {})


def progress_bar() -> Any:
    from precimed.cohort.pipeline import ProgressMeter

    bar = st.progress(0.0, text="Scoring…")
    meter = ProgressMeter(None)

    def update(done: int, total: int | None) -> None:  # rows done, rows/s, time left
        meter.total = total
        share = min(done / total, 1.0) if total else 0.0
        bar.progress(share, text=meter.line(done).capitalize())

    return update


# ---- input -----------------------------------------------------------------------------------
data: bytes | None = None
name = ""
if bundle.modality == "image":
    upload = st.file_uploader("A zip of DICOM files (or one DICOM file)", type=["zip", "dcm"],
                              key="cohort_zip")
    if upload is not None:
        data, name = upload.getvalue(), upload.name
else:
    source = st.radio("Data", ["Upload", "Sample file"], horizontal=True, key="cohort_source")
    if source == "Upload":
        upload = st.file_uploader(f"Cohort table: CSV, TSV or Parquet, one row per {subject}",
                                  type=["csv", "tsv", "txt", "parquet"], key="cohort_upload")
        if upload is not None:
            data, name = upload.getvalue(), upload.name
    else:
        samples = sample_files(bundle.id)
        if samples:
            chosen = st.selectbox("Sample file", samples, format_func=lambda p: p.name,
                                  key=scoped("cohort_sample", bundle.id))
            data, name = chosen.read_bytes(), chosen.name
        else:
            st.info("No sample file ships for this model; upload a cohort.")
explain = bundle.modality == "tabular" and st.checkbox(
    "Explain every row (SHAP: top three features per row and the global importance)",
    value=True, key="cohort_explain")
if data is None:
    st.caption("Scores stay in this browser session; nothing uploaded is written to disk.")
    st.stop()

# ---- scoring (once per file, model and option; reruns reuse it) -----------------------------
run_key = (bundle.id, card["weights_sha256"], hashlib.sha256(data).hexdigest(), name, explain)
if state.get("key") != run_key:
    try:
        if bundle.modality == "image":
            from precimed.cohort.images import score_image_bytes

            with st.spinner("Reading and scoring the images…"):
                results = score_image_bytes(bundle, data, name)
            state.update(key=run_key, results=results, importance=None, notes=[], extra=[],
                         seconds=None)
        else:
            from precimed.cohort.score import score_cohort

            src = CohortSource.of(data, name)
            extra = passthrough_columns(src.columns(), card, explain=explain)
            total = src.count_rows()
            out = score_cohort(bundle, src, chunk_rows=max(500, total // 20), explain=explain,
                               keep=extra, progress=progress_bar())
            state.update(key=run_key, results=out.results, importance=out.importance,
                         notes=out.notes, extra=extra, seconds=out.seconds)
        state.pop("metrics", None)
        state.pop("report", None)
    except Exception as exc:  # noqa: BLE001 - shown without a traceback
        state.clear()
        show_error(exc)
        st.stop()
results = state["results"]
extra: list[str] = state["extra"]

for note in state["notes"]:
    st.info(note)
valid = int(results["error"].isna().sum())
cols = st.columns(4)
cols[0].metric("Rows", f"{len(results):,}")
cols[1].metric("Scored", f"{valid:,}")
cols[2].metric("Could not be scored", f"{len(results) - valid:,}")
if state["seconds"]:
    cols[3].metric("Seconds", f"{state['seconds']:.1f}",
                   help="Wall time of this scoring run, model loading and SHAP set-up included")

# ---- results table ---------------------------------------------------------------------------
st.subheader("Results")
# Filters are keyed by the model (and the charted class): after a model switch they start from
# this model's classes, never from a selection of the previous model's (once "0 of 4 rows").
focus = st.selectbox("Class to chart", classes, index=classes.index(focus_class(card)),
                     key=scoped("focus_class", bundle.id)) if len(classes) > 2 else focus_class(card)
f1, f2 = st.columns(2)
chosen_preds = f1.multiselect("Prediction", classes, default=classes,
                              key=scoped("filter_prediction", bundle.id))
low, high = f2.slider(f"P({focus})", 0.0, 1.0, (0.0, 1.0), step=0.01,
                      key=scoped("filter_prob", bundle.id, focus))
# Full width: in a fifth of the row its label was cut to "Only rows that coul…" at 1280 px.
errors_only = st.checkbox("Only rows that could not be scored", key="filter_errors")
narrowed = set(chosen_preds) != set(classes) or (low, high) != (0.0, 1.0)
shown = filter_results(results, predictions=chosen_preds, class_name=focus, prob_range=(low, high),
                       errors_only=errors_only, include_unscored=not narrowed)
st.caption(f"{len(shown):,} of {len(results):,} rows shown; click a column header to sort.")
shown_names = feature_labels(card)  # gene symbols beside probe columns (display only; exports keep names)
st.dataframe(blank_missing(shown.replace({c: shown_names for c in shown.columns if str(c).endswith("_feature")})),
             hide_index=True, key="cohort_results")
d1, d2 = st.columns(2)
stem = f"{bundle.id}-scores"
d1.download_button("Download CSV", to_safe_csv(results), file_name=f"{stem}.csv",
                   mime="text/csv", key="download_csv")
d2.download_button("Download Parquet", to_parquet_bytes(results), file_name=f"{stem}.parquet",
                   mime="application/vnd.apache.parquet", key="download_parquet")

# ---- charts ----------------------------------------------------------------------------------
left, right = st.columns(2)
with left:
    threshold = card.get("threshold") if focus == card.get("positive_class") else None
    st.plotly_chart(risk_histogram(results, focus, threshold=threshold), key="risk_histogram")
with right:
    if state["importance"] is not None:
        st.plotly_chart(importance_figure(state["importance"], focus, labels=shown_names),
                        key="importance")
        st.caption("Mean |SHAP value| over the scored rows: how much each feature moves "
                   f"P({focus}) on average, in either direction.")

# ---- performance on a labelled cohort, one-page report --------------------------------------
if bundle.modality == "tabular" and extra:
    performance(bundle, results, extra, run_key, focus, state)
if bundle.modality == "tabular":
    report(bundle, results, data, name, subject, run_key, state)
