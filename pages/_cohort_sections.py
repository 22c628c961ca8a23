"""The Cohort page's labelled-cohort performance and one-row report sections (view code).

Split from ``pages/4_cohort.py`` to keep the page short; the figures come from
:mod:`precimed.cohort.metrics` and :mod:`precimed.report`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from pages._ui import scoped, show_error
from precimed.cohort.figures import confusion_figure, subgroup_auroc_figure
from precimed.cohort.metrics import metrics_from_results, subgroup_table
from precimed.cohort.view import label_candidates, subgroup_candidates
from precimed.errors import PrecimedInputError
from precimed.plots import calibration_figure
from precimed.registry import Bundle

NONE = "(none)"


def performance(bundle: Bundle, results: pd.DataFrame, extra: list[str], run_key: tuple[Any, ...],
                focus: str, state: dict[str, Any]) -> None:
    """AUROC, accuracy, calibration, confusion and subgroups against a label column of the file."""
    card = bundle.card
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


def report(bundle: Bundle, results: pd.DataFrame, data: bytes, name: str, subject: str,
           run_key: tuple[Any, ...], state: dict[str, Any]) -> None:
    """One row's PDF or HTML report, prepared on request and kept until the row or format changes."""
    card = bundle.card
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
        prepared = state.get("report")
        if prepared and prepared[:2] == (row, fmt):
            ext = fmt.lower()
            st.download_button(f"Download the {fmt} report (row {row})", prepared[2],
                               file_name=f"{bundle.id}-row{row}.{ext}",
                               mime="application/pdf" if ext == "pdf" else "text/html",
                               key="report_download")
            st.caption(f"The report names the {subject} by a keyed hash (pseudonym), never by "
                       "the identifier in the file.")
