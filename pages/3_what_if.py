"""What-if: edit a patient's (or compound's) features within the card's limits and watch the
prediction and the SHAP waterfall move; ICE/PDP curves; counterfactuals; named scenarios.
Image models: occlude part of the image and compare an occlusion map with the SHAP heatmap.

A thin view: every computation is in ``precimed.whatif``. Uploaded tables stay in this
session's memory.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from pages._ui import model_banner, page_setup, pick_model, show_error
from precimed.cards import feature_labels, feature_specs, subject_word
from precimed.errors import PrecimedInputError
from precimed.plots import probability_figure, waterfall_figure
from precimed.samples import sample_files
from precimed.tabular.io import read_table
from precimed.tabular.validate import validate_table
from precimed.whatif.editor import describe_range, visible_features, widget_bounds
from precimed.whatif.edits import range_flag, row_values, same_value
from precimed.whatif.scenarios import Scenario, check_name, compare_scenarios

page_setup()  # runs inside app.py's navigation and its login gate (pages/_ui.py)
state = st.session_state
st.title("What-if analysis")
# Widgets whose options depend on the model carry the model id in their key
# ("wi_row__<model id>"), so that switching models gives fresh widgets, never stale labels.
bundle = pick_model(None, key="wi_model")
if bundle is None:
    st.stop()
card = bundle.card
model_banner(card)

if bundle.modality == "image":
    from pages._whatif_image import image_whatif

    image_whatif(bundle)
    st.stop()

subject = subject_word(card)
specs = feature_specs(card)
spec_by_name = {s.name: s for s in specs}
classes = list(card["classes"])

# --- Choose the row ------------------------------------------------------------------------
source = st.radio("Data", ["Sample file", "Upload"], horizontal=True, key="wi_source")
raw: pd.DataFrame | None = None
source_key = ""
try:
    if source == "Upload":
        upload = st.file_uploader(f"CSV, TSV or Parquet, one row per {subject}",
                                  type=["csv", "tsv", "txt", "parquet"], key="wi_upload")
        if upload is not None:
            raw = read_table(upload.getvalue(), upload.name)
            source_key = f"upload:{upload.file_id}"
    else:
        samples = sample_files(bundle.id)
        if not samples:
            st.info("No sample file ships for this model; upload one.")
        else:
            chosen = st.selectbox("Sample file", samples, format_func=lambda p: p.name,
                                  key=f"wi_sample__{bundle.id}")
            raw = read_table(chosen)
            source_key = f"sample:{chosen}"
    table = validate_table(raw, card) if raw is not None else None
except PrecimedInputError as exc:
    show_error(exc)
    st.stop()
if raw is None or table is None:
    st.stop()

label_col = next((c for c in raw.columns if c.strip().lower() in
                  ("sample", "id", "patient", "patient_id", "compound", "name")), None)
row = st.selectbox(f"{subject.capitalize()} (row)", table.valid_rows, key=f"wi_row__{bundle.id}",
                   format_func=lambda r: f"row {r}" + (f" · {raw.iloc[r][label_col]}"
                                                       if label_col else ""))
original = row_values(table, row)

token = f"{bundle.id}|{source_key}|{row}"
if state.get("wi_token") != token:  # a new row: start from its own values
    state["wi_token"] = token
    state["wi_edits"] = {}
    for key in [k for k in state if str(k).startswith("edit_")]:
        del state[key]
edits: dict[str, Any] = state.setdefault("wi_edits", {})
default_class = card.get("positive_class") or classes[0]
explain_class = st.selectbox("Explain the probability of", classes,
                             index=classes.index(default_class), key=f"wi_class__{bundle.id}")


def _fmt(value: Any) -> str:
    return value if isinstance(value, str) else f"{float(value):.4g}"


def _record(feature: str) -> None:
    """Widget → the session's edits (an edit back to the original value is no edit)."""
    value = state[f"edit_{feature}"]
    if value is None or same_value(value, original[feature]):
        edits.pop(feature, None)
    else:
        edits[feature] = value


def _reset() -> None:
    edits.clear()
    for key in [k for k in state if str(k).startswith("edit_")]:
        del state[key]


def _load(new_edits: dict[str, Any]) -> None:
    _reset()
    edits.update(new_edits)


