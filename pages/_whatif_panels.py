"""The What-if page's counterfactual search and saved scenarios (view code).

Split from ``pages/_whatif_table.py`` (the editor, results and curves) to keep both short; the
searches and comparisons are :mod:`precimed.whatif`'s.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from pages._ui import show_error
from pages._whatif_table import Row, load
from precimed.errors import PrecimedInputError
from precimed.format import number, signed
from precimed.whatif.scenarios import Scenario, check_name, compare_scenarios

state = st.session_state


def counterfactuals(row: Row, original_prediction: str) -> None:
    from precimed.whatif.counterfactual import METHOD

    st.subheader("Counterfactuals")
    st.caption(f"Method: {METHOD}. Fixed features never change; every changed value stays inside the "
               "card's plausible range. Searched from the original row.")
    cf1, cf2, cf3 = st.columns(3)
    targets = [c for c in row.classes if c != original_prediction]
    target = cf1.selectbox("Target class", targets, key=row.key("wi_cf_target"))
    n_cf = cf2.number_input("How many", 1, 10, 3, key="wi_cf_n")
    max_changes = cf3.number_input("At most this many changed features", 1, 50, None, key="wi_cf_max",
                                   placeholder="automatic: 5, then 10, then 20")
    if st.button("Find counterfactuals", key="wi_cf_run"):
        try:
            from precimed.whatif.counterfactual import find_counterfactuals

            with st.spinner("Searching…"):
                found = find_counterfactuals(row.bundle, row.original, target=target, n=int(n_cf),
                                             max_changes=None if max_changes is None else int(max_changes))
            state["wi_cf"] = {"token": row.token, "result": found.to_json()}
        except Exception as exc:  # noqa: BLE001
            show_error(exc)
    cf_state = state.get("wi_cf")
    if not cf_state or cf_state["token"] != row.token:
        return
    found_json = cf_state["result"]
    items = found_json["counterfactuals"]
    st.caption(f"{len(items)} found toward '{found_json['target']}' in {found_json['seconds']:.2f} s "
               f"({found_json['model_rows_evaluated']} model rows evaluated).")
    if found_json.get("note"):
        st.info(found_json["note"])
    if items:
        st.dataframe(pd.DataFrame([{
            "#": k + 1,
            "changes": "; ".join(
                f"{f}: {item['from'][f]} → {v}" if isinstance(v, str)
                else f"{f}: {number(item['from'][f])} → {number(v)} ({signed(v - item['from'][f], 3)})"
                for f, v in item["changes"].items()),
            "n changes": item["n_changes"], "distance (SD units)": item["distance"],
            **{f"P({c})": item["probabilities"][c] for c in row.classes},
            "prediction": item["prediction"]} for k, item in enumerate(items)]),
            hide_index=True, key="wi_cf_table")
        pick = st.selectbox("Load a counterfactual into the editor", range(len(items)),
                            format_func=lambda k: f"#{k + 1}", key="wi_cf_pick")
        st.button("Load", key="wi_cf_apply", on_click=load, args=(row, items[pick]["changes"]))


def scenarios(row: Row) -> None:
    st.subheader("Scenarios")
    saved: list[dict[str, Any]] = state.setdefault("wi_scenarios", {}).setdefault(row.token, [])

    def _save() -> None:
        try:
            name = check_name(state.get("wi_scn_name", ""), [Scenario.from_json(s) for s in saved])
        except PrecimedInputError as exc:
            state["wi_scn_error"] = str(exc)
            return
        saved.append(Scenario(name, dict(row.edits())).to_json())
        state["wi_scn_name"] = ""
        state.pop("wi_scn_error", None)

    s1, s2 = st.columns([3, 1])
    s1.text_input("Name this scenario (the current edits)", key="wi_scn_name",
                  placeholder="e.g. lower ESR1 expression")
    s2.button("Save scenario", key="wi_scn_save", on_click=_save)
    if state.get("wi_scn_error"):
        st.error(state["wi_scn_error"])
    if not saved:
        st.caption(f"Saved scenarios of this {row.subject} are compared here side by side with the "
                   "original. They live in this browser session only.")
        return
    try:
        records = compare_scenarios(row.bundle, row.original, [Scenario.from_json(s) for s in saved])
        st.dataframe(pd.DataFrame(records), hide_index=True, key="wi_scn_table")
    except PrecimedInputError as exc:
        show_error(exc)
    l1, l2, l3 = st.columns([2, 1, 1])
    names = [s["name"] for s in saved]
    chosen_name = l1.selectbox("Scenario", names, key="wi_scn_pick")
    l2.button("Load into the editor", key="wi_scn_load", on_click=load,
              args=(row, next(s["edits"] for s in saved if s["name"] == chosen_name)))
    l3.button("Delete all scenarios", key="wi_scn_clear", on_click=saved.clear)
