"""AppTest of the Model cards page: every card in full, calibration plots, user-supplied
marking, refused bundles, and no TensorFlow import."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from precimed.registry import list_bundles

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "5_model_cards.py")


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [h.value for h in at.header] + [
        s.value for s in at.subheader] + [w.value for w in at.warning] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def test_every_card_in_full() -> None:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    text = _text(at)
    bundles = list_bundles()
    assert bundles
    metric_tables = [d.value for d in at.dataframe if "metric" in d.value.columns]
    count_tables = [d.value for d in at.dataframe if "share" in d.value.columns]
    assert len(metric_tables) == len(bundles)  # page order = registry order
    for b, metrics in zip(bundles, metric_tables, strict=True):
        card = b.card
        assert card["name"] in text and card["intended_use"] in text and card["out_of_scope"] in text
        assert card["training_data"]["label_definition"] in text
        assert f"n = {card['training_data']['n']}" in text
        assert card["produced_by"] in text and card["training_data"]["citation"] in text
        for item in card["limitations"]:
            assert item in text
        assert any(c.value == card["weights_sha256"] for c in at.code)
        head = card["evaluation"]["metrics"].get("auroc") or card["evaluation"]["metrics"]["auroc_macro"]
        row = metrics[metrics["metric"].str.startswith("AUROC")].iloc[0]
        assert row["value"] == pytest.approx(head["value"])
        assert row["95% CI"] == f"{head['ci95'][0]:.3f}–{head['ci95'][1]:.3f}"
        if card["training_data"].get("class_counts"):
            counts = count_tables.pop(0)
            assert dict(zip(counts["class"], counts["n"], strict=True)) == card["training_data"]["class_counts"]
    charts = {c.proto.id.split("-", 1)[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    for b in bundles:
        [spec] = [s for k, s in charts.items() if k.endswith(f"calibration-{b.id}")]
        cal = b.card["evaluation"]["calibration"]
        assert spec["data"][1]["y"] == cal["observed"] or "bdata" in str(spec["data"][1]["y"])
        assert len(spec["data"]) == 2 + len(cal.get("per_class", {}))
    assert text.count("Not for clinical use") >= len(bundles)


def test_user_supplied_and_refused_bundles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = ROOT / "assets" / "models" / "breast-cytology-wdbc"
    mine = tmp_path / "models" / "my-model"
    shutil.copytree(src, mine)
    card = json.loads((mine / "card.json").read_text())
    card.update(id="my-model", name="My imported model", user_supplied=True)
    (mine / "card.json").write_text(json.dumps(card))
    broken = tmp_path / "models" / "broken"
    broken.mkdir()
    (broken / "card.json").write_text("{not json")
    monkeypatch.setenv("PRECIMED_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("PRECIMED_USER_MODELS_DIR", raising=False)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    assert any("User-supplied model" in w.value for w in at.warning)
    assert "My imported model" in _text(at)
    assert any("Bundle 'broken' was refused" in e.value for e in at.error)


def test_page_does_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file('pages/5_model_cards.py', default_timeout=60); at.run()\n"
        "assert not at.exception, at.exception\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'shap') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_evidence_sections_show_the_cards_numbers() -> None:
    """Calibration fit and wording, baselines with the verdict, subgroups with call-outs, the
    survival block, factors, ethics and caveats: the page prints the card's own figures."""
    from precimed.evaluation.caveats import caveat_line
    from precimed.report.evidence import ci_text

    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception and not at.error
    text = _text(at)
    warnings = [w.value for w in at.warning]
    frames = [d.value for d in at.dataframe]
    # every shipped card's calibration sentence, the image model's (held out) included
    for b in list_bundles():
        assert b.card["evaluation"]["calibration"]["statement"] in text, b.id
    with_evidence = [b for b in list_bundles() if b.card["evaluation"].get("baselines")]
    assert "breast-cytology-wdbc" in {b.id for b in with_evidence}
    for b in with_evidence:
        card, ev = b.card, b.card["evaluation"]
        assert ev["calibration"]["statement"] in text
        assert ev["baseline_verdict"] in text
        key = "auroc" if card["task"] == "binary" else "auroc_macro"
        want = [ci_text(ev["metrics"][key])] + [ci_text(x[key]) for x in ev["baselines"]]
        tables = [f for f in frames if "model" in f.columns and f["model"].iloc[0] == "this network"
                  and f.iloc[1:]["model"].tolist() == [x["name"] for x in ev["baselines"]]]
        assert any(t[[c for c in t.columns if "AUROC" in c][0]].tolist() == want for t in tables)
        for sub in ev["subgroups"]:
            if sub["weaker"]:
                assert caveat_line(card, sub) in warnings
        if card.get("factors", {}).get("note"):
            assert card["factors"]["note"] in text
        for item in card["caveats"] + card["ethical_considerations"]:
            assert item in text
        if ev.get("survival"):
            assert ev["survival"]["censoring"]["statement"] in text
            survs = [f for f in frames if "figure" in f.columns and "this network (out-of-fold)" in f.columns]
            low = ev["survival"]["groups"][0]["dmfs_5y"]
            assert any(ci_text(low, pct=True) in t["this network (out-of-fold)"].tolist() for t in survs)
            km = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.id.endswith(f"km-{b.id}")]
            assert km and len([t for t in km[0]["data"] if t.get("mode") == "lines"]) == 2
            # Beside the paper and the published score, every figure the issue lists.
            [surv_table] = [t for t in survs if ci_text(low, pct=True)
                            in t["this network (out-of-fold)"].tolist()]
            assert {"Desmedt 2007 (paper)", "published 76-gene score, same patients"} <= set(surv_table.columns)
            assert {"5-y DMFS, low risk", "10-y DMFS, high risk", "HR at 5 y, unadjusted",
                    "HR at 5 y, adjusted", "sensitivity", "specificity"} <= set(surv_table["figure"])
            hr = ev["survival"]["hazard_ratio"]["unadjusted"]
            assert ci_text(hr, 2) in surv_table["this network (out-of-fold)"].tolist()
        if card.get("training", {}).get("tuning_protocol"):
            from precimed.report.evidence import tuning_text

            assert tuning_text(card) in text
            tuning = [f for f in frames if "variant" in f.columns
                      and f["variant"].tolist() == [v["variant"] for v in
                                                    card["training"]["tuning_protocol"]["variants_at_the_chosen_points"]]]
            assert tuning and "(shipped)" in tuning[0]["variant"].iloc[0]
