"""The image part of the what-if page: occlude a grid cell or a box and re-predict; the
occlusion-sensitivity map beside the SHAP heatmap. A thin view over ``precimed.whatif.occlusion``
and ``precimed.imaging``; uploads stay in this session's memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from pages._ui import load_dicom_once, show_error
from precimed.dicom import LoadResult, render
from precimed.format import delta_pp, is_zero_change, percent
from precimed.imaging.figures import heatmap_scale
from precimed.plots import TOWARD
from precimed.samples import sample_files
from precimed.whatif.occlusion import FILLS, Box, grid_box

state = st.session_state


def _load(key: str, data: bytes, name: str) -> LoadResult | None:
    result: LoadResult | None = load_dicom_once("wi_img_loaded", key, data, name, clear=("wi_img_maps",))
    return result


def _box_figure(rendered: np.ndarray, box: Box, values: np.ndarray | None = None,
                title: str | None = None, colour_title: str = "", scale: float | None = None) -> Any:
    from precimed.imaging.figures import image_figure

    fig = image_figure(rendered, values=values, title=title, scale=scale)
    if values is not None:
        fig.update_traces(selector={"type": "heatmap"}, name=colour_title,
                          colorbar={"title": {"text": colour_title}},
                          hovertemplate="row %{y:.0f}, column %{x:.0f}<br>%{z:.3f}<extra></extra>")
    fig.add_shape(type="rect", x0=box.left - 0.5, x1=box.right + 0.5, y0=box.top - 0.5,
                  y1=box.bottom + 0.5, line={"color": TOWARD, "width": 3, "dash": "dash"})
    return fig


def image_whatif(bundle: Any) -> None:
    """Render the image what-if section for an image ``bundle``."""
    from precimed.imaging import frame_image

    card = bundle.card
    classes = list(card["classes"])
    source = st.radio("Image", ["Sample file", "Upload"], horizontal=True, key="wi_img_source")
    result = None
    if source == "Upload":
        upload = st.file_uploader("DICOM file (.dcm) or a .zip of a series", key="wi_img_upload")
        if upload is not None:
            result = _load(f"upload:{upload.file_id}", upload.getvalue(), upload.name)
    else:
        samples = sample_files(bundle.id)
        if not samples:
            st.info("No sample ships for this model; upload a DICOM file.")
        else:
            chosen = st.selectbox("Sample", samples, format_func=lambda p: p.name,
                                  key=f"wi_img_sample__{bundle.id}")
            result = _load(f"sample:{chosen}", Path(chosen).read_bytes(), Path(chosen).name)
    if result is None:
        return
    frames = result.frames
    index = 0
    if len(frames) > 1:
        index = st.slider(f"Image / slice (of {len(frames)})", 0, len(frames) - 1, 0,
                          key="wi_img_frame")
    frame = frames[index]
    from precimed.imaging.check import assess_frame, scope_message

    scope = assess_frame(card, frame)
    allow = bool(scope.reasons) and st.toggle("Score out-of-scope images anyway", value=False,
                                              key="wi_img_allow_oos")
    if scope.reasons:
        st.error(scope_message(scope, scored=allow), icon="⛔")
        if not allow:
            return
    image = frame_image(frame)
    rendered = render(frame)
    h, w = frame.shape
    default_class = card.get("positive_class") or classes[-1]
    class_name = st.selectbox("Probability of", classes, index=classes.index(default_class),
                              key=f"wi_img_class__{bundle.id}")

    st.subheader("Occlude a region")
    c1, c2, c3 = st.columns(3)
    mode = c1.radio("Region", ["Grid cell", "Box"], key="wi_occ_mode", horizontal=True)
    fill = c2.selectbox("Replace it with", list(FILLS), key="wi_occ_fill",
                        help="blur: the image blurred (local brightness kept, detail removed); "
                             "mean: the image's mean; zero: black.")
    try:
        if mode == "Grid cell":
            g = c3.selectbox("Grid", [2, 3, 4, 6, 8], index=2, key="wi_occ_grid",
                             format_func=lambda n: f"{n} × {n}")
            r1, r2 = st.columns(2)
            cell_row = r1.selectbox("Cell row (from the top)", list(range(g)), key="wi_occ_row")
            cell_col = r2.selectbox("Cell column (from the left)", list(range(g)), key="wi_occ_col")
            box = grid_box((h, w), grid=g, row=min(cell_row, g - 1), col=min(cell_col, g - 1))
        else:
            r1, r2 = st.columns(2)
            rows = r1.slider("Rows", 0, h - 1, (h // 4, h // 2), key="wi_occ_rows")
            cols = r2.slider("Columns", 0, w - 1, (w // 4, w // 2), key="wi_occ_cols")
            box = Box(rows[0], cols[0], rows[1], cols[1])
        from precimed.whatif.occlusion import occlude_image

        occ = occlude_image(bundle, image, box, fill=fill, class_name=class_name)
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        return
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(_box_figure(rendered, box, title="Occluded region (dashed)"),
                        key="wi_occ_image", config={"displaylogo": False})
    with right:
        for c in classes:
            zero = is_zero_change(occ.delta[c])
            st.metric(f"P({c}) with the region hidden", percent(occ.after[c]),
                      delta=delta_pp(occ.delta[c]), delta_color="off" if zero else "normal",
                      delta_arrow="off" if zero else "auto", help=f"original {percent(occ.before[c])}")
        st.caption(f"Region rows {box.top}–{box.bottom}, columns {box.left}–{box.right} of the "
                   f"{h}×{w} image (model pixels {occ.model_box.top}–{occ.model_box.bottom}, "
                   f"{occ.model_box.left}–{occ.model_box.right}), filled with '{fill}'.")

    st.subheader("Occlusion map beside the SHAP heatmap")
    p1, _ = st.columns([1, 3])
    patch = p1.selectbox("Patch (model pixels)", [0, 4, 8, 16], key="wi_occ_patch",
                         format_func=lambda p: "automatic (1/8 of the input)" if p == 0 else str(p))
    map_key = (bundle.id, state["wi_img_loaded"]["key"], index, class_name, fill, patch)
    maps = state.get("wi_img_maps")
    if not maps or maps["key"] != map_key:
        try:
            from precimed.imaging import explain_image
            from precimed.whatif.occlusion import occlusion_map

            with st.spinner("Computing the occlusion map and the SHAP heatmap…"):
                omap = occlusion_map(bundle, image, patch=patch or None, fill=fill,
                                     class_name=class_name)
                expl = explain_image(bundle, image, class_name=class_name)
            maps = {"key": map_key, "omap": omap, "expl": expl}
            state["wi_img_maps"] = maps
        except Exception as exc:  # noqa: BLE001
            show_error(exc)
            return
    omap, expl = maps["omap"], maps["expl"]
    m1, m2 = st.columns(2)
    with m1:
        st.plotly_chart(_box_figure(rendered, box, omap.values,
                                    title=f"Occlusion: drop in P({class_name})",
                                    colour_title=f"drop in<br>P({class_name})"),
                        key="wi_occ_map", config={"displaylogo": False})
        st.caption(f"{omap.method}: patch {omap.patch}, stride {omap.stride} model pixels, "
                   f"{omap.positions} positions in {omap.seconds:.2f} s. Red: hiding it lowers "
                   f"P({class_name}); blue: hiding it raises it.")
    with m2:
        st.plotly_chart(_box_figure(rendered, box, expl.values,
                                    title=f"SHAP toward {class_name}",
                                    colour_title=f"SHAP<br>toward<br>{class_name}",
                                    scale=heatmap_scale(card)),
                        key="wi_occ_shap", config={"displaylogo": False})
        st.caption(f"{expl.method}; base {expl.base_value:.3f} + Σ SHAP ≈ "
                   f"P({class_name}) = {expl.output:.3f}.")
