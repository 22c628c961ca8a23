"""AppTest of the What-if page: live edits, fixed features, extrapolation, ICE/PDP,
counterfactuals, scenarios, a 3-class compound model, and occlusion for an image model."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from page_keys import svg_chart, widget
from streamlit.testing.v1 import AppTest

from precimed.registry import get_bundle
from precimed.samples import sample_files
from precimed.tabular.io import read_table
from precimed.tabular.validate import validate_table
from precimed.whatif.analysis import evaluate_edits
from precimed.whatif.edits import row_values

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "3_what_if.py")
GENOMIC = "breast-metastasis-gse7390"


def _page(model: str = GENOMIC) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    at.selectbox(key="wi_model").set_value(model).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _chart(at: AppTest, key: str) -> dict[str, Any]:
    for chart in at.get("plotly_chart"):
        if key in chart.proto.id:
            spec: dict[str, Any] = json.loads(chart.proto.spec)
            return spec
    raise AssertionError(f"no chart {key}")


def _ice(at: AppTest) -> dict[str, dict[str, str]]:
    """The ICE chart's series (precimed.whatif.figures), by kind."""
    _, series = svg_chart(at, "ice")
    return {s["kind"]: s for s in series}


def _edits(at: AppTest) -> dict[str, Any]:
    """The session's edits (stored per model, input and row: all of them merged)."""
    return {k: v for per_row in at.session_state["wi_edits"].values() for k, v in per_row.items()}


def _metrics(at: AppTest) -> dict[str, float]:
    return {m.label: float(m.value.lstrip("<> ").rstrip("%")) / 100 for m in at.metric}


def _genomic_row(r: int) -> dict[str, Any]:
    b = get_bundle(GENOMIC)
    return row_values(validate_table(read_table(sample_files(GENOMIC)[0]), b.card), r)


def test_an_edit_moves_the_probability_and_the_waterfall() -> None:
    at = _page()
    text = "\n".join([w.value for w in at.warning] + [c.value for c in at.caption])
    assert "Not for clinical use" in text and f"version {get_bundle(GENOMIC).card['version']}" in text
    before = _metrics(at)
    assert set(before) == {"P(no metastasis)", "P(metastasis)"}
    edits = [w for w in at.number_input if w.key.startswith("edit_X")]
    assert 1 <= len(edits) <= 10, "top features only (as many as the waterfall bars), not all 80"
    top = edits[0]
    feature = top.key.removeprefix("edit_").split("__")[0]
    new = round(top.value + 1.5, 2) if top.value + 1.5 <= top.proto.max else round(top.value - 1.5, 2)
    top.set_value(new).run()
    assert not at.exception and not at.error
    after = _metrics(at)
    expected = evaluate_edits(get_bundle(GENOMIC), _genomic_row(0), {feature: new})
    assert after["P(metastasis)"] == pytest.approx(expected.after.probabilities["metastasis"],
                                                   abs=6e-4)
    assert after["P(metastasis)"] != before["P(metastasis)"]
    assert [m.delta for m in at.metric if m.label == "P(metastasis)"][0].endswith("pp")
    title, wf = svg_chart(at, "waterfall", "Edited:")
    assert sum(float(b["value"]) for b in wf[1:]) == pytest.approx(
        expected.after.probabilities["metastasis"], abs=1e-6)
    assert float(wf[0]["value"]) == pytest.approx(expected.after.probabilities["metastasis"], abs=1e-6)
    labels = [b["label"] for b in wf]
    assert any(f"{feature} = {new:.4g}" in y for y in labels) or "other features" in str(labels)
    _, original = svg_chart(at, "waterfall", "Original:")  # the unedited one, below
    assert float(original[0]["value"]) == pytest.approx(before["P(metastasis)"], abs=6e-4)
    [delta_table] = [t.value for t in at.table if "Δ SHAP" in t.value.columns]
    assert delta_table.index[0] == feature
    d_shap = expected.delta_shap("metastasis")
    assert float(delta_table.iloc[0]["Δ SHAP"]) == pytest.approx(d_shap[feature], abs=1e-4)
    at.button(key="wi_reset").click().run()
    assert _metrics(at) == before and _edits(at) == {}


