"""Streamlit pieces shared by the pages: banner, card summary, error display, model picker.

Kept free of analysis logic: everything computed comes from ``precimed``.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from pages._auth import refuse_anonymous
from pages._runtime import keep_models_between_runs
from precimed.errors import PrecimedInputError
from precimed.registry import Bundle, list_bundles

keep_models_between_runs()  # pages/_runtime.py: no 0.4 s gc.collect after every script run

NOT_FOR_CLINICAL_USE = (
    "**Not for clinical use.** PreciMed is a research and demonstration tool, not a medical "
    "device. Its predictions must not guide the diagnosis or treatment of any patient."
)


def page_setup() -> None:
    """Call first in every page: make sure the page runs inside ``app.py``'s navigation.

    Streamlit still has its legacy multipage router for a ``pages/`` folder: until some session
    has run ``app.py`` (which calls ``st.navigation``), a request for ``/genomics`` runs the page
    file alone, skipping the home page's navigation and any gate it applies (login). This flips
    the process-wide flag (a Streamlit internal, guarded) and reruns through ``app.py``.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a future Streamlit without the legacy router
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
    refuse_anonymous()  # pages/_auth.py: with login on, no page runs for an anonymous user


@st.cache_resource(show_spinner=False)
def cached_bundles() -> list[Bundle]:
    """The registry's bundles, read once per server process."""
    return list_bundles()


def pick_model(modality: str | None = None, *, key: str = "model") -> Bundle | None:
    """A select box of registered models (optionally of one modality)."""
    bundles = [b for b in cached_bundles() if modality is None or b.modality == modality]
    if not bundles:
        st.error(f"No {modality or ''} model is installed (expected bundles under assets/models/).")
        return None
    labels = {b.id: f"{b.name} — v{b.version}" + (" [user-supplied]" if b.card.get("user_supplied") else "")
              for b in bundles}
    chosen = st.selectbox("Model", list(labels), format_func=labels.get, key=key)
    return next(b for b in bundles if b.id == chosen)


def model_banner(card: dict[str, Any]) -> None:
    """The model's name and version, and the not-for-clinical-use banner.

    The banner is not the card's to remove: PreciMed is not a medical device, whatever a card
    says, so it is shown for every model (``not_for_clinical_use`` is not consulted; the schema
    refuses ``false`` for user-supplied bundles).
    """
    st.caption(f"Model: **{card['name']}** · version {card['version']} · id `{card['id']}` · "
               f"weights SHA-256 `{card['weights_sha256'][:12]}…`")
    st.warning(NOT_FOR_CLINICAL_USE, icon="⚠️")


def card_summary(card: dict[str, Any]) -> None:
    """The card in brief: intended use, data, headline metrics, limitations."""
    metrics = card["evaluation"]["metrics"]
    with st.expander("Model card summary", expanded=False):
        st.markdown(f"**Intended use.** {card['intended_use']}")
        st.markdown(f"**Out of scope.** {card['out_of_scope']}")
        td = card["training_data"]
        st.markdown(f"**Training data.** {td['source']} (n = {td['n']}). *Label:* {td['label_definition']}.")
        st.markdown(f"**Citation.** {td['citation']}")
        parts = []
        for name, m in metrics.items():
            ci = f" (95% CI {m['ci95'][0]:.3f}–{m['ci95'][1]:.3f})" if "ci95" in m else ""
            parts.append(f"{name.upper() if len(name) < 6 else name}: {m['value']:.3f}{ci}")
        st.markdown(f"**Evaluation** ({card['evaluation']['method']}): " + "; ".join(parts))
        st.markdown("**Limitations.**\n" + "\n".join(f"- {x}" for x in card["limitations"]))


def show_error(exc: Exception) -> None:
    """A user error as ``st.error``; an internal fault as a short message, never a traceback."""
    if isinstance(exc, PrecimedInputError):
        st.error(str(exc))
    else:
        st.error(f"Internal error ({type(exc).__name__}). The rest of the page still works; "
                 "please report this with the steps that led to it.")


def load_dicom_once(slot: str, key: object, data: bytes, name: str,
                    clear: tuple[str, ...] = ()) -> Any:
    """Decode an upload or sample once per ``key`` and keep it in ``st.session_state[slot]``.

    Sliders and reruns then reuse the decoded frames; a new file drops the state named in
    ``clear`` (results computed for the previous one). A bad file shows ``st.error`` (again on
    every rerun) and returns None, never a traceback.
    """
    from precimed.dicom import load_bytes

    state = st.session_state
    cached = state.get(slot)
    if cached and cached["key"] == key:
        if cached["error"]:
            st.error(cached["error"])
        return cached["result"]
    result, error = None, None
    try:
        with st.spinner(f"Reading {name}…"):
            result = load_bytes(data, name)
    except PrecimedInputError as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - never a traceback on the page
        error = f"{name}: could not be read ({type(exc).__name__}) (expected: a DICOM file or a .zip of them)"
    state[slot] = {"key": key, "result": result, "error": error}
    for k in clear:
        state.pop(k, None)
    if error:
        st.error(error)
    return result