if not state.get("wi_extrapolate", False):  # bounds back on: pull edits into the range
    for name, value in list(edits.items()):
        spec = spec_by_name[name]
        if spec.is_categorical:
            continue
        lo, hi, _ = widget_bounds(spec, original[name])
        clamped = min(max(float(value), lo if lo is not None else float(value)),
                      hi if hi is not None else float(value))
        if same_value(clamped, original[name]):
            edits.pop(name)
        else:
            edits[name] = clamped

# --- Predict and explain the original and the edited row -------------------------------------
try:
    from precimed.whatif.analysis import evaluate_edits

    with st.spinner("Loading the model…"):
        result = evaluate_edits(bundle, original, edits, allow_extrapolation=True)
except PrecimedInputError as exc:
    show_error(exc)
    _reset()
    st.stop()
except Exception as exc:  # noqa: BLE001 - shown without a traceback
    show_error(exc)
    st.stop()

editor, results = st.columns([2, 3])
with editor:
    st.subheader("Edit the features")
    c1, c2 = st.columns(2)
    top = c1.number_input("Show the top features by effect", 1, len(specs), min(12, len(specs)),
                          key=f"wi_top__{bundle.id}")
    extrapolate = c2.toggle("Allow extrapolation", key="wi_extrapolate",
                            help="Allow values outside the training range (the card's min–max); they are "
                                 "flagged as extrapolation.")
    search = st.text_input(f"Search the other {len(specs)} features", key="wi_search",
                           placeholder="name or part of it")
    shown = visible_features(specs, result.before.shap[explain_class], top=int(top), search=search,
                             edited=edits.keys())
    st.caption(f"Showing {len(shown)} of {len(specs)} features, largest |SHAP| first "
               f"(for P({explain_class}) of the original {subject}). 🔒 = fixed in the model card.")
    for name in shown:
        spec = spec_by_name[name]
        key = f"edit_{name}"
        current = edits.get(name, original[name])
        shap_now = result.after.shap[explain_class][name]
        label = f"{'🔒 ' if spec.fixed else ''}{spec.label}  ·  SHAP {shap_now:+.3f}"
        help_text = (f"{spec.description or ''} — {describe_range(spec)}; original value "
                     f"{original[name]}" + ("; fixed: cannot change" if spec.fixed else ""))
        if spec.is_categorical:
            if key not in state:
                state[key] = current
            st.selectbox(label, list(spec.levels), key=key, on_change=_record, args=(name,),
                         disabled=spec.fixed, help=help_text)
        else:
            lo, hi, step = widget_bounds(spec, original[name], extrapolate=extrapolate)
            value = float(current)
            if key not in state or state[key] != value:
                state[key] = value
            decimals = max(0, -int(f"{step:e}".split("e")[1])) + 1
            st.number_input(label, min_value=lo, max_value=hi, step=step, key=key,
                            format=f"%.{decimals}f", on_change=_record, args=(name,),
                            disabled=spec.fixed, help=help_text)
            flag = range_flag(spec, edits.get(name, original[name]))
            if flag is not None:
                st.caption(f"⚠️ extrapolation: {flag.message}")
    st.button("Reset to the original", key="wi_reset", on_click=_reset,
              disabled=not edits)