def test_fixed_features_are_disabled_and_extrapolation_is_flagged() -> None:
    at = _page()
    widget(at.text_input, "wi_search").input("age").run()
    assert widget(at.number_input, "edit_age").disabled
    widget(at.text_input, "wi_search").input("oestrogen").run()
    assert widget(at.selectbox, "edit_er").disabled
    widget(at.text_input, "wi_search").input("X221916_at").run()
    gene = widget(at.number_input, "edit_X221916_at")
    spec = next(i for i in get_bundle(GENOMIC).card["inputs"] if i["name"] == "X221916_at")
    assert gene.proto.has_max and gene.proto.max == pytest.approx(max(spec["max"], gene.value))
    widget(at.toggle, "wi_extrapolate").set_value(True).run()
    widget(at.number_input, "edit_X221916_at").set_value(spec["max"] + 3).run()
    assert not at.exception and not at.error
    assert any("Extrapolation" in w.value and "X221916_at" in w.value for w in at.warning)
    widget(at.toggle, "wi_extrapolate").set_value(False).run()  # back inside the range
    assert _edits(at)["X221916_at"] == pytest.approx(spec["max"])
    assert not any("Extrapolation" in w.value for w in at.warning)


DILI = "dili-hepatic-injury-qsar"


def test_integer_features_get_whole_number_inputs() -> None:
    """Issue 16: an int feature's input took fractions ("6.5"), which the model refuses; the page
    then showed only the error, with no editor left to correct it."""
    at = _page(DILI)
    dtypes = {i["name"]: i["dtype"] for i in get_bundle(DILI).card["inputs"]}
    shown = {w.key.removeprefix("edit_").split("__")[0]: w for w in at.number_input if w.key.startswith("edit_")}
    ints = [n for n in shown if dtypes[n] == "int"]
    floats = [n for n in shown if dtypes[n] == "float"]
    assert ints and floats, "the 12 strongest features of row 0 mix both types"
    for name in ints:
        w = shown[name]
        assert (w.proto.data_type, w.proto.step, w.proto.format) == (0, 1, "%d"), name  # 0: INT
        assert isinstance(w.value, int)
    assert all(shown[n].proto.data_type == 1 for n in floats)  # 1: FLOAT
    name = ints[0]
    shown[name].set_value(shown[name].value + 1).run()
    assert not at.exception and not at.error
    assert all(m.delta.endswith("pp") for m in at.metric)


def test_a_rejected_edit_keeps_the_editor() -> None:
    at = _page(DILI)
    spec = next(i for i in get_bundle(DILI).card["inputs"] if i["dtype"] == "int" and i["max"] - i["min"] >= 2)
    [token] = [t for t in at.session_state["wi_edits"] if t.startswith(f"{DILI}|")]
    # a fraction inside the range, as the float input once let through to the model
    at.session_state["wi_edits"] = {token: {spec["name"]: spec["min"] + 0.5}}
    at.run()
    assert not at.exception
    assert any("is not a whole number" in e.value for e in at.error)
    assert [w for w in at.number_input if w.key.startswith("edit_")], "the editor is gone"
    assert len(at.metric) == 3 and not any(m.delta for m in at.metric)  # back on the row's own values
    assert _edits(at) == {}


def test_ice_curve_marks_the_current_prediction() -> None:
    at = _page()
    widget(at.selectbox, "wi_ice_feature").set_value("X221916_at").run()
    series = _ice(at)
    assert series["pdp"]["label"] == "PDP: average over 100 rows"
    assert float(series["current"]["value"]) == pytest.approx(_metrics(at)["P(metastasis)"], abs=6e-4)
    # the marker sits on this row's curve, at the row's own value
    xs = [x for x, _ in json.loads(series["ice"]["points"])]
    current = float(series["current"]["label"].split("(")[1].rstrip(")"))
    assert min(xs) <= current <= max(xs) and len(xs) >= 41


