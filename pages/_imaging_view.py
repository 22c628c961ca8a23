"""The Imaging page below the file choice: frame, prediction and explanation (a fragment), and
inside it the viewer (window preset, centre/width, zoom, opacity: a fragment of its own), so a
slider or preset reruns only the image, never the model.

A thin view over ``precimed.dicom`` and ``precimed.imaging``; uploads stay in this session's
memory (``st.session_state``), never in a cache shared across users.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from pages._ui import card_summary, class_metrics, memo, model_banner, scoped, show_error, svg_chart
from precimed.charts import probability_svg
from precimed.dicom import LoadResult, file_windows, render, window_choices
from precimed.dicom.deid import metadata_rows
from precimed.dicom.window import Window, to_png
from precimed.imaging.check import assess_frame, scope_message
from precimed.imaging.figures import heatmap_scale, image_figure
from precimed.registry import Bundle

state = st.session_state


def _window_controls(frame: Any) -> tuple[Window | None, bool]:
    """Preset, centre and width; defaults re-derived for each new image."""
    choices: dict[str, Window | None] = window_choices(frame) if not frame.is_color else {}
    if not choices:
        st.caption("Colour image: shown as stored (no window).")
        return None, False
    names = list(choices) + ["custom"]
    own = file_windows(frame)
    default = (own[0].label if own else "file VOI LUT" if "file VOI LUT" in choices
               else "CT soft tissue" if frame.modality == "CT" else "automatic")
    lo, hi = float(frame.pixels.min()), float(frame.pixels.max())
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
    return Window(center, width, label=preset), use_voi_lut


@st.fragment
def viewer(frame: Any, index: int, expl: Any, regions: list[Any], scale: Any = None) -> None:
    """The image with its heatmap and outlined regions, and the controls that redraw it."""
    view_col, side_col = st.columns([3, 1])
    with side_col:
        window, use_voi_lut = _window_controls(frame)
        zoom = st.slider("Zoom", 1.0, 8.0, 1.0, 0.5, key="imaging_zoom")
        opacity = st.slider("Heatmap opacity", 0.0, 1.0, 0.55, 0.05, key="imaging_opacity")
    try:
        rendered = render(frame, window, voi_lut=use_voi_lut)
    except Exception as exc:  # noqa: BLE001 - a bad LUT must not break the page
        show_error(exc)
        return
    with view_col:
        fig = image_figure(rendered, values=None if expl is None else expl.values, opacity=opacity,
                           regions=regions, zoom=zoom, class_name=expl.class_name if expl else "",
                           scale=scale)
        st.plotly_chart(fig, key="imaging_overlay" if expl is not None else "imaging_view",
                        config={"displaylogo": False})
        state["imaging_rendered"] = rendered  # what the DICOM results panel exports
        stem = Path(frame.source).stem or "image"
        st.download_button("Download the displayed image (PNG)", to_png(rendered),
                           file_name=f"{stem}_{index}.png", mime="image/png", key="imaging_png")


def _predict_and_explain(bundle: Bundle, frames: list[Any], index: int, explain_class: str,
                         allow: bool) -> tuple[Any, ...]:
    """(probabilities, every frame's row, explanation, regions) of one frame; each once per
    file, frame and class. Out-of-scope frames get no prediction unless ``allow``."""
    from precimed.imaging import explain_image, frame_image
    from precimed.imaging.regions import calls_out_regions, strongest_regions
    from precimed.imaging.service import score_frames

    card = bundle.card
    file_key = state["imaging_loaded"]["key"]
    with st.spinner("Loading the model and predicting…"):
        rows = memo("imaging_predicted", (bundle.id, file_key, allow),
                    lambda: score_frames(bundle, frames, allow_out_of_scope=allow))
    probabilities = rows[index].get("probabilities")
    if probabilities is None:
        return None, rows, None, []
    with st.spinner("Computing the SHAP heatmap…"):
        expl = memo("imaging_explained", (bundle.id, file_key, index, explain_class),
                    lambda: explain_image(bundle, frame_image(frames[index]), class_name=explain_class))
    # Regions are a call-out: only when the model decided for this (positive) class.
    regions = (strongest_regions(expl.values, frames[index].shape)
               if calls_out_regions(card, probabilities, explain_class) else [])
    return probabilities, rows, expl, regions


@st.fragment
def imaging_view(bundle: Bundle | None, result: LoadResult, *, from_pacs: bool = False) -> None:
    """Frame, prediction and explanation; the viewer inside is its own fragment."""
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
    expl, probabilities, rows, regions = None, None, None, []
    scope = assess_frame(bundle.card, frame) if bundle is not None else None
    if bundle is not None and scope is not None:
        card = bundle.card
        allow = st.toggle("Score out-of-scope images anyway", value=False, key="imaging_allow_oos",
                          help="Images outside the card's modalities, photometric "
                               "interpretations or input checks get no prediction by default.")
        classes = list(card["classes"])
        default_class = card.get("positive_class") or classes[-1]
        explain_class = st.selectbox("Explain the probability of", classes,
                                     index=classes.index(default_class),
                                     key=scoped("imaging_explain_class", bundle.id))
        try:
            probabilities, rows, expl, regions = _predict_and_explain(bundle, frames, index,
                                                                      explain_class, allow)
        except Exception as exc:  # noqa: BLE001 - shown without a traceback; the viewer still works
            show_error(exc)
    if scope is not None and scope.reasons:  # top of the result area, red either way
        st.error(scope_message(scope, scored=probabilities is not None), icon="⛔")
    viewer(frame, index, expl, regions, heatmap_scale(bundle.card) if bundle else None)
    if bundle is not None and scope is not None:
        model_banner(bundle.card)
        for w in scope.cautions:
            st.warning(f"Input check: {w}", icon="⚠️")
    if probabilities is not None and bundle is not None:
        _prediction_panel(bundle, frame, frames, probabilities, rows, expl, regions)
        from pages._pacs import results_panel  # DICOM results to download, or send to the PACS

        results_panel(bundle, frame, probabilities, expl, state.get("imaging_rendered"), from_pacs=from_pacs)
    _metadata_and_export(result, frame)


def _prediction_panel(bundle: Bundle, frame: Any, frames: list[Any], probabilities: dict[str, float],
                      rows: list[dict[str, Any]], expl: Any, regions: list[Any]) -> None:
    from precimed.predict import decide

    card = bundle.card
    pos = card.get("positive_class")
    threshold = card.get("threshold")
    decision = card["classes"][int(decide(np.array([[probabilities[c] for c in card["classes"]]]), card)[0])]
    st.subheader("Prediction")
    shown = pos or max(probabilities, key=lambda c: probabilities[c])
    class_metrics(probabilities, [shown], key="imaging_probs",
                  help=f"decision threshold {threshold}" if threshold else None)
    left, right = st.columns([1, 2])
    with left:
        st.markdown(f"Prediction: **{decision}**"
                    + (f" (threshold {threshold:g} on P({pos}))" if pos and threshold else
                       " (most probable class)"))
        svg_chart(probability_svg(probabilities, threshold=threshold, positive_class=pos),
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
                spacing = frame.pixel_spacing_mm
                st.markdown("**Strongest regions** (outlined on the image"
                            + ("" if spacing else "; pixel spacing unknown, so in pixels") + "):\n"
                            + "\n".join(f"{r.rank}. {r.describe(spacing)[len(f'region {r.rank}: '):]}"
                                        for r in regions))
            else:
                st.info(f"No region is outlined: the model did not decide for '{expl.class_name}' "
                        "on this image, so there is no finding to point at.")
    if len(frames) > 1:
        table = pd.DataFrame([{"index": r["index"], "image": r["source"],
                               **{f"P({c})": r.get("probabilities", {}).get(c) for c in card["classes"]},
                               "refused": r.get("error", "")}
                              for r in rows])
        with st.expander(f"Predictions for all {len(frames)} images"):
            st.dataframe(table, hide_index=True, key="imaging_predictions")


def _metadata_and_export(result: LoadResult, frame: Any) -> None:
    with st.expander("DICOM metadata", expanded=False):
        reveal = st.toggle("Reveal identifying attributes (PS3.15 basic profile)", value=False,
                           key="imaging_reveal")
        if frame.header is not None:
            rows = metadata_rows(frame.header, reveal=reveal)
            st.dataframe(pd.DataFrame([r.__dict__ for r in rows]), hide_index=True,
                         key="imaging_metadata")
    raw = result.files.get(frame.source)
    if raw is None:
        return
    from pages._deid_export import deidentified_download

    deidentified_download(frame.source, raw)  # pages/_deid_export.py
