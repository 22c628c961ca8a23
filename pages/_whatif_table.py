"""The tabular part of the what-if page: editor, results and curves (one fragment, the curves a
fragment inside it); counterfactuals and scenarios are in ``pages/_whatif_panels.py``. A thin
view over ``precimed.whatif``.

State that cannot go stale (issue 16): every widget and every stored edit belongs to one
*token* (model, input, row). Edit widgets carry the token in their key, the session's edits are
stored per token, and callbacks check the token they were made for, so a callback that fires
after a model switch (the browser still sending the old widget) changes nothing.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from pages._ui import memo, scoped, show_error, svg_chart
from precimed.cards import FeatureSpec, feature_labels
from precimed.charts import probability_svg, waterfall, waterfall_svg
from precimed.errors import PrecimedInputError
from precimed.format import number, percent, probability, signed
from precimed.registry import Bundle
from precimed.tabular.validate import ValidatedTable
from precimed.whatif.editor import describe_range, visible_features, widget_bounds
from precimed.whatif.edits import range_flag, same_value

state = st.session_state
WHATIF_BARS = 10  # features in each what-if waterfall, and editable by default


@dataclass(frozen=True)
class Row:
    """The row being edited and what its widgets are scoped to."""

    bundle: Bundle
    specs: list[FeatureSpec]
    original: dict[str, Any]
    table: ValidatedTable
    input_key: str
    uploaded: bool
    subject: str
    row: int

    @property
    def token(self) -> str:
        return f"{self.bundle.id}|{self.input_key}|{self.row}"

    @property
    def classes(self) -> list[str]:
        return list(self.bundle.card["classes"])

    def key(self, name: str) -> str:
        return scoped(name, self.bundle.id, self.input_key, self.row)

    def edits(self) -> dict[str, Any]:
        store: dict[str, dict[str, Any]] = state.setdefault("wi_edits", {})
        return store.setdefault(self.token, {})


def reset(row: Row) -> None:
    """Back to the row's own values: its edits and its edit widgets go."""
    row.edits().clear()
    suffix = row.key("")  # "__<model>__<scope>"
    for key in [k for k in state if str(k).startswith("edit_") and str(k).endswith(suffix)]:
        del state[key]


def load(row: Row, new_edits: dict[str, Any]) -> None:
    reset(row)
    row.edits().update(new_edits)


def _record(row: Row, feature: str, key: str) -> None:
    """Widget → the row's edits (an edit back to the original value is no edit).

    Reads the widget with ``get``: after a model switch Streamlit may call the callback of a
    widget that is no longer on the page (once a KeyError traceback, issue 16).
    """
    value = state.get(key)
    edits = row.edits()
    if value is None or same_value(value, row.original[feature]):
        edits.pop(feature, None)
    else:
        edits[feature] = value


def _clamp(row: Row, edits: dict[str, Any]) -> None:
    """Extrapolation off: pull the edits back into the card's range."""
    by_name = {s.name: s for s in row.specs}
    for name, value in list(edits.items()):
        spec = by_name[name]
        if spec.is_categorical:
            continue
        lo, hi, _ = widget_bounds(spec, row.original[name])
        clamped = min(max(float(value), lo if lo is not None else float(value)),
                      hi if hi is not None else float(value))
        if same_value(clamped, row.original[name]):
            edits.pop(name)
        else:
            edits[name] = clamped


def evaluate(row: Row, edits: dict[str, Any]) -> Any:
    """The what-if result for these edits, once per (row, edits) in this session."""
    from precimed.whatif.analysis import evaluate_edits

    frozen = tuple(sorted((k, str(v)) for k, v in edits.items()))
    return memo("wi_result", (row.token, frozen),
                lambda: evaluate_edits(row.bundle, row.original, dict(edits), allow_extrapolation=True))