with results:
    st.subheader("Prediction: original → edited")
    delta = result.delta_probabilities()
    cols = st.columns(len(classes))
    for col, c in zip(cols, classes, strict=True):
        col.metric(f"P({c})", f"{result.after.probabilities[c]:.1%}", delta_color="off",
                   delta=f"{delta[c] * 100:+.1f} pp" if result.changed else None,
                   help=f"original {result.before.probabilities[c]:.1%}")
    rule = (f"threshold {card['threshold']:g} on P({card['positive_class']})"
            if card["task"] == "binary" else "most probable class")
    st.markdown(f"Prediction: **{result.before.prediction}** → **{result.after.prediction}** "
                f"({rule}); {len(result.changed)} feature(s) changed: "
                + (", ".join(f"`{f}` {_fmt(original[f])} → {_fmt(result.after.values[f])}"
                             for f in result.changed) or "none"))
    for flag in result.flags:
        st.warning(f"Extrapolation: {flag.message}", icon="⚠️")
    st.plotly_chart(probability_figure(result.after.probabilities, threshold=card.get("threshold"),
                                       positive_class=card.get("positive_class")),
                    key="wi_probabilities")
    # Stacked, edited above original: side by side they would be too narrow to read.
    base = result.base_values[explain_class]
    st.plotly_chart(waterfall_figure(base, result.after.shap[explain_class], result.after.values,
                                     output=result.after.probabilities[explain_class],
                                     class_name=explain_class, max_features=10,
                                     labels=feature_labels(card),
                                     flagged={f.feature: "extrapolated" for f in result.flags},
                                     title=f"Edited: P({explain_class}) = "
                                           f"{result.after.probabilities[explain_class]:.3f}"),
                    key="wi_waterfall_after")
    st.plotly_chart(waterfall_figure(base, result.before.shap[explain_class], original,
                                     output=result.before.probabilities[explain_class],
                                     class_name=explain_class, max_features=10,
                                     labels=feature_labels(card),
                                     title=f"Original: P({explain_class}) = "
                                           f"{result.before.probabilities[explain_class]:.3f}"),
                    key="wi_waterfall_before")
    st.caption(f"{result.method}; red pushes toward '{explain_class}', blue away. Base value + "
               f"sum of bars = probability (largest error {result.additivity_error():.1e}).")
    if result.changed:
        d_shap = result.delta_shap(explain_class)
        top_delta = sorted(d_shap, key=lambda f: -abs(d_shap[f]))[:15]
        st.caption(f"Change in each feature's SHAP value for P({explain_class}), largest first:")
        st.dataframe(pd.DataFrame({
            "feature": top_delta,
            "original": [_fmt(original[f]) for f in top_delta],
            "edited": [_fmt(result.after.values[f]) for f in top_delta],
            "SHAP before": [result.before.shap[explain_class][f] for f in top_delta],
            "SHAP after": [result.after.shap[explain_class][f] for f in top_delta],
            "Δ SHAP": [d_shap[f] for f in top_delta]}), hide_index=True, key="wi_delta_shap")

# --- ICE / PDP ---------------------------------------------------------------------------------
st.subheader("ICE and partial dependence")
ice_col, ice_opts = st.columns([3, 1])
with ice_opts:
    order = visible_features(specs, result.before.shap[explain_class], top=len(specs))
    feature = st.selectbox("Feature", order, key=f"wi_ice_feature__{bundle.id}",
                           help="Sorted by the size of its effect on this row.")
    pdp_options = ["training sample in the bundle"] + (["the uploaded table"]
                                                       if source == "Upload" else [])
    pdp_source = st.radio("PDP over", pdp_options, key="wi_pdp_source")
    faint = st.checkbox("Show the cohort's ICE curves", key="wi_ice_faint")
try:
    from precimed.whatif.curves import ice_curve, partial_dependence
    from precimed.whatif.figures import ice_pdp_figure

    ice = ice_curve(bundle, result.after.values, feature)
    cohort = table.frame.iloc[table.valid_rows] if pdp_source == "the uploaded table" else None
    # The PDP does not depend on this row's edits, only on the grid: keep the last one.
    pdp_key = (bundle.id, feature, tuple(map(str, ice.grid)),
               source_key if cohort is not None else "background")
    cached = state.get("wi_pdp")
    if cached and cached[0] == pdp_key:
        pdp = cached[1]
    else:
        pdp = partial_dependence(bundle, cohort, feature, grid=ice.grid)
        state["wi_pdp"] = (pdp_key, pdp)
    with ice_col:
        st.plotly_chart(ice_pdp_figure(ice, pdp, explain_class,
                                       threshold=card.get("threshold")
                                       if explain_class == card.get("positive_class") else None,
                                       cohort_curves=30 if faint else 0), key="wi_ice")
        st.caption(f"ICE: this {subject} (with the edits above) as '{feature}' sweeps its training "
                   f"range; PDP: the average of the same sweep over {pdp.source}.")
except Exception as exc:  # noqa: BLE001
    show_error(exc)

