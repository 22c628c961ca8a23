"""Cohort: score every row of an uploaded table (or every image of a DICOM zip), see the risk
distribution, global SHAP importance and, with labels, how the model does overall and per
subgroup; download the scores and a one-page report for any row."""

from __future__ import annotations

import hashlib
from typing import Any

import streamlit as st

from pages._ui import model_banner, page_setup, pick_model, scoped, show_error
from precimed.cards import feature_labels, subject_word
from precimed.cohort.export import to_parquet_bytes, to_safe_csv
from precimed.cohort.figures import (
    confusion_figure,
    importance_figure,
    risk_histogram,
    subgroup_auroc_figure,
)
from precimed.cohort.metrics import metrics_from_results, subgroup_table
from precimed.cohort.reader import CohortSource
from precimed.cohort.view import (
    filter_results,
    focus_class,
    label_candidates,
    passthrough_columns,
    subgroup_candidates,
)
from precimed.errors import PrecimedInputError
from precimed.format import blank_missing
from precimed.plots import calibration_figure
from precimed.samples import sample_files

NONE = "(none)"

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

# ---- performance on a labelled cohort --------------------------------------------------------
if bundle.modality == "tabular" and extra:
    st.subheader("Performance on this cohort")
    labels = label_candidates(results, extra, card)
    options = [NONE] + labels + [c for c in extra if c not in labels]
    label = st.selectbox("Label column (the true class)", options,
                         index=1 if labels else 0, key=scoped("label_column", bundle.id, run_key))
    if label != NONE:
        groups = subgroup_candidates(results, extra, exclude=label)
        subgroup = st.selectbox("Subgroup column", [NONE] + groups,
                                key=scoped("subgroup_column", bundle.id, run_key, label))
        group = None if subgroup == NONE else subgroup
        mkey = (run_key, label, group)
        try:
            if state.get("metrics", (None,))[0] != mkey:
                with st.spinner("Bootstrapping confidence intervals…"):
                    state["metrics"] = (mkey, metrics_from_results(results, card, label, group))
            metrics = state["metrics"][1]
            overall = metrics["overall"]
            ci = overall["auroc"]["ci95"]
            m1, m2, m3 = st.columns(3)
            auroc_label = "AUROC" if card["task"] == "binary" else "AUROC (macro, one-vs-rest)"
            auroc = overall["auroc"]["value"]  # None when the labels hold one class only
            m1.metric(auroc_label, "n/a" if auroc is None else f"{auroc:.3f}",
                      help="95% CI by stratified bootstrap")
            m1.caption(f"95% CI {ci[0]:.3f}–{ci[1]:.3f}" if ci else "CI not available")
            m2.metric("Accuracy", f"{overall['accuracy']:.3f}")
            m3.metric("Labelled rows", f"{metrics['labelled']:,}")
            st.caption(f"Decision: {overall['decision']}. Rows without a known label: "
                       f"{metrics['unlabelled']}; rows that could not be scored: {metrics['unscored']}.")
            c1, c2 = st.columns(2)
            cal = overall["per_class"][focus]["calibration"]
            c1.plotly_chart(calibration_figure(cal["predicted"], cal["observed"],
                                               title=f"Calibration of P({focus}) on this cohort"),
                            key="calibration")
            c2.plotly_chart(confusion_figure(overall["confusion"],
                                             title=f"Confusion matrix ({overall['decision']})"),
                            key="confusion")
            per_class = [{"class": c, **{k: v[k] for k in ("n", "precision", "recall",
                                                           "specificity", "f1")},
                          "AUROC": v["auroc"]["value"]} for c, v in overall["per_class"].items()]
            macro = {k: v for k, v in overall["macro"].items() if k != "auroc"}
            per_class.append({"class": "macro average", "n": overall["n"], **macro,
                              "AUROC": overall["macro"]["auroc"]["value"]})
            st.dataframe(per_class, hide_index=True, key="per_class")
            if group:
                table = subgroup_table(metrics)
                st.markdown(f"**By {group}**")
                if metrics.get("subgroups_note"):
                    st.info(metrics["subgroups_note"])
                st.dataframe(table, hide_index=True, key="subgroups")
                st.plotly_chart(subgroup_auroc_figure(table, title=f"AUROC by {group}"),
                                key="subgroup_auroc")
        except PrecimedInputError as exc:
            show_error(exc)

# ---- one-page report ---------------------------------------------------------------------------
if bundle.modality == "tabular":
    st.subheader(f"{subject.capitalize()} report")
    scored = results.loc[results["error"].isna(), "row"].tolist()
    if scored:
        r1, r2 = st.columns([3, 1])
        row = r1.selectbox(f"{subject.capitalize()} (row)", scored, key=scoped("report_row", bundle.id, run_key))
        fmt = r2.radio("Format", ["PDF", "HTML"], horizontal=True, key="report_format")
        if st.button("Prepare report", key="report_prepare"):
            try:
                from precimed.report import identifier_column, report_for_row
                from precimed.tabular.io import read_table
                from precimed.tabular.validate import validate_table

                raw = read_table(data, name)
                one = validate_table(raw.iloc[[int(row)]], card)
                id_col = identifier_column(list(raw.columns))
                ident = str(raw.iloc[int(row)][id_col]) if id_col else f"{name}#{row}"
                with st.spinner("Writing the report…"):
                    state["report"] = (row, fmt, report_for_row(bundle, one, 0, identifier=ident,
                                                                fmt=fmt.lower()))
            except Exception as exc:  # noqa: BLE001
                show_error(exc)
        report = state.get("report")
        if report and report[:2] == (row, fmt):
            ext = fmt.lower()
            st.download_button(f"Download the {fmt} report (row {row})", report[2],
                               file_name=f"{bundle.id}-row{row}.{ext}",
                               mime="application/pdf" if ext == "pdf" else "text/html",
                               key="report_download")
            st.caption(f"The report names the {subject} by a keyed hash (pseudonym), never by "
                       "the identifier in the file.")
