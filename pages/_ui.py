"""Streamlit pieces shared by the pages: banner, card summary, error display, model picker.

Kept free of analysis logic: everything computed comes from ``precimed``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from pages._auth import refuse_anonymous
from pages._runtime import keep_models_between_runs
from precimed.errors import PrecimedInputError
from precimed.registry import Bundle, list_bundles

T = TypeVar("T")
MEMO_ENTRIES = 4  # per slot and session: the current input and a few recent ones

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
        from precimed.report.evidence_text import evidence_lines

        for heading, line in evidence_lines(card):  # calibration, baselines, subgroups, survival
            st.markdown(f"**{heading}.** {line}")
        st.markdown("**Limitations.**\n" + "\n".join(f"- {x}" for x in card["limitations"]))


def svg_chart(markup: str, key: str) -> None:
    """Show a chart drawn as inline SVG (:mod:`precimed.charts`) in a keyed container.

    The markup is built from escaped text only (``html.escape`` on every label), so letting
    Markdown pass it through as HTML cannot inject script: no attribute or text comes raw
    from an upload."""
    with st.container(key=key):
        st.markdown(markup, unsafe_allow_html=True)


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


def scoped(name: str, model_id: str, *scope: object) -> str:
    """A widget key bound to the model (and the input) it was made for.

    ``scoped("row", "wdbc", input_key)`` → ``"row__wdbc__3f2a91c0"``. A widget whose options or
    default depend on the model or the input must carry them in its key: Streamlit keeps a
    widget's value (and the browser its labels) by key, so an unscoped key shows the previous
    model's patient, or a filter of classes this model does not have. Under a new key the widget
    starts from its default, re-derived for this model.
    """
    key = f"{name}__{model_id}"
    if scope:
        key += "__" + hashlib.sha256("|".join(map(str, scope)).encode()).hexdigest()[:8]
    return key


def fingerprint(data: bytes) -> str:
    """A short, content-based id of an upload (for keys and caches; never logged)."""
    return hashlib.sha256(data).hexdigest()[:16]


def memo(slot: str, key: object, compute: Callable[[], T]) -> T:
    """``compute()`` once per ``key`` in this session (the last few keys are kept).

    Per session, not ``st.cache_data``: uploaded patient data must not sit in a cache shared
    across users. Keys are (model id, input fingerprint, ...) so a new model or file recomputes.
    """
    store: dict[object, Any] = st.session_state.setdefault(f"_memo_{slot}", {})
    if key in store:
        value: T = store.pop(key)
        store[key] = value  # most recent last
        return value
    value = compute()
    store[key] = value
    while len(store) > MEMO_ENTRIES:
        store.pop(next(iter(store)))
    return value


def table_input(bundle: Bundle, *, prefix: str, subject: str) -> tuple[Any, str] | None:
    """The Sample file / Upload choice for a tabular model: (raw DataFrame, input key) or None.

    The upload widget is not scoped to the model: a file the user chose stays when they switch
    models. The sample select is (each model ships its own samples). Read once per input.
    """
    from precimed.samples import sample_files
    from precimed.tabular.io import read_table

    source = st.radio("Data", ["Sample file", "Upload"], horizontal=True, key=f"{prefix}source")
    try:
        if source == "Upload":
            upload = st.file_uploader(f"CSV, TSV or Parquet, one row per {subject}",
                                      type=["csv", "tsv", "txt", "parquet"], key=f"{prefix}upload")
            if upload is None:
                return None
            data = upload.getvalue()
            input_key = f"upload:{fingerprint(data)}"
            return memo(f"{prefix}raw", input_key, lambda: read_table(data, upload.name)), input_key
        samples = sample_files(bundle.id)
        if not samples:
            st.info("No sample file ships for this model; upload one.")
            return None
        chosen = st.selectbox("Sample file", samples, format_func=lambda p: p.name,
                              key=scoped(f"{prefix}sample", bundle.id))
        input_key = f"sample:{chosen.name}"
        return memo(f"{prefix}raw", input_key, lambda: read_table(chosen)), input_key
    except PrecimedInputError as exc:
        show_error(exc)
        return None


LABEL_COLUMNS = ("sample", "id", "patient", "patient_id", "compound", "name")


def row_labeller(raw: Any) -> Callable[[int], str]:
    """``row 3 · GSM1234`` when the table has an identifier column, else ``row 3``."""
    label_col = next((c for c in raw.columns if str(c).strip().lower() in LABEL_COLUMNS), None)

    def label(r: int) -> str:
        return f"row {r}" + (f" · {raw.iloc[r][label_col]}" if label_col else "")

    return label


def class_metrics(probabilities: dict[str, float], names: list[str], *, key: str,
                  before: dict[str, float] | None = None, help: str | None = None,
                  suffix: str = "") -> None:
    """One metric per class, side by side in a row of their own (full width, so a multiclass
    probability is never cut to "73.…"), formatted by :mod:`precimed.format`.

    With ``before``, each shows its change in percentage points; a change that rounds to zero
    is shown unsigned, grey and without an arrow.
    """
    from precimed.format import delta_pp, is_zero_change, percent

    columns = st.columns(max(len(names), 2) if len(names) < 4 else len(names))
    for column, name in zip(columns, names, strict=False):
        delta, arrow, colour = None, "auto", "off"
        if before is not None:
            d = probabilities[name] - before[name]
            delta = delta_pp(d)
            if is_zero_change(d):
                arrow = "off"
        with column.container(key=f"{key}_{names.index(name)}"):
            st.metric(f"P({name}){suffix}", percent(probabilities[name]), delta=delta,
                      delta_color=colour, delta_arrow=arrow,  # type: ignore[arg-type]
                      help=help if before is None else f"original {percent(before[name])}")
