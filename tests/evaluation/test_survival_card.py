"""The survival block on the real TRANSBIG follow-up (198 patients), with simulated
out-of-fold risks: groups, hazard ratios, the censoring statement, the reference beside it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from precimed.training.tabular import CVPredictions


@pytest.fixture(scope="module")
def block() -> dict[str, Any]:
    pytest.importorskip("sksurv")
    from precimed.evaluation.survival_card import survival_block
    from precimed.training import transbig

    r = transbig.recipe()
    y = np.asarray(r.y)
    rng = np.random.default_rng(0)
    p = np.clip(0.18 + 0.08 * (y - 0.18) + rng.normal(scale=0.1, size=(3, len(y))), 0.01, 0.99)
    pe = rng.uniform(0.05, 0.5, size=(3, len(r.extra_X)))
    cv = CVPredictions(probs=np.stack([1 - p, p], axis=2), folds=np.zeros((3, len(y)), int),
                       extra=np.stack([1 - pe, pe], axis=2))
    card = {"classes": ["no metastasis", "metastasis"], "positive_class": "metastasis", "threshold": 0.19}
    out = survival_block(card, y, cv.probs, cv, r.survival)
    out["_risk"] = np.concatenate([p.mean(axis=0), pe.mean(axis=0)])
    return out


def test_groups_cover_every_patient(block: dict[str, Any]) -> None:
    low, high = block["groups"]
    assert low["n"] + high["n"] == 198
    assert high["n"] == int((block["_risk"] >= 0.19).sum())
    assert low["events"] + high["events"] == 51
    for g in (low, high):
        assert g["dmfs_5y"]["ci95"][0] <= g["dmfs_5y"]["value"] <= g["dmfs_5y"]["ci95"][1]
        assert len(g["curve"]["time"]) == len(g["curve"]["survival"]) > 10
    assert block["hazard_ratio"]["adjusted"]["adjusted_for"] == ["age", "size", "grade", "er"]
    assert block["hazard_ratio"]["unadjusted"]["value"] > 1


def test_censoring_statement_and_references(block: dict[str, Any]) -> None:
    c = block["censoring"]
    assert c["excluded_from_label"] == 9 and c["auroc_ipcw_5y"]["n"] == 198
    assert c["auroc_excluding_censored"]["n"] == 189
    assert f"{c['auroc_ipcw_5y']['value']:.3f}" in c["statement"]
    assert "9 patients censored before 5 years" in c["statement"]
    assert block["paper"]["hazard_ratio"]["adjusted"]["value"] == 13.58
    assert block["reference"]["model"] == "relapse-score-wang2005"
    assert [g["n"] for g in block["reference"]["groups"]] == [38, 160]


def test_block_fits_the_schema(block: dict[str, Any]) -> None:
    import jsonschema

    from precimed.cards import card_schema

    schema = {"$defs": card_schema()["$defs"], "$ref": "#/$defs/survival"}
    data = {k: v for k, v in block.items() if k != "_risk"}
    jsonschema.Draft202012Validator(schema).validate(data)
