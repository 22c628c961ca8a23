"""Model cards: every registered model's full card, written for a clinician.

Reads only the cards (no model is loaded), so the page renders without TensorFlow.
"""

from __future__ import annotations

import streamlit as st

from pages._ui import cached_bundles, model_banner, page_setup
from precimed.cards import subject_word
from precimed.cohort.figures import confusion_figure
from precimed.evaluation.caveats import caveat_line
from precimed.registry import bundle_errors
from precimed.report import evidence as ev_fmt
from precimed.report.card import (
    calibration_chart,
    class_counts_table,
    confusion,
    inputs_table,
    metrics_table,
)


def _table(df: object, key: str) -> None:
    if df is not None:
        st.dataframe(df, hide_index=True, key=key)


def _evidence(card: dict, key: str) -> None:
    """Calibration fit, baselines, subgroups, survival, factors, ethics, caveats (from the card)."""
    ev = card["evaluation"]
    cal = ev.get("calibration", {})
    if cal.get("statement"):
        st.markdown("**Calibration.** " + cal["statement"])
        _table(ev_fmt.calibration_table(card), f"calibration-fit-{key}")
    if ev.get("baselines"):
        st.subheader("Against simpler models (same folds and repeats)")
        st.markdown(f"**Verdict.** {ev['baseline_verdict']}")
        _table(ev_fmt.baselines_table(card), f"baselines-{key}")
    st.subheader("Subgroups")
    st.markdown(ev_fmt.factors_text(card) or "No subgroup figures on this card.")
    for sub in (s for s in ev.get("subgroups", []) if s.get("weaker")):
        st.warning(caveat_line(card, sub), icon="⚠️")
    _table(ev_fmt.subgroups_table(card), f"subgroups-{key}")
    if ev.get("subgroup_rule"):
        st.caption(ev["subgroup_rule"])
    if (tuning := ev_fmt.tuning_text(card)) is not None:
        with st.expander("How the network was tuned (nested cross-validation)"):
            st.markdown(tuning)
            st.caption("Each variant at the grid points the inner CV chose; value = mean over the "
                       "CV repeats (range of single repeats in brackets).")
            _table(ev_fmt.tuning_table(card), f"tuning-{key}")
    surv = ev.get("survival")
    if surv:
        st.subheader("Survival by predicted risk group")
        if surv.get("source"):
            st.caption(f"Risk groups from {surv['source']}. {surv.get('method', '')}")
        st.plotly_chart(ev_fmt.km_figure(card), key=f"km-{key}")
        st.markdown("**Beside the paper and the published score.** The published score was not "
                    "fitted on these patients; this network was cross-validated on them, which "
                    "answers a different question.")
        _table(ev_fmt.survival_table(card), f"survival-{key}")
        if surv.get("censoring"):
            st.markdown(f"**Patients censored before 5 years.** {surv['censoring']['statement']}")

page_setup()
st.title("Model cards")
st.markdown("What each model is for, what it was trained on, how well it does (with 95% "
            "confidence intervals), how well its probabilities are calibrated, and what it "
            "cannot do. Read this before trusting any prediction.")
bundles = cached_bundles()
if not bundles:
    st.info("No model bundles are installed under assets/models/.")
elif len(bundles) > 1:
    st.markdown("**Models:** " + " · ".join(f"[{b.name}](#{b.id})" for b in bundles))
