"""AppTest of the Genomics page with the multiclass compound model."""

from __future__ import annotations

from pathlib import Path

import pytest
from page_keys import svg_chart, widget
from streamlit.testing.v1 import AppTest

from precimed.registry import get_bundle

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "1_genomics.py")
DILI = "dili-hepatic-injury-qsar"
CLASSES = ["none", "mild", "severe"]


def _waterfall(at: AppTest) -> list[dict[str, str]]:
    """The waterfall's bars, top to bottom (the output first)."""
    return svg_chart(at, "waterfall")[1]


def _probabilities(at: AppTest) -> dict[str, float]:
    return {m.label[2:-1]: float(m.value.lstrip("<> ").rstrip("%")) / 100 for m in at.metric}


def _text(at: AppTest) -> str:
    parts = ([m.value for m in at.markdown] + [w.value for w in at.warning]
             + [c.value for c in at.caption] + [s.value for s in at.subheader])
    return "\n".join(str(p) for p in parts)


def test_compound_probabilities_and_severe_explanation() -> None:
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.run()
    at.selectbox(key="tabular_model").set_value(DILI).run()
    assert not at.exception and not at.error, [e.value for e in at.error]

    # Wording follows the card: rows are compounds.
    assert widget(at.selectbox, "row").label == "Compound (row)"
    assert "recorded: none" in widget(at.selectbox, "row").options[0]
    text = _text(at)
    assert "Why: SHAP explanation for this compound" in text
    assert "Prediction for this compound" in text
    assert "Not for clinical use" in text and f"version {get_bundle(DILI).card['version']}" in text

    # Three probabilities, summing to one; the default explained class is the predicted one.
    probs = _probabilities(at)
    assert list(probs) == CLASSES
    assert sum(probs.values()) == pytest.approx(1.0, abs=2e-3)
    predicted = max(probs, key=probs.get)  # type: ignore[arg-type]
    assert f"**{predicted}** (most probable class)" in text
    assert widget(at.selectbox, "explain_class").value == predicted
    assert _waterfall(at)[0]["label"] == f"P({predicted})"

    # Explain "severe": waterfall of P(severe), 376 features folded to 12 + one bar, adds up.
    widget(at.selectbox, "explain_class").set_value("severe").run()
    assert not at.exception and not at.error
    wf = _waterfall(at)
    labels = [b["label"] for b in wf]
    assert labels[0] == "P(severe)" and "364 other features" in labels
    assert sum(float(b["value"]) for b in wf[1:]) == pytest.approx(probs["severe"], abs=6e-4)
    assert "364 weakest features are summed into one bar" in _text(at)
    # The cohort summary has a class picker of its own (its own fragment: a row or class
    # switch above does not redraw the cohort's beeswarm).
    widget(at.selectbox, "summary_class").set_value("severe").run()
    assert svg_chart(at, "beeswarm")[0] == "Cohort SHAP summary for P(severe)"  # for the chosen class

    # Another compound: the explained class resets from "severe" to that compound's predicted
    # class. All sample rows are valid, so option i is row i.
    mild_row = next(i for i, label in enumerate(widget(at.selectbox, "row").options)
                    if "recorded: mild" in label)
    widget(at.selectbox, "row").set_value(mild_row).run()
    probs = _probabilities(at)
    predicted = max(probs, key=probs.get)  # type: ignore[arg-type]
    assert predicted != "severe"  # else the reset below would go unseen
    assert widget(at.selectbox, "explain_class").value == predicted
    assert _waterfall(at)[0]["label"] == f"P({predicted})"
    [table] = [d.value for d in at.dataframe if "prediction" in d.value.columns]
    assert [c for c in table.columns if c.startswith("P(")] == [f"P({c})" for c in CLASSES]
    assert len(table) == 6
