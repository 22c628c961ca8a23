"""Imaging: DICOM upload or sample, viewer with windowing, CNN prediction, SHAP heatmap overlay.

The frame, prediction, explanation and viewer are fragments (pages/_imaging_view.py): a
preset, slider or frame change reruns only them. A thin view: decoding, windowing,
de-identification, prediction and explanation are in ``precimed.dicom`` and
``precimed.imaging``. Uploaded files stay in this session's memory (``st.session_state``,
never a cache shared across users) and are not written to disk.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages._imaging_view import imaging_view
from pages._ui import load_dicom_once, page_setup, pick_model, scoped
from precimed.dicom import LoadResult
from precimed.samples import sample_files

page_setup()
st.title("Imaging")
st.caption("Upload a DICOM file (single or multi-frame) or a .zip of a series, or pick a sample. "
           "Files stay in this browser session's memory.")
bundle = pick_model("image", key="imaging_model")
state = st.session_state


def _load(key: tuple[str, str], data: bytes, name: str) -> LoadResult | None:
    """Decode once per upload/sample; sliders then reuse the decoded frames."""
    result: LoadResult | None = load_dicom_once(
        "imaging_loaded", key, data, name,
        clear=("imaging_explained", "imaging_predicted", "imaging_deid_cache", "imaging_frame",
               "imaging_window_for"))
    return result


source = st.radio("Images", ["Sample file", "Upload", "PACS"], horizontal=True, key="imaging_source")
result: LoadResult | None = None
if source == "Upload":
    upload = st.file_uploader("DICOM file (.dcm, multi-frame) or a .zip of a series or study",
                              key="imaging_upload")
    if upload is not None:
        result = _load(("upload", upload.file_id), upload.getvalue(), upload.name)
elif source == "PACS":
    from pages._pacs import pacs_source  # search, pick a study and series (pages/_pacs.py)

    result = pacs_source(bundle)
else:
    samples = sample_files(bundle.id) if bundle else []
    if not samples:
        st.info("No sample ships for this model; upload a DICOM file.")
    else:
        chosen = st.selectbox("Sample", samples, format_func=lambda p: p.name,
                              key=scoped("imaging_sample", bundle.id) if bundle else "imaging_sample")
        result = _load(("sample", str(chosen)), Path(chosen).read_bytes(), Path(chosen).name)

if result is None:
    st.stop()
if result.errors:
    with st.expander(f"{len(result.errors)} file(s) could not be used", expanded=True):
        for err in result.errors:
            st.error(f"{err.source}: {err.reason}")

imaging_view(bundle, result, from_pacs=source == "PACS")