@st.fragment
def edit_and_results(row: Row) -> None:
    """Editor, prediction, waterfalls and curves: an edit reruns this fragment only."""
    card, classes = row.bundle.card, row.classes
    default_class = card.get("positive_class") or classes[0]
    explain_class = st.selectbox("Explain the probability of", classes, index=classes.index(default_class),
                                 key=row.key("wi_class"))
    edits = row.edits()
    if not state.get(row.key("wi_extrapolate"), False):
        _clamp(row, edits)
    # The spinner only while the model is not loaded yet: st.spinner starts a timer thread,
    # 3 ms of every edit on the 2-core machine (py-spy), for an evaluation that takes 5 ms.
    waiting = contextlib.nullcontext() if row.bundle.model_loaded() else st.spinner("Loading the model…")
    try:
        with waiting:
            try:
                result = evaluate(row, edits)
            except PrecimedInputError as exc:
                # A rejected edit: say why and keep the editor, back on the row's own values
                # (returning here left the page with an error and no editor to fix it).
                show_error(exc)
                reset(row)
                result = evaluate(row, row.edits())
    except Exception as exc:  # noqa: BLE001 - shown without a traceback
        show_error(exc)
        return
    editor, results = st.columns([2, 3])
    # The results are written first (same layout on screen), so their deltas leave the server
    # before the editor's widgets are rebuilt.
    with results:
        _results(row, result, explain_class)
    with editor:
        _editor(row, result, explain_class)
    ice_curves(row, result.after.values, result.before.shap[explain_class], explain_class)


def _editor(row: Row, result: Any, explain_class: str) -> None:
    specs, original, edits = row.specs, row.original, row.edits()
    st.subheader("Edit the features")
    # One above the other: side by side in this column, the toggle's label was cut to
    # "Allow extrap…" at 1280 px (tests/browser/test_layout_browser.py).
    # As many as the waterfall's bars: each number input costs the browser a few ms per edit.
    top = st.number_input("Show the top features by effect", 1, len(specs), min(WHATIF_BARS, len(specs)),
                          key=row.key("wi_top"))
    extrapolate = st.toggle("Allow extrapolation", key=row.key("wi_extrapolate"),
                           help="Allow values outside the training range (the card's min–max); they are "
                                "flagged as extrapolation.")
    search = st.text_input(f"Search the other {len(specs)} features", key=row.key("wi_search"),
                           placeholder="name or part of it")
    shown = visible_features(specs, result.before.shap[explain_class], top=int(top), search=search,
                             edited=edits.keys())
    st.caption(f"Showing {len(shown)} of {len(specs)} features, largest |SHAP| first "
               f"(for P({explain_class}) of the original {row.subject}). 🔒 = fixed in the model card.")
    by_name = {s.name: s for s in specs}
    for name in shown:
        spec = by_name[name]
        key = row.key(f"edit_{name}")
        current = edits.get(name, original[name])
        label = f"{'🔒 ' if spec.fixed else ''}{spec.label}  ·  SHAP {signed(result.after.shap[explain_class][name])}"
        help_text = (f"{spec.description or ''} — {describe_range(spec)}; original value "
                     f"{number(original[name])}" + ("; fixed: cannot change" if spec.fixed else ""))
        if spec.is_categorical:
            if key not in state:
                state[key] = current
            st.selectbox(label, list(spec.levels), key=key, on_change=_record, args=(row, name, key),
                         disabled=spec.fixed, help=help_text)
        else:
            lo, hi, step = widget_bounds(spec, original[name], extrapolate=extrapolate)
            value = float(current)
            if spec.dtype == "int":  # a whole-number widget: a fraction cannot be typed (issue 16)
                lo = None if lo is None else math.ceil(lo)
                hi = None if hi is None else math.floor(hi)
                step, value, fmt = 1, round(value), "%d"
            else:
                fmt = f"%.{max(0, -int(f'{step:e}'.split('e')[1])) + 1}f"
            if key not in state or state[key] != value:
                state[key] = value
            st.number_input(label, min_value=lo, max_value=hi, step=step, key=key,
                            format=fmt, on_change=_record, args=(row, name, key),
                            disabled=spec.fixed, help=help_text)
            flag = range_flag(spec, edits.get(name, original[name]))
            if flag is not None:
                st.caption(f"⚠️ extrapolation: {flag.message}")
    st.button("Reset to the original", key="wi_reset", on_click=reset, args=(row,), disabled=not edits)


