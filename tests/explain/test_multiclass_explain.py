"""The multiclass compound model: card, samples, SHAP additivity per class, folded waterfall."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from precimed.cards import feature_specs, subject_word
from precimed.charts import OTHER_LABEL, waterfall
from precimed.explain.tabular import explain_rows
from precimed.predict import predict_proba
from precimed.registry import get_bundle
from precimed.samples import sample_files
from precimed.tabular.io import read_table
from precimed.tabular.validate import ValidatedTable, encode, validate_table

DILI = "dili-hepatic-injury-qsar"
CLASSES = ["none", "mild", "severe"]


@pytest.fixture(scope="module")
def bundle() -> Any:
    return get_bundle(DILI)


@pytest.fixture(scope="module")
def table(bundle: Any) -> ValidatedTable:
    [path] = sample_files(DILI)
    return validate_table(read_table(path), bundle.card)


@pytest.fixture(scope="module")
def probs(bundle: Any, table: ValidatedTable) -> np.ndarray:
    return predict_proba(bundle, encode(table.frame.iloc[table.valid_rows], bundle.card))


def test_card_describes_a_multiclass_compound_model(bundle: Any) -> None:
    card = bundle.card
    assert card["task"] == "multiclass" and card["classes"] == CLASSES
    assert subject_word(card) == "compound"
    assert card["training_data"]["class_counts"] == {"none": 106, "mild": 145, "severe": 30}
    assert card["training_data"]["n"] == 281
    assert "Kuhn" in card["training_data"]["citation"] and "modeldata" in card["training_data"]["source"]
    assert card["not_for_clinical_use"] is True
    assert "regulatory or clinical decisions" in card["out_of_scope"].lower()
    assert "research" in card["intended_use"].lower()
    specs = feature_specs(card)
    assert len(specs) == 376
    assert sum(s.name.startswith("bio_assay_") for s in specs) == 184
    assert sum(s.name.startswith("chem_fp_") for s in specs) == 192
    # 0/1 fingerprints are integers in [0, 1]; counts are integers with their observed range.
    binary = [s for s in specs if s.dtype == "int" and (s.min, s.max) == (0, 1)]
    assert len(binary) >= 20 and all(s.name.startswith("chem_fp_") for s in binary)
    ev = card["evaluation"]
    assert set(ev["class_weights"]) == set(CLASSES)
    assert ev["class_weights"]["severe"] > ev["class_weights"]["none"] > ev["class_weights"]["mild"]
    m = ev["metrics"]
    for key in ("auroc_macro", "auroc_none", "auroc_mild", "auroc_severe"):
        lo, hi = m[key]["ci95"]
        assert 0.5 < m[key]["value"] < 1 and lo <= m[key]["value"] <= hi
    # Honest about calibration: if the Brier score does not beat the class frequencies, say so.
    if m["brier"]["value"] >= m["brier_prevalence"]["value"]:
        assert any("not better than the class frequencies" in x for x in card["limitations"])
    counts = np.array(ev["confusion_matrix"]["counts"])
    assert counts.shape == (3, 3) and counts.sum(axis=1).tolist() == [106, 145, 30]
    assert set(ev["calibration"]["per_class"]) == set(CLASSES)


def test_samples_are_real_compounds_of_every_class(bundle: Any, table: ValidatedTable) -> None:
    raw = read_table(sample_files(DILI)[0])
    recorded = [re.search(r"recorded: (\w+)", str(c)).group(1) for c in raw["compound"]]  # type: ignore[union-attr]
    assert set(recorded) == set(CLASSES)
    assert table.valid_rows == list(range(len(raw))) and not table.issues
    # The sample rows are the data set's own compounds: same values as the background source.
    assert len(table.frame.columns) == 376


def test_additivity_for_every_class_and_sample_compound(bundle: Any, table: ValidatedTable,
                                                        probs: np.ndarray) -> None:
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    bases = []
    for c, name in enumerate(CLASSES):
        expls = explain_rows(bundle, table, table.valid_rows, class_name=name)
        for k, e in enumerate(expls):
            assert e.class_name == name
            assert abs(e.base_value + sum(e.values.values()) - e.output) <= 1e-4, (e.row, name)
            assert e.output == pytest.approx(probs[k, c], abs=1e-6)
            assert len(e.values) == 376
        bases.append(expls[0].base_value)
    # Base values are mean softmax outputs over the background: they sum to 1.
    assert sum(bases) == pytest.approx(1.0, abs=1e-5)


def test_default_class_is_the_predicted_one(bundle: Any, table: ValidatedTable,
                                            probs: np.ndarray) -> None:
    expls = explain_rows(bundle, table, table.valid_rows)
    assert [e.class_name for e in expls] == [CLASSES[i] for i in probs.argmax(axis=1)]


def test_folded_waterfall_adds_up(bundle: Any, table: ValidatedTable) -> None:
    [e] = explain_rows(bundle, table, [table.valid_rows[-1]], class_name="severe")
    wf = waterfall(e.base_value, e.values, e.feature_values, output=e.output,
                   class_name="severe", max_features=12)
    bars = wf.bars  # top to bottom: total, 12 features largest first, 1 folded bar, base
    labels = [b.label for b in bars]
    assert len(bars) == 15 and labels[-1].startswith("base value") and labels[0] == "P(severe)"
    assert [b.kind for b in (bars[0], bars[-1])] == ["total", "base"]
    assert labels[-2] == f"364 {OTHER_LABEL}"  # the folded bar sits just above the base
    x = [b.value for b in bars]
    assert x[-1] + sum(x[1:-1]) == pytest.approx(e.output, abs=1e-4)
    shown = sorted(e.values.values(), key=abs, reverse=True)
    assert x[1:13] == pytest.approx(shown[:12])  # largest at the top
    assert x[-2] == pytest.approx(sum(shown[12:]), abs=1e-9)
    # each push starts where the one below it ended: base at the bottom, the output at the top
    assert bars[-2].start == pytest.approx(e.base_value)
    for upper, lower in zip(bars[1:-2], bars[2:-1], strict=True):
        assert upper.start == pytest.approx(lower.end)
    assert bars[1].end == pytest.approx(e.output, abs=1e-4)