def test_counterfactuals_load_and_scenarios_compare() -> None:
    at = _page()
    widget(at.selectbox, "wi_row").set_value(2).run()
    at.button(key="wi_cf_run").click().run()
    assert not at.exception and not at.error
    assert any("greedy sparse counterfactual search" in c.value for c in at.caption)
    [cf] = [d.value for d in at.dataframe if "distance (SD units)" in d.value.columns]
    assert len(cf) == 3 and set(cf["prediction"]) == {"no metastasis"}
    at.button(key="wi_cf_apply").click().run()
    assert "→ **no metastasis**" in "\n".join(m.value for m in at.markdown)
    assert _metrics(at)["P(metastasis)"] == pytest.approx(cf.loc[0, "P(metastasis)"], abs=6e-4)
    at.text_input(key="wi_scn_name").input("counterfactual 1").run()
    at.button(key="wi_scn_save").click().run()
    at.button(key="wi_reset").click().run()
    at.text_input(key="wi_scn_name").input("counterfactual 1").run()
    at.button(key="wi_scn_save").click().run()
    assert any("already exists" in e.value for e in at.error)
    [table] = [d.value for d in at.dataframe if "scenario" in d.value.columns]
    assert list(table["scenario"]) == ["original", "counterfactual 1"]
    assert list(table["prediction"]) == ["metastasis", "no metastasis"]


def _tiny_models(tmp: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("whatif_tiny_bundle",
                                                  ROOT / "tests" / "whatif" / "tiny_bundle.py")
    assert spec and spec.loader
    tb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tb)
    tb.build(tmp)
    tb.build_blob_cnn(tmp)
    return tb


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModuleType]:
    root = tmp_path_factory.mktemp("page_models")
    return root, _tiny_models(root)


def test_multiclass_compound_model(tiny: tuple[Path, ModuleType],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root, tb = tiny
    monkeypatch.setenv("PRECIMED_MODELS_DIR", os.pathsep.join([str(root), str(ROOT / "assets" / "models")]))
    at = _page(tb.MODEL_ID)
    at.radio(key="wi_source").set_value("Upload").run()
    data = (root / "tiny.csv").read_bytes()
    at.file_uploader(key="wi_upload").set_value(("tiny.csv", data, "text/csv")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert widget(at.selectbox, "wi_row").label == "Compound (row)"
    probs = _metrics(at)
    assert list(probs) == ["P(low)", "P(medium)", "P(high)"]
    assert sum(probs.values()) == pytest.approx(1.0, abs=2e-3)
    predicted = max(probs, key=lambda k: probs[k])[2:-1]
    assert predicted not in widget(at.selectbox, "wi_cf_target").options
    widget(at.selectbox, "edit_route").set_value("iv").run()
    assert not at.exception and not at.error
    assert all(m.delta.endswith("pp") for m in at.metric)
    widget(at.radio, "wi_pdp_source").set_value("the uploaded table").run()
    assert _ice(at)["pdp"]["label"] == "PDP: average over 8 rows"


def test_image_model_occlusion(tiny: tuple[Path, ModuleType], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    root, tb = tiny
    monkeypatch.setenv("PRECIMED_MODELS_DIR", os.pathsep.join([str(root), str(ROOT / "assets" / "models")]))
    at = _page(tb.CNN_ID)
    at.radio(key="wi_img_source").set_value("Upload").run()
    dcm = tb.blob_dicom(tmp_path / "blob.dcm", tb.blob_image(centre=(40.0, 20.0)))
    at.file_uploader(key="wi_img_upload").set_value(("blob.dcm", dcm.read_bytes(),
                                                     "application/dicom")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    # 4 x 4 grid: the lesion (row 40, column 20 of 64) is in cell (2, 1).
    at.selectbox(key="wi_occ_row").set_value(2).run()
    at.selectbox(key="wi_occ_col").set_value(1).run()
    lesion = next(m for m in at.metric if m.label.startswith("P(lesion)"))
    assert lesion.delta.startswith("-") and float(lesion.value.lstrip("<> ").rstrip("%")) < 50
    at.selectbox(key="wi_occ_row").set_value(0).run()
    lesion = next(m for m in at.metric if m.label.startswith("P(lesion)"))
    assert float(lesion.value.lstrip("<> ").rstrip("%")) > 50
    occ = _chart(at, "wi_occ_map")
    shap = _chart(at, "wi_occ_shap")
    assert [t["type"] for t in occ["data"]] == ["image", "heatmap"]
    assert [t["type"] for t in shap["data"]] == ["image", "heatmap"]
    assert occ["data"][1]["z"]["shape"].replace(" ", "") == "32,32"  # the model grid
    assert any("occlusion sensitivity" in c.value for c in at.caption)