# --- Counterfactuals ---------------------------------------------------------------------------
st.subheader("Counterfactuals")
from precimed.whatif.counterfactual import METHOD  # noqa: E402 - light module, no TensorFlow

st.caption(f"Method: {METHOD}. Fixed features never change; every changed value stays inside the "
           "card's plausible range. Searched from the original row.")
cf1, cf2, cf3 = st.columns(3)
targets = [c for c in classes if c != result.before.prediction]
target = cf1.selectbox("Target class", targets, key=f"wi_cf_target__{bundle.id}")
n_cf = cf2.number_input("How many", 1, 10, 3, key="wi_cf_n")
max_changes = cf3.number_input("At most this many changed features", 1, 50, None, key="wi_cf_max",
                               placeholder="automatic: 5, then 10, then 20")
if st.button("Find counterfactuals", key="wi_cf_run"):
    try:
        from precimed.whatif.counterfactual import find_counterfactuals

        with st.spinner("Searching…"):
            found = find_counterfactuals(bundle, original, target=target, n=int(n_cf),
                                         max_changes=None if max_changes is None else int(max_changes))
        state["wi_cf"] = {"token": token, "result": found.to_json()}
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
cf_state = state.get("wi_cf")
if cf_state and cf_state["token"] == token:
    found_json = cf_state["result"]
    items = found_json["counterfactuals"]
    st.caption(f"{len(items)} found toward '{found_json['target']}' in "
               f"{found_json['seconds']:.2f} s ({found_json['model_rows_evaluated']} model rows "
               "evaluated).")
    if found_json.get("note"):
        st.info(found_json["note"])
    if items:
        st.dataframe(pd.DataFrame([{
            "#": k + 1,
            "changes": "; ".join(
                f"{f}: {item['from'][f]} → {v}" if isinstance(v, str)
                else f"{f}: {item['from'][f]:.4g} → {v:.4g} ({v - item['from'][f]:+.3g})"
                for f, v in item["changes"].items()),
            "n changes": item["n_changes"], "distance (SD units)": item["distance"],
            **{f"P({c})": item["probabilities"][c] for c in classes},
            "prediction": item["prediction"]} for k, item in enumerate(items)]),
            hide_index=True, key="wi_cf_table")
        pick = st.selectbox("Load a counterfactual into the editor", range(len(items)),
                            format_func=lambda k: f"#{k + 1}", key="wi_cf_pick")
        st.button("Load", key="wi_cf_apply", on_click=_load, args=(items[pick]["changes"],))

# --- Scenarios ---------------------------------------------------------------------------------
st.subheader("Scenarios")
scenarios: list[dict[str, Any]] = state.setdefault("wi_scenarios", {}).setdefault(token, [])


def _save() -> None:
    try:
        name = check_name(state.get("wi_scn_name", ""), [Scenario.from_json(s) for s in scenarios])
    except PrecimedInputError as exc:
        state["wi_scn_error"] = str(exc)
        return
    scenarios.append(Scenario(name, dict(edits)).to_json())
    state["wi_scn_name"] = ""
    state.pop("wi_scn_error", None)


s1, s2 = st.columns([3, 1])
s1.text_input("Name this scenario (the current edits)", key="wi_scn_name",
              placeholder="e.g. lower ESR1 expression")
s2.button("Save scenario", key="wi_scn_save", on_click=_save)
if state.get("wi_scn_error"):
    st.error(state["wi_scn_error"])
if scenarios:
    try:
        records = compare_scenarios(bundle, original, [Scenario.from_json(s) for s in scenarios])
        st.dataframe(pd.DataFrame(records), hide_index=True, key="wi_scn_table")
    except PrecimedInputError as exc:
        show_error(exc)
    l1, l2, l3 = st.columns([2, 1, 1])
    names = [s["name"] for s in scenarios]
    chosen_name = l1.selectbox("Scenario", names, key="wi_scn_pick")
    l2.button("Load into the editor", key="wi_scn_load", on_click=_load,
              args=(next(s["edits"] for s in scenarios if s["name"] == chosen_name),))
    l3.button("Delete all scenarios", key="wi_scn_clear", on_click=scenarios.clear)
else:
    st.caption(f"Saved scenarios of this {subject} are compared here side by side with the "
               "original. They live in this browser session only.")
