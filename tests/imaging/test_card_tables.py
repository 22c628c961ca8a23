"""The image card's held-out figures as the Model cards page shows them (no model loaded)."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from precimed.imaging.card_tables import heldout_table, real_images_table, sanity_table

ROOT = Path(__file__).resolve().parents[2]
CARD = json.loads((ROOT / "assets" / "models" / "lesion-cnn-synthetic" / "card.json").read_text("utf-8"))


def test_tables_carry_the_card_figures() -> None:
    held = heldout_table(CARD)
    assert held is not None and list(held["held-out set"]) == ["heldout backgrounds", "heldout family"]
    fam = next(h for h in CARD["evaluation"]["heldout"] if h["name"] == "heldout family")
    assert held.iloc[1]["AUROC (95% CI)"].startswith(f"{fam['auroc']['value']:.3f} (")
    assert held.iloc[1]["lesion families"] == "rim"
    real = real_images_table(CARD)
    assert real is not None and list(real["n"]) == [CARD["evaluation"]["real_images"]["n"],
                                                   CARD["evaluation"]["real_images"]["heldout_crops"]["n"]]
    sanity = sanity_table(CARD)
    assert sanity is not None and len(sanity) == len(CARD["explanation"]["sanity_checks"])
    assert heldout_table({"evaluation": {}}) is None and sanity_table({"explanation": {}}) is None


def test_the_model_cards_page_shows_them() -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "5_model_cards.py"), default_timeout=60)
    at.run()
    assert not at.exception
    keys = {df.proto.id for df in at.dataframe}
    for key in ("heldout", "realfp", "sanity"):
        assert any(f"{key}-lesion-cnn-synthetic" in k for k in keys), (key, keys)
