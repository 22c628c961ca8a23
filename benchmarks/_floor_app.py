"""Streamlit's floor for bench_ui.py: one button in an otherwise empty fragment; a click reruns
only the fragment and bumps a counter. Nothing of PreciMed is imported."""

import streamlit as st

st.session_state.setdefault("floor_n", 0)


@st.fragment
def tick() -> None:
    if st.button("tick", key="floor_button"):
        st.session_state["floor_n"] += 1
    with st.container(key="floor_count"):
        st.write(st.session_state["floor_n"])


tick()
