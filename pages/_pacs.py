"""The Imaging page's PACS source and its DICOM results panel (a view module, no logic).

- :func:`pacs_source`: connect (``[pacs]`` in ``.streamlit/secrets.toml``, ``PRECIMED_PACS_*``
  or the form), search studies, pick a study and a series, open it; the series is retrieved
  into this session's memory through the upload's limits (``precimed.pacs``).
- :func:`results_panel`: the result as DICOM objects (TID 1500 SR, Parametric Map, optional
  Secondary Capture of the overlay) to download, from any source, optionally de-identified;
  for a PACS series, "Send results to PACS" with a confirmation of what is sent.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from pages._ui import show_error
from precimed.dicom.frames import ImageFrame, LoadResult
from precimed.errors import PrecimedInputError

# The Imaging page's per-series state, dropped when another series is opened.
_CLEAR = ("imaging_explained", "imaging_predicted", "imaging_deid_cache", "imaging_frame",
          "imaging_window_for", "pacs_objects", "pacs_confirm", "pacs_sent")


def _secrets() -> dict[str, Any]:
    try:
        return dict(st.secrets.get("pacs", {}))
    except Exception:  # noqa: BLE001 - no secrets file, or one without [pacs]
        return {}


def _configured_url(secrets: dict[str, Any]) -> str:
    from precimed.pacs import pacs_config

    try:
        return pacs_config(secrets).url
    except PrecimedInputError:
        return ""


def pacs_source(bundle: Any) -> LoadResult | None:
    """Search form, study and series pickers; the opened series (or None)."""
    from precimed.pacs import PacsClient, image_series, pacs_config

    state = st.session_state
    secrets = _secrets()
    with st.form("pacs_search_form"):
        url = st.text_input("PACS DICOMweb URL", value=_configured_url(secrets), key="pacs_url",
                            placeholder="http://pacs.example.org:8042/dicom-web")
        c1, c2 = st.columns(2)
        user = c1.text_input("User (empty: the configured login)", key="pacs_user")
        password = c2.text_input("Password", type="password", key="pacs_password")
        f1, f2, f3, f4 = st.columns(4)
        patient_id = f1.text_input("Patient ID", key="pacs_patient_id")
        accession = f2.text_input("Accession number", key="pacs_accession")
        dates = f3.text_input("Study date", key="pacs_dates", placeholder="YYYYMMDD[-YYYYMMDD]")
        modality = f4.text_input("Modality", key="pacs_modality", placeholder="CT")
        submitted = st.form_submit_button("Search the PACS")
    if submitted:
        try:
            client = PacsClient(pacs_config(secrets, url=url, user=user, password=password))
            with st.spinner("Searching the PACS…"):
                studies = client.search_studies(patient_id=patient_id, accession=accession,
                                                study_date=dates, modality=modality)
            state["pacs_client"], state["pacs_studies"] = client, studies
        except Exception as exc:  # noqa: BLE001 - st.error, never a traceback
            state.pop("pacs_studies", None)
            show_error(exc)
    studies = state.get("pacs_studies")
    if studies is None:
        st.info("Search the PACS for a study (patient ID, accession number, date range, modality).")
        return _opened()
    if not studies:
        st.warning("No study matches these filters.")
        return _opened()
    study = st.selectbox(f"Study ({len(studies)} found)", studies, format_func=lambda s: s.label(),
                         key="pacs_study")
    series = image_series(list(study.series))
    if not series:
        st.warning("This study has no image series.")
        return _opened()
    chosen = st.selectbox("Series", series, key="pacs_series", format_func=lambda s: (
        f"{s.modality} · {s.description or 'no description'} · {s.instances} image(s)"))
    if st.button("Open series", key="pacs_open", type="primary"):
        try:
            with st.spinner("Retrieving the series…"):
                got = state["pacs_client"].retrieve_series(study.study_uid, chosen.series_uid)
            for k in _CLEAR:
                state.pop(k, None)
            state["imaging_loaded"] = {"key": ("pacs", chosen.series_uid), "result": got.result,
                                       "error": None}
            state["pacs_opened"] = {"study": study.study_uid, "series": chosen.series_uid}
        except Exception as exc:  # noqa: BLE001
            show_error(exc)
    return _opened()


def _opened() -> LoadResult | None:
    state = st.session_state
    loaded = state.get("imaging_loaded")
    if state.get("pacs_opened") and loaded and loaded["key"][0] == "pacs":
        result: LoadResult = loaded["result"]
        st.caption(f"Opened from the PACS: {len(result.frames)} image(s), kept in this session's memory.")
        return result
    return None


def _objects(bundle: Any, frame: ImageFrame, probabilities: dict[str, float], expl: Any,
             rendered: np.ndarray, *, overlay: bool, deidentified: bool) -> list[Any]:
    from precimed.pacs import build_results
    from precimed.predict import decide

    card = bundle.card
    vec = np.array([[probabilities[c] for c in card["classes"]]])
    decision = card["classes"][int(decide(vec, card)[0])]
    return build_results(bundle, frame.header, frame, probabilities, decision, expl,
                         rendered=rendered if overlay else None, deidentified=deidentified)


def results_panel(bundle: Any, frame: ImageFrame, probabilities: dict[str, float], expl: Any,
                  rendered: np.ndarray, *, from_pacs: bool) -> None:
    """Download the result as DICOM; for a PACS series, send it back after a confirmation."""
    from precimed.dicom.results import DESCRIPTIONS, file_name, kind, to_bytes

    state = st.session_state
    if frame.header is None or expl is None:
        return
    with st.expander("Results as DICOM (structured report, heatmap, overlay)", expanded=from_pacs):
        overlay = st.checkbox("Include the overlay as a Secondary Capture", value=False, key="pacs_overlay")
        deid = st.toggle("De-identify the downloaded objects (PS3.15 basic profile)", value=False,
                         key="pacs_deid")
        key = (state.get("imaging_loaded", {}).get("key"), frame.label, expl.class_name, overlay)
        try:
            cache = state.get("pacs_objects")
            if not cache or cache["key"] != key:
                with st.spinner("Building the DICOM objects…"):
                    cache = {"key": key, "plain": _objects(bundle, frame, probabilities, expl, rendered,
                                                           overlay=overlay, deidentified=False), "deid": None}
                state["pacs_objects"] = cache
            if deid and cache["deid"] is None:
                cache["deid"] = _objects(bundle, frame, probabilities, expl, rendered, overlay=overlay,
                                         deidentified=True)
            objs = cache["deid"] if deid else cache["plain"]
            cols = st.columns(len(objs))
            for col, obj in zip(cols, objs, strict=True):
                col.download_button(f"Download the {DESCRIPTIONS[kind(obj)]}", to_bytes(obj),
                                    file_name=file_name(obj), mime="application/dicom",
                                    key=f"pacs_download_{kind(obj)}")
            st.caption("In the source image's study" + (" with the de-identified identity." if deid else
                                                        f" ({frame.header.get('StudyInstanceUID', '')})."))
        except Exception as exc:  # noqa: BLE001
            show_error(exc)
            return
        if from_pacs:
            _send(cache["plain"])


def _send(objs: list[Any]) -> None:
    state = st.session_state
    client = state.get("pacs_client")
    if client is None:
        return
    from precimed.dicom.results import DESCRIPTIONS, kind

    kinds = "; ".join(DESCRIPTIONS[kind(o)] for o in objs)
    study = objs[0].StudyInstanceUID
    if state.get("pacs_sent"):
        st.success(f"Stored in the PACS: {', '.join(state['pacs_sent'])}", icon="✅")
        return
    if not state.get("pacs_confirm"):
        if st.button("Send results to PACS", key="pacs_send"):
            state["pacs_confirm"] = True
            st.rerun()
        return
    st.warning(f"Send {len(objs)} object(s) ({kinds}) to {client.config.host}, into study {study}, "
               "with the patient's identity? They are marked as PreciMed results, not for clinical use.")
    yes, no = st.columns(2)
    if yes.button("Confirm: send", key="pacs_confirm_send", type="primary"):
        try:
            with st.spinner("Sending…"):
                state["pacs_sent"] = client.store(objs, study_uid=str(study))
            state.pop("pacs_confirm", None)
            st.rerun()
        except Exception as exc:  # noqa: BLE001
            show_error(exc)
    if no.button("Cancel", key="pacs_cancel"):
        state.pop("pacs_confirm", None)
        st.rerun()
