"""The image card's held-out figures as the Model cards page shows them (no model loaded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from precimed.imaging.card_tables import family_table, heldout_table, real_images_table, sanity_table

ROOT = Path(__file__).resolve().parents[2]
MODEL_ID = "lesion-cnn-synthetic"
CARD = json.loads((ROOT / "assets" / "models" / MODEL_ID / "card.json").read_text("utf-8"))


def test_heldout_table_carries_each_set() -> None:
    held = heldout_table(CARD)
    sets = CARD["evaluation"]["heldout"]
    assert held is not None and list(held["held-out set"]) == [h["name"] for h in sets]
    assert {"heldout backgrounds", "heldout family"} <= set(held["held-out set"])
    for row, h in zip(held.to_dict("records"), sets, strict=True):
        assert row["AUROC (95% CI)"].startswith(f"{h['auroc']['value']:.3f} (")
        assert row["pointing game"].startswith(f"{h['fidelity']['pointing_game']['value']:.0%}")
    fam = next(r for r in held.to_dict("records") if r["held-out set"] == "heldout family")
    assert fam["lesion families"] == "rim"


def test_real_image_and_sanity_tables() -> None:
    real = real_images_table(CARD)
    ri = CARD["evaluation"]["real_images"]
    assert real is not None and list(real["n"]) == [ri["n"], ri["heldout_crops"]["n"]]
    assert real.iloc[0]["false-positive rate (95% CI)"] == (
        f"{ri['false_positive_rate']['value']:.1%} ({ri['false_positive_rate']['ci95'][0]:.1%}–"
        f"{ri['false_positive_rate']['ci95'][1]:.1%})")
    sanity = sanity_table(CARD)
    checks = CARD["explanation"]["sanity_checks"]
    assert sanity is not None and len(sanity) == len(checks)
    assert sanity.iloc[0]["median Spearman ρ of |heatmap|"] == pytest.approx(
        checks[0]["spearman_abs"]["median"], abs=5e-4)
    assert heldout_table({"evaluation": {}}) is None and sanity_table({"explanation": {}}) is None
    assert real_images_table({"evaluation": {}}) is None


def test_the_model_cards_page_shows_them() -> None:
    """The page shows the lesion card's held-out, family, real-image and sanity tables, whole."""
    at = AppTest.from_file(str(ROOT / "pages" / "5_model_cards.py"), default_timeout=60)
    at.run()
    assert not at.exception
    card = CARD
    shown = [d.value.reset_index(drop=True) for d in at.dataframe]
    for name, table in (("held-out", heldout_table(card)), ("families", family_table(card)),
                        ("real images", real_images_table(card)), ("sanity", sanity_table(card))):
        assert table is not None, name
        assert any(list(df.columns) == list(table.columns) and df.astype(str).equals(
            table.reset_index(drop=True).astype(str)) for df in shown), name