for bundle in bundles:
    card = bundle.card
    td = card["training_data"]
    ev = card["evaluation"]
    with st.container(border=True, key=f"card-{bundle.id}"):
        st.header(card["name"], anchor=bundle.id)
        model_banner(card)
        st.markdown(f"Version **{card['version']}** · {card['modality']} · {card['task']} "
                    f"({', '.join(card['classes'])}) · one row is one **{subject_word(card)}** · "
                    f"created {card['created']}")
        if card.get("user_supplied"):
            st.warning("**User-supplied model.** It was imported by a user of this installation; "
                       "its card was written by them and has not been reviewed.", icon="📦")
        st.subheader("Intended use")
        st.markdown(card["intended_use"])
        st.subheader("Out of scope")
        st.markdown(card["out_of_scope"])
        st.subheader("Data and label")
        st.markdown(f"**Source.** {td['source']}  \n**Subjects after exclusions.** n = {td['n']}  \n"
                    f"**Label definition.** {td['label_definition']}")
        if td.get("exclusions"):
            st.markdown(f"**Exclusions.** {td['exclusions']}")
        if td.get("licence"):
            st.markdown(f"**Licence.** {td['licence']}")
        if td.get("class_counts"):
            st.dataframe(class_counts_table(card), hide_index=True, key=f"counts-{bundle.id}")
        st.markdown(f"**Missing values.** {card['missing_values']}")
        if card.get("threshold") is not None and card.get("positive_class"):
            st.markdown(f"**Decision threshold.** '{card['positive_class']}' when "
                        f"P({card['positive_class']}) ≥ {card['threshold']}.")
        else:
            st.markdown("**Decision.** The most probable class.")
        st.subheader("Performance")
        st.markdown(f"**Method.** {ev['method']}")
        for key in ("class_imbalance", "model_selection"):
            if ev.get(key):
                st.markdown(f"**{key.replace('_', ' ').capitalize()}.** {ev[key]}")
        st.dataframe(metrics_table(card), hide_index=True, key=f"metrics-{bundle.id}")
        left, right = st.columns(2)
        fig = calibration_chart(card)
        if fig is not None:
            left.plotly_chart(fig, key=f"calibration-{bundle.id}")
        cm = confusion(card)
        if cm is not None:
            right.plotly_chart(confusion_figure(cm, title="Confusion matrix (out-of-fold)"),
                               key=f"confusion-{bundle.id}")
        _evidence(card, bundle.id)
        if card["modality"] == "image":  # held-out families, real-image false positives
            from precimed.imaging.card_tables import family_table, heldout_table, real_images_table

            for title, table, key in (("Held-out tests", heldout_table(card), "heldout"),
                                      ("By lesion family and background", family_table(card), "families"),
                                      ("Real images with no lesion", real_images_table(card), "realfp")):
                if table is not None:
                    st.markdown(f"**{title}.**")
                    st.dataframe(table, hide_index=True, key=f"{key}-{bundle.id}")
        st.subheader("Limitations")
        st.markdown("\n".join(f"- {item}" for item in card["limitations"]))
        for title, field in (("Caveats and recommendations", "caveats"),
                             ("Ethical considerations", "ethical_considerations")):
            if card.get(field):
                st.subheader(title)
                st.markdown("\n".join(f"- {item}" for item in card[field]))
        st.subheader("Inputs")
        st.dataframe(inputs_table(card), hide_index=True, key=f"inputs-{bundle.id}")
        st.subheader("Provenance")
        expl = card["explanation"]
        st.markdown(f"**How it was trained.** `{card['produced_by']}`  \n"
                    f"**Explanations.** {expl['method']} on {expl['background']} "
                    f"({expl['output_scale']} scale)  \n**Citation.** {td['citation']}")
        from precimed.imaging.card_tables import sanity_table as image_sanity_table

        sanity_table = image_sanity_table if card["modality"] == "image" else ev_fmt.sanity_table
        if sanity_table(card) is not None:
            st.markdown("**Explanation sanity checks** (Adebayo et al. 2018): Spearman ρ of "
                        "|heatmap| between the trained model and randomised copies; near 0 means "
                        "the heatmap depends on what the model learned.")
            _table(sanity_table(card), f"sanity-{bundle.id}")
        st.markdown("**Weights SHA-256.**")
        st.code(card["weights_sha256"], language=None)
for folder, why in bundle_errors().items():
    st.error(f"Bundle '{folder}' was refused: {why}")
