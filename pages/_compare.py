"""The Genomics page's side-by-side view: the network and its published reference for one row.

Only renders: the pairing (from the cards) and the agreement come from :mod:`precimed.compare`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages._ui import cached_bundles, show_error
from precimed.compare import compare_row, reference_for
from precimed.registry import Bundle


def show_reference(bundle: Bundle, raw: pd.DataFrame, row: int, probabilities: dict[str, float]) -> None:
    """Both calls side by side and one sentence on whether they agree (nothing if no pairing)."""
    reference = reference_for(bundle.card, cached_bundles())
    if reference is None:
        return
    st.subheader("Network and published reference")
    try:
        result = compare_row(bundle, reference, raw, row, network_probabilities=probabilities)
    except Exception as exc:  # noqa: BLE001 - shown without a traceback; the page goes on
        show_error(exc)
        return
    net, ref = st.columns(2)
    net.metric(f"Network: {result.network.name}", result.network.prediction,
               help=result.network.detail)
    ref.metric(f"Reference: {result.reference.name}", result.reference.prediction,
               help=result.reference.detail)
    (st.success if result.agree else st.warning)(result.message)
    st.caption(f"Reference: {reference.card.get('citation', reference.name)}. "
               + reference.card.get("output", {}).get("what", ""))
