"""The Imaging page's de-identified export: a download of the current file under the PS3.15
basic profile, held back behind an acknowledgement when the image may carry burned-in text
(the pixels are never cleaned; see :mod:`precimed.dicom.deid`)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages._ui import show_error
from precimed.dicom.deid import burned_in_report, deidentify_bytes
from precimed.errors import PrecimedInputError


def deidentified_download(source: str, raw: bytes) -> None:
    """The download button for ``source`` (one DICOM file), with the burned-in text warning."""
    state = st.session_state
    risk = burned_in_report({source: raw}).get(source)
    allow = False
    if risk:
        st.warning("This image may carry burned-in text (" + "; ".join(risk) + "). PreciMed does "
                   "not clean pixels: the export removes identifying attributes only.", icon="⚠️")
        allow = st.checkbox("I understand: export the pixels unchanged (they may show a name "
                            "or ID)", key="imaging_deid_ack")
        if not allow:
            st.caption("Tick the box above to download the de-identified file.")
            return
    cache = state.setdefault("imaging_deid_cache", {})
    try:
        if source not in cache:
            cache[source] = deidentify_bytes(raw, source, allow_burned_in_text=allow)
    except PrecimedInputError as exc:
        show_error(exc)
        return
    st.download_button("Download this file de-identified (DICOM)", cache[source],
                       file_name=f"deidentified_{Path(source).name or 'image.dcm'}",
                       mime="application/dicom", key="imaging_deid")
    st.caption("De-identified with the PS3.15 Basic Application Level Confidentiality Profile: "
               "identifying attributes removed or replaced, private attributes removed, new UIDs. "
               "Text burned into the pixels is not removed" +
               (" (you chose to export this image's pixels unchanged)." if risk else "."))
