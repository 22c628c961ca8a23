"""Administration: import a model bundle (bring your own model) and read the audit log."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages._auth import admin_refusal
from pages._ui import cached_bundles, page_setup, show_error
from precimed import audit
from precimed.errors import PrecimedInputError
from precimed.userdata import user_models_dir

page_setup()
st.title("Administration")
refusal = admin_refusal()
if refusal is not None:
    st.error(refusal, icon="🔒")
    st.stop()

st.subheader("Import a model bundle")
st.markdown(
    "A `.zip` with `model.keras` and `card.json` (and the background file its card names, "
    "`background.csv` for tabular models). The card is checked against the schema, the "
    "weights' SHA-256 is recorded (and must match a checksum the card states), and the model is "
    "loaded in Keras' safe mode: **Lambda layers and custom objects are refused**, because they "
    "would run code. Imported models are marked *user-supplied* everywhere they appear.")
upload = st.file_uploader("Model bundle (.zip)", type=["zip"], key="bundle_upload")
replace = st.checkbox("Replace an imported model with the same id", key="bundle_replace")
if upload is not None and st.button("Import", key="bundle_import", type="primary"):
    from precimed.importing import import_bundle_bytes

    try:
        with st.spinner("Checking and loading the model in safe mode…"):
            result = import_bundle_bytes(upload.getvalue(), upload.name, replace=replace)
    except Exception as exc:  # noqa: BLE001 - shown without a traceback
        show_error(exc)
    else:
        cached_bundles.clear()
        st.success(f"Installed **{result.name}** (v{result.version}, `{result.id}`) as a "
                   f"user-supplied model; weights SHA-256 `{result.weights_sha256}`.")
        for note in result.notes:
            st.info(note)

folder = user_models_dir()
imported = [b for b in cached_bundles() if b.card.get("user_supplied")]
st.caption(f"Imported models live in `{folder}` (set PRECIMED_USER_MODELS_DIR to move them).")
if imported:
    st.dataframe(pd.DataFrame([{"id": b.id, "name": b.name, "version": b.version,
                                "modality": b.modality, "weights SHA-256": b.card["weights_sha256"],
                                "folder": str(b.path)} for b in imported]),
                 hide_index=True, key="imported_models")

st.subheader("Audit log")
path = audit.log_path()
if path is None:
    st.info("Auditing is off. Set PRECIMED_AUDIT_LOG to a file path (or `default` for "
            f"`{audit.default_log_path()}`) before starting the app to record every prediction "
            "and explanation.")
    st.stop()
st.caption(f"Log file: `{path}`")
if not path.is_file():
    st.info("No prediction has been recorded yet.")
    st.stop()
try:
    check = audit.verify(path)
except PrecimedInputError as exc:
    show_error(exc)
    st.stop()
if check.ok:
    st.success(f"Hash chain intact: {check.lines} line(s). Head hash `{check.head}` (keep a copy "
               "elsewhere to detect lines cut off the end).", icon="✅")
else:
    st.error(f"Hash chain broken at line {check.first_bad_line} of {check.lines}: {check.reason}. "
             f"Last good hash `{check.head}`.", icon="🚨")
entries = audit.read_entries(path, last=500)
rows = [{"seq": e.get("seq"), "time": e.get("time"), "who": e.get("who"), "action": e.get("action"),
         "model": e.get("model", {}).get("id"), "version": e.get("model", {}).get("version"),
         "weights": str(e.get("model", {}).get("weights_sha256", ""))[:12],
         "input fingerprint": str(e.get("input", {}).get("fingerprint", ""))[:23],
         "output": str(e.get("output"))[:200]} for e in reversed(entries)]
st.dataframe(pd.DataFrame(rows), hide_index=True, key="audit_log")