def _results(row: Row, result: Any, explain_class: str) -> None:
    from pages._ui import class_metrics

    card, classes, original = row.bundle.card, row.classes, row.original
    st.subheader("Prediction: original → edited")
    class_metrics(result.after.probabilities, classes, key="wi_probs",
                  before=result.before.probabilities if result.changed else None)
    rule = (f"threshold {card['threshold']:g} on P({card['positive_class']})"
            if card["task"] == "binary" else "most probable class")
    st.markdown(f"Prediction: **{result.before.prediction}** → **{result.after.prediction}** "
                f"({rule}); {len(result.changed)} feature(s) changed: "
                + (", ".join(f"`{f}` {number(original[f])} → {number(result.after.values[f])}"
                             for f in result.changed) or "none"))
    for flag in result.flags:
        st.warning(f"Extrapolation: {flag.message}", icon="⚠️")
    svg_chart(probability_svg(result.after.probabilities, threshold=card.get("threshold"),
                              positive_class=card.get("positive_class")), key="wi_probabilities")
    # Stacked, edited above original: side by side they would be too narrow to read.
    base = result.base_values[explain_class]
    for key, which, values in (("wi_waterfall_after", "Edited", result.after),
                               ("wi_waterfall_before", "Original", result.before)):
        p = values.probabilities[explain_class]
        svg_chart(waterfall_svg(waterfall(base, values.shap[explain_class], values.values, output=p,
                                          class_name=explain_class, max_features=WHATIF_BARS,
                                          labels=feature_labels(card),
                                          flagged={f.feature: "extrapolated" for f in result.flags}
                                          if which == "Edited" else None,
                                          title=f"{which}: P({explain_class}) = {probability(p)} ({percent(p)})")),
                  key=key)
    st.caption(f"{result.method}; red pushes toward '{explain_class}', blue away. Base value + "
               f"sum of bars = probability (largest error {result.additivity_error():.1e}).")
    if result.changed:
        d_shap = result.delta_shap(explain_class)
        top_delta = sorted(d_shap, key=lambda f: -abs(d_shap[f]))[:15]
        st.caption(f"Change in each feature's SHAP value for P({explain_class}), largest first:")
        # A static table, not st.dataframe: it appears and goes with every edit, and mounting
        # the data grid's canvas cost the browser more than the rest of the results.
        st.table(pd.DataFrame({
            "feature": top_delta,
            "original": [number(original[f]) for f in top_delta],
            "edited": [number(result.after.values[f]) for f in top_delta],
            "SHAP before": [signed(result.before.shap[explain_class][f], 4) for f in top_delta],
            "SHAP after": [signed(result.after.shap[explain_class][f], 4) for f in top_delta],
            "Δ SHAP": [signed(d_shap[f], 4) for f in top_delta]}).set_index("feature"))


@st.fragment
def ice_curves(row: Row, values: dict[str, Any], shap: dict[str, float], explain_class: str) -> None:
    """ICE and PDP; its own controls rerun only this (an edit reruns it with the editor)."""
    card = row.bundle.card
    st.subheader("ICE and partial dependence")
    ice_col, ice_opts = st.columns([3, 1])
    with ice_opts:
        order = visible_features(row.specs, shap, top=len(row.specs))
        feature = st.selectbox("Feature", order, key=row.key("wi_ice_feature"),
                               help="Sorted by the size of its effect on this row.")
        pdp_options = ["training sample in the bundle"] + (["the uploaded table"] if row.uploaded else [])
        pdp_source = st.radio("PDP over", pdp_options, key=row.key("wi_pdp_source"))
        faint = st.checkbox("Show the cohort's ICE curves", key="wi_ice_faint")
    try:
        from precimed.whatif.curves import ice_curve, partial_dependence
        from precimed.whatif.figures import ice_pdp_svg

        frozen = tuple(sorted((k, str(v)) for k, v in values.items()))
        ice = memo("wi_ice", (row.token, feature, hash(frozen)),
                   lambda: ice_curve(row.bundle, values, feature))
        uploaded = pdp_source == "the uploaded table"
        cohort = row.table.frame.iloc[row.table.valid_rows] if uploaded else None
        # The PDP does not depend on this row's edits, only on the grid.
        pdp = memo("wi_pdp", (row.bundle.id, feature, tuple(map(str, ice.grid)),
                              row.input_key if uploaded else "background"),
                   lambda: partial_dependence(row.bundle, cohort, feature, grid=ice.grid))
        with ice_col:
            svg_chart(ice_pdp_svg(ice, pdp, explain_class,
                                  threshold=card.get("threshold")
                                  if explain_class == card.get("positive_class") else None,
                                  cohort_curves=30 if faint else 0), key="wi_ice")
            st.caption(f"ICE: this {row.subject} (with the edits above) as '{feature}' sweeps its "
                       f"training range; PDP: the average of the same sweep over {pdp.source}.")
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
