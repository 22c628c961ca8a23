"""The shipped genomic network: its recalibration, its calibration claim and its baselines."""

from __future__ import annotations

import numpy as np
import pytest

from precimed import registry
from precimed.training.ensemble import sigmoid

MODEL_ID = "breast-metastasis-gse7390"


@pytest.fixture(scope="module")
def bundle() -> registry.Bundle:
    return registry.get_bundle(MODEL_ID)


def test_output_is_the_stated_recalibration_of_the_ensemble_logit(bundle: registry.Bundle) -> None:
    import keras

    from precimed.explain.tabular import background_matrix, deep_explainer_supports

    model = bundle.model()
    assert deep_explainer_supports(model)
    rec = bundle.card["training"]["recalibration"]
    assert rec["layer"] == "recalibration" and rec["method"] == "Platt scaling"
    x = background_matrix(bundle)
    z = np.asarray(keras.Model(model.inputs, model.get_layer("logit").output)(x), "float64")[:, 0]
    out = np.asarray(model(x), "float64")[:, 0]
    np.testing.assert_allclose(out, sigmoid(rec["a"] + rec["b"] * z), atol=1e-6)
    # The recalibration really does something (slope away from 1 or a shift), and the ensemble
    # has the stated number of members side by side in the hidden layer.
    assert abs(rec["b"] - 1.0) > 1e-3 or abs(rec["a"]) > 1e-3
    members = bundle.card["training"]["ensemble"]["members"]
    assert model.get_layer("dense_0").units % members == 0


def test_calibration_claim_follows_the_rule(bundle: registry.Bundle) -> None:
    cal = bundle.card["evaluation"]["calibration"]
    slope, intercept = cal["slope"], cal["intercept"]
    holds = 0.8 <= slope["value"] <= 1.25 and intercept["ci95"][0] <= 0.0 <= intercept["ci95"][1]
    assert cal["calibrated"] is holds
    text = " ".join(bundle.card["limitations"]).lower()
    assert "calibrated to this cohort" not in text or holds
    # The target for this network (out of fold): the rule holds.
    assert holds, (slope, intercept)


def test_baseline_verdicts_match_the_paired_difference(bundle: registry.Bundle) -> None:
    """Where the network is not better than a baseline, the card says so in plain words."""
    baselines = bundle.card["evaluation"]["baselines"]
    names = [b["name"].lower() for b in baselines]
    assert any("logistic" in n for n in names) and any("forest" in n for n in names)
    for b in baselines:
        lo, hi = b["network_minus_baseline"]["auroc"]["ci95"]
        word = "better than" if lo > 0 else ("worse than" if hi < 0 else "no better than")
        assert f"is {word}" in b["verdict"], b["verdict"]


def test_tuning_protocol_is_recorded(bundle: registry.Bundle) -> None:
    proto = bundle.card["training"]["tuning_protocol"]
    assert len(proto["grid"]) >= 4 and proto["shipped_point"] in proto["grid"]
    assert "inner" in proto["selection_metric"] and "never on the test fold" in proto["recalibration"]
    assert sum(proto["chosen_per_outer_fold"].values()) == 25
    assert "optimistic" in proto["optimism"]
    assert {v["variant"] for v in proto["variants_at_the_chosen_points"]} >= {
        "bagged, Platt (shipped)", "bagged, no recalibration"}
