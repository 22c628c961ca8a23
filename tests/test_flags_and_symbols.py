"""Extrapolated / imputed inputs flagged where the answer is read (CLI, report, waterfall), and
gene symbols wherever a probe set is named (issue 11, items 1 and 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from precimed.cards import display_name, feature_labels
from precimed.charts import read_svg_bars, waterfall, waterfall_svg
from precimed.registry import get_bundle

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "samples" / "breast-metastasis-gse7390.csv"
NET = "breast-metastasis-gse7390"


def _edited_csv(tmp_path: Path) -> Path:
    lines = SAMPLE.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("size")] = "25"
    row[header.index("X200726_at")] = ""
    path = tmp_path / "patients.csv"
    path.write_text("\n".join([lines[0], ",".join(row), lines[2]]) + "\n")
    return path


def test_cards_name_probes_by_gene_symbol() -> None:
    labels = feature_labels(get_bundle(NET).card)
    assert labels["X200726_at"] == "PPP1CC (X200726_at)"
    assert labels["X219340_s_at"] == "CLN8 (X219340_s_at)"
    assert labels["size"] == "size"
    no_symbol = [n for n, v in labels.items() if n.startswith("X") and v == n]
    assert len(no_symbol) == 12  # 12 probe sets have neither a HUGO nor an NCBI symbol
    assert display_name("X1_at", None) == "X1_at"


def test_waterfall_marks_flagged_bars_even_when_small() -> None:
    values = {f"f{i}": 0.1 / (i + 1) for i in range(20)} | {"size": -0.0001}
    wf = waterfall(0.2, values, {"size": 25.0, "f0": 1.0}, output=0.2 + sum(values.values()),
                   class_name="metastasis", max_features=5, labels={"f0": "GENE (f0)"},
                   flagged={"size": "extrapolated"})
    ys = [b.label for b in wf.bars]
    assert "size = 25 ⚠ extrapolated" in ys  # kept though its |SHAP| is tiny
    assert "GENE (f0) = 1" in ys
    assert sum(b.value for b in wf.bars[1:]) == pytest.approx(0.2 + sum(values.values()))
    [flagged] = [b for b in wf.bars if b.flag]
    assert flagged.text.endswith("⚠") and flagged.kind == "away"
    drawn = read_svg_bars(waterfall_svg(wf))  # what the page and the HTML report show
    assert [d["label"] for d in drawn] == ys
    assert [d.get("flag") for d in drawn].count("extrapolated") == 1


@pytest.mark.slow  # two CLI processes (TensorFlow import each)
def test_cli_predict_and_explain_carry_warnings_and_labels(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _edited_csv(tmp_path)
    res = cli("predict", "--model", NET, str(path), "--json")
    assert res.code == 0, res.stderr
    rows = res.json()
    assert rows[0]["warnings"][:2] == [  # then any weaker-subgroup line (evidence's caveats)
        "'X200726_at' is empty; filled with the training median 11.8029",
        "'size' = 25 is outside the training range [0.6, 5] (extrapolation)"]
    assert not any("outside the training range" in w or "is empty" in w for w in rows[1].get("warnings", []))
    res = cli("explain", "--model", NET, str(path), "--row", "0", "--json")
    assert res.code == 0, res.stderr
    out = res.json()
    assert out["flagged"] == {"X200726_at": "imputed", "size": "extrapolated"}
    assert out["labels"]["X200726_at"] == "PPP1CC (X200726_at)" and len(out["warnings"]) == 2
    from precimed.cli.explain_cmd import _text

    text = _text(out)  # the text form of the same result
    assert "⚠ 'size' = 25 is outside the training range [0.6, 5] (extrapolation)" in text


def test_report_prints_flags_by_the_prediction_and_marks_bars(tmp_path: Path) -> None:
    from precimed.explain.tabular import explain_rows
    from precimed.report.content import gather
    from precimed.tabular.io import read_table
    from precimed.tabular.validate import validate_table

    bundle = get_bundle(NET)
    table = validate_table(read_table(_edited_csv(tmp_path)), bundle.card)
    [expl] = explain_rows(bundle, table, [0])
    probs = {c: (expl.output if c == "metastasis" else 1 - expl.output) for c in bundle.classes}
    content = gather(bundle.card, identifier="p1", probabilities=probs, explanation=expl,
                     warnings=table.row_warnings(0), flagged=table.row_flags(0))
    assert "'size' = 25 is outside the training range [0.6, 5] (extrapolation)" in content.warnings
    assert content.waterfall is not None
    labels = [b.label for b in content.waterfall.bars]
    assert "size = 25 ⚠ extrapolated" in labels
    assert "PPP1CC (X200726_at) = 11.8 ⚠ imputed" in labels
    from precimed.report.html import render_html

    html = render_html(content).decode()
    assert html.index("⚠ Input flags:") < html.index("<h2>Explanation</h2>")  # next to the prediction
