"""Imaging: DICOM upload or sample, viewer with windowing, CNN prediction, SHAP heatmap overlay.

A thin view: decoding, windowing, de-identification, prediction and explanation are in
``precimed.dicom`` and ``precimed.imaging``. Uploaded files stay in this session's memory
(``st.session_state``, never a cache shared across users) and are not written to disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from pages._deid_export import deidentified_download
from pages._ui import card_summary, load_dicom_once, model_banner, page_setup, pick_model, show_error
from precimed.dicom import LoadResult, file_windows, render, window_choices
from precimed.dicom.deid import metadata_rows
from precimed.dicom.window import Window, to_png
from precimed.imaging.check import assess_frame, scope_message
from precimed.imaging.figures import heatmap_scale, image_figure
from precimed.plots import probability_figure
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
        chosen = st.selectbox("Sample", samples, format_func=lambda p: p.name, key="imaging_sample")
        result = _load(("sample", str(chosen)), Path(chosen).read_bytes(), Path(chosen).name)

if result is None:
    st.stop()
if result.errors:
    with st.expander(f"{len(result.errors)} file(s) could not be used", expanded=True):
        for err in result.errors:
            st.error(f"{err.source}: {err.reason}")

frames = result.frames
index = 0
if len(frames) > 1:
    index = st.slider(f"Image / slice (of {len(frames)}, in slice order)", 0, len(frames) - 1, 0,
                      key="imaging_frame")
frame = frames[index]
st.caption(f"**{frame.label}** · {frame.modality} · {frame.photometric} · "
           f"{frame.shape[0]}×{frame.shape[1]} px"
           + (f" · pixel spacing {frame.pixel_spacing_mm[0]:.3g}×{frame.pixel_spacing_mm[1]:.3g} mm"
              if frame.pixel_spacing_mm else ""))

# --- Viewer: window presets, centre/width, zoom -------------------------------------------
choices: dict[str, Window | None] = window_choices(frame) if not frame.is_color else {}
window: Window | None = None
use_voi_lut = False
view_col, side_col = st.columns([3, 1])
with side_col:
    if choices:
        names = list(choices) + ["custom"]
        own = file_windows(frame)
        default = (own[0].label if own else "file VOI LUT" if "file VOI LUT" in choices
                   else "CT soft tissue" if frame.modality == "CT" else "automatic")
        pix = frame.pixels
        lo, hi = float(pix.min()), float(pix.max())
        span = max(hi - lo, 1.0)
        c_min, c_max, w_max = lo - span, hi + span, 4 * span
        step = 1.0 if span > 50 else span / 100

        def _apply_preset() -> None:
            w = choices.get(state["imaging_preset"])
            if w is not None:
                state["imaging_wc"] = float(w.center)
                state["imaging_ww"] = float(w.width)

        def _to_custom() -> None:
            state["imaging_preset"] = "custom"

        if state.get("imaging_window_for") != frame.source or state.get("imaging_preset") not in names:
            state["imaging_preset"] = default
            state["imaging_window_for"] = frame.source
            _apply_preset()
        state["imaging_wc"] = float(min(max(state.get("imaging_wc", (lo + hi) / 2), c_min), c_max))
        state["imaging_ww"] = float(min(max(state.get("imaging_ww", span), step), w_max))
        preset = st.selectbox("Window preset", names, key="imaging_preset", on_change=_apply_preset,
                              help="CT: lung, mediastinum, bone, brain, soft tissue presets. "
                                   "Otherwise the file's own window(s), or an automatic one.")
        use_voi_lut = preset == "file VOI LUT"
        center = st.slider("Window centre", c_min, c_max, step=step, key="imaging_wc",
                           on_change=_to_custom, disabled=use_voi_lut)
        width = st.slider("Window width", step, w_max, step=step, key="imaging_ww",
                          on_change=_to_custom, disabled=use_voi_lut)
        window = Window(center, width, label=preset)
    else:
        st.caption("Colour image: shown as stored (no window).")
    zoom = st.slider("Zoom", 1.0, 8.0, 1.0, 0.5, key="imaging_zoom")
    opacity = st.slider("Heatmap opacity", 0.0, 1.0, 0.55, 0.05, key="imaging_opacity")

try:
    rendered = render(frame, window, voi_lut=use_voi_lut)
except Exception as exc:  # noqa: BLE001 - a bad LUT must not break the page
    show_error(exc)
    st.stop()

# --- Model: prediction and explanation (out-of-scope images only with the override) --------
expl = None
probabilities: dict[str, float] | None = None
regions: list[Any] = []
scope = assess_frame(bundle.card, frame) if bundle is not None else None
allow = False
if bundle is not None and scope is not None:
    card = bundle.card
    with side_col:
        allow = st.toggle("Score out-of-scope images anyway", value=False, key="imaging_allow_oos",
                          help="Images outside the card's modalities, photometric "
                               "interpretations or input checks get no prediction by default.")
    try:
        from precimed.imaging import explain_image, frame_image
        from precimed.imaging.regions import strongest_regions
        from precimed.imaging.service import score_frames

        class_options = list(card["classes"])
        default_class = card.get("positive_class") or class_options[-1]
        with side_col:
            explain_class = st.selectbox("Explain the probability of", class_options,
                                         index=class_options.index(default_class),
                                         key="imaging_explain_class")
        pkey = (bundle.id, state["imaging_loaded"]["key"], allow)
        predicted = state.get("imaging_predicted")
        if not predicted or predicted["key"] != pkey:
            with st.spinner("Loading the model and predicting…"):
                predicted = {"key": pkey, "rows": score_frames(bundle, frames,
                                                               allow_out_of_scope=allow)}
            state["imaging_predicted"] = predicted
        probabilities = predicted["rows"][index].get("probabilities")
        ekey = (pkey, index, explain_class)
        explained = state.get("imaging_explained")
        if probabilities is not None and (not explained or explained["key"] != ekey):
            with st.spinner("Computing the SHAP heatmap…"):
                e = explain_image(bundle, frame_image(frame), class_name=explain_class)
            explained = {"key": ekey, "expl": e, "regions": strongest_regions(e.values, frame.shape)}
            state["imaging_explained"] = explained
        if probabilities is not None and explained:
            expl, regions = explained["expl"], explained["regions"]
    except Exception as exc:  # noqa: BLE001 - shown without a traceback; the viewer still works
        show_error(exc)

with view_col:
    if scope is not None and scope.reasons:  # top of the result area, red either way
        st.error(scope_message(scope, scored=probabilities is not None), icon="⛔")
    fig = image_figure(rendered, values=None if expl is None else expl.values, opacity=opacity,
                       regions=regions, zoom=zoom, class_name=expl.class_name if expl else "",
                       scale=heatmap_scale(bundle.card) if bundle else None)
    st.plotly_chart(fig, key="imaging_overlay" if expl is not None else "imaging_view",
                    config={"displaylogo": False})
    stem = Path(frame.source).stem or "image"
    st.download_button("Download the displayed image (PNG)", to_png(rendered),
                       file_name=f"{stem}_{index}.png", mime="image/png", key="imaging_png")

if bundle is not None and scope is not None:
    model_banner(bundle.card)
    for w in scope.cautions:
        st.warning(f"Input check: {w}", icon="⚠️")
if probabilities is not None and bundle is not None:
    card = bundle.card
    pos = card.get("positive_class")
    left, right = st.columns([1, 2])
    with left:
        st.subheader("Prediction")
        from precimed.predict import decide

        shown = pos or max(probabilities, key=lambda c: probabilities[c])
        threshold = card.get("threshold")
        vec = np.array([[probabilities[c] for c in card["classes"]]])
        decision = card["classes"][int(decide(vec, card)[0])]
        st.metric(f"P({shown})", f"{probabilities[shown]:.1%}",
                  help=f"decision threshold {threshold}" if threshold else None)
        st.markdown(f"Prediction: **{decision}**"
                    + (f" (threshold {threshold:g} on P({pos}))" if pos and threshold else
                       " (most probable class)"))
        st.plotly_chart(probability_figure(probabilities, threshold=threshold, positive_class=pos),
                        key="imaging_probabilities")
        card_summary(card)
    with right:
        if expl is not None:
            st.subheader("Where the model looked (SHAP)")
            st.caption(f"{expl.method}, background: {card['explanation']['background']}. "
                       f"Red pushes toward '{expl.class_name}', blue away. Base value "
                       f"{expl.base_value:.3f} + Σ SHAP {expl.values.sum():+.3f} ≈ output "
                       f"{expl.output:.3f} (Monte Carlo gap {expl.additivity_error:.3f}).")
            if regions:
                st.markdown("**Strongest regions** (outlined on the image):\n"
                            + "\n".join(f"{r.rank}. {r.describe()[len(f'region {r.rank}: '):]}"
                                        for r in regions))
            else:
                st.info("No region pushes toward this class.")
    if len(frames) > 1:
        table = pd.DataFrame([{"index": r["index"], "image": r["source"],
                               **{f"P({c})": r.get("probabilities", {}).get(c) for c in card["classes"]},
                               "refused": r.get("error", "")}
                              for r in state["imaging_predicted"]["rows"]])
        with st.expander(f"Predictions for all {len(frames)} images"):
            st.dataframe(table, hide_index=True, key="imaging_predictions")
    from pages._pacs import results_panel  # DICOM results to download, or send to the PACS

    results_panel(bundle, frame, probabilities, expl, rendered, from_pacs=source == "PACS")

# --- Metadata and exports ------------------------------------------------------------------
with st.expander("DICOM metadata", expanded=False):
    reveal = st.toggle("Reveal identifying attributes (PS3.15 basic profile)", value=False,
                       key="imaging_reveal")
    if frame.header is not None:
        rows = metadata_rows(frame.header, reveal=reveal)
        st.dataframe(pd.DataFrame([r.__dict__ for r in rows]), hide_index=True,
                     key="imaging_metadata")
raw = result.files.get(frame.source)
if raw is not None:
    deidentified_download(frame.source, raw)  # pages/_deid_export.py
