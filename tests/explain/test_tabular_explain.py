"""SHAP fidelity for every sample of every tabular model: base + Σ values = output."""

from __future__ import annotations

import numpy as np
import pytest

from precimed.explain.tabular import DeepBackend, backend_for, explain_matrix, explain_rows
from precimed.predict import predict_proba
from precimed.registry import list_bundles
from precimed.samples import sample_files
from precimed.tabular.io import read_table
from precimed.tabular.validate import encode, validate_table

TABULAR = [b for b in list_bundles() if b.modality == "tabular"]
CASES = [(b, path) for b in TABULAR for path in sample_files(b.id)]


def test_every_tabular_model_ships_samples() -> None:
    assert {b.id for b, _ in CASES} == {b.id for b in TABULAR}
    assert len(TABULAR) >= 2


@pytest.mark.parametrize(("bundle", "path"), CASES, ids=[f"{b.id}-{p.name}" for b, p in CASES])
def test_additivity_for_every_sample_row(bundle, path) -> None:  # type: ignore[no-untyped-def]
    table = validate_table(read_table(path), bundle.card)
    probs = predict_proba(bundle, encode(table.frame.iloc[table.valid_rows], bundle.card))
    for cls in bundle.classes:
        expls = explain_rows(bundle, table, table.valid_rows, class_name=cls)
        for k, e in enumerate(expls):
            assert e.additivity_error <= 1e-4, (e.row, cls, e.additivity_error)
            assert e.output == pytest.approx(probs[k, bundle.classes.index(cls)], abs=1e-6)
            assert set(e.values) == {i["name"] for i in bundle.card["inputs"]}


def test_shipped_models_use_the_exact_deep_explainer() -> None:
    for bundle in TABULAR:
        assert isinstance(backend_for(bundle), DeepBackend)


def test_base_value_is_background_mean() -> None:
    bundle = next(b for b in TABULAR if b.id == "breast-cytology-wdbc")
    from precimed.explain.tabular import background_matrix

    bg = background_matrix(bundle)
    _, base = explain_matrix(bundle, bg[:2])
    pos = bundle.classes.index("malignant")
    assert base[pos] == pytest.approx(predict_proba(bundle, bg)[:, pos].mean(), abs=1e-5)


def test_default_class_and_bad_row() -> None:
    from precimed.errors import PrecimedInputError

    bundle = next(b for b in TABULAR if b.id == "breast-cytology-wdbc")
    raw = read_table(sample_files(bundle.id)[0])
    raw.loc[0, "mean radius"] = "big"
    table = validate_table(raw, bundle.card)
    [e] = explain_rows(bundle, table, [1])
    assert e.class_name == "malignant"
    with pytest.raises(PrecimedInputError, match="row 0 cannot be explained"):
        explain_rows(bundle, table, [0])
    with pytest.raises(PrecimedInputError, match="unknown class"):
        explain_rows(bundle, table, [1], class_name="cancer")
    values, _ = explain_matrix(bundle, encode(table.frame.iloc[[1]], bundle.card))
    assert np.allclose(values[0, :, 0], -values[0, :, 1])
