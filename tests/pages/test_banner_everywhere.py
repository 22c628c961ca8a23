"""The not-for-clinical-use banner is not the card's to remove (issue 15): with every card
saying ``not_for_clinical_use: false``, every page that shows a prediction still shows the
banner; and the schema refuses ``false`` for a user-supplied bundle (the import path).

Each page is driven to a prediction (a metric or a chart); a page that shows one without the
banner fails, and a page left out of RECIPES is still run with its defaults and checked."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from pages._ui import NOT_FOR_CLINICAL_USE
from precimed import registry
from precimed.cards import validate_card
from precimed.errors import BundleError

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(p.name for p in (ROOT / "pages").glob("[0-9]*_*.py"))
TABULAR = "breast-cytology-wdbc"


@pytest.fixture
def cards_say_false(monkeypatch: pytest.MonkeyPatch) -> None:
    read = registry.read_bundle

    def false_card(path: Path) -> registry.Bundle:
        bundle = read(path)
        card = copy.deepcopy(bundle.card)
        card["not_for_clinical_use"] = False
        return registry.Bundle(path=bundle.path, card=card)

    monkeypatch.setattr(registry, "read_bundle", false_card)
    assert all(b.card["not_for_clinical_use"] is False for b in registry.list_bundles())


def _cohort(at: AppTest) -> None:
    at.selectbox(key="cohort_model").set_value(TABULAR).run()
    at.radio(key="cohort_source").set_value("Sample file").run()
    at.checkbox(key="cohort_explain").uncheck().run()


def _genomic_with_reference(at: AppTest) -> None:
    at.selectbox(key="tabular_model").set_value("breast-metastasis-gse7390").run()
    assert any(m.label.startswith("Reference:") for m in at.metric), "no reference comparison"


def _reference_score(at: AppTest) -> None:
    at.selectbox(key="tabular_model").set_value("relapse-score-wang2005").run()


# page → how to reach a prediction from its defaults, and what shows one (the PACS source of
# the Imaging page is checked in tests/pacs/test_banner_pacs.py, beside its Orthanc fixture)
RECIPES: dict[str, tuple[Callable[[AppTest], None] | None, str]] = {
    "1_genomics.py": (None, "metric"),
    "1_genomics.py+reference": (_genomic_with_reference, "metric"),
    "1_genomics.py+reference-score": (_reference_score, "metric"),
    "2_imaging.py": (None, "metric"),
    "3_what_if.py": (None, "metric"),
    "4_cohort.py": (_cohort, "plotly_chart"),
}


def _shows_prediction(at: AppTest) -> bool:
    return bool(at.metric) or bool(at.get("plotly_chart"))


@pytest.mark.slow
@pytest.mark.parametrize("page", sorted(set(PAGES) | set(RECIPES)))
def test_every_page_with_a_prediction_shows_the_banner(page: str, cards_say_false: None) -> None:
    at = AppTest.from_file(str(ROOT / "pages" / page.split("+")[0]), default_timeout=180)
    at.run()
    drive, shown_by = RECIPES.get(page, (None, ""))
    if drive is not None:
        drive(at)
    assert not at.exception, at.exception
    if shown_by:  # the recipe must really reach a prediction, or this test proves nothing
        assert at.get(shown_by), f"{page}: no {shown_by}: {[e.value for e in at.error]}"
    if _shows_prediction(at) or page in RECIPES:
        assert NOT_FOR_CLINICAL_USE in [w.value for w in at.warning], f"{page}: no banner"


def _card(**changes: Any) -> dict[str, Any]:
    card = json.loads((registry.REPO_MODELS_DIR / TABULAR / "card.json").read_text())
    card.update(changes)
    return card


def test_schema_refuses_false_for_user_supplied_cards() -> None:
    validate_card(_card(not_for_clinical_use=False))  # a repository card: the schema allows it
    validate_card(_card(user_supplied=True, not_for_clinical_use=True))
    with pytest.raises(BundleError, match="not_for_clinical_use"):
        validate_card(_card(user_supplied=True, not_for_clinical_use=False))


def test_import_refuses_a_bundle_whose_card_says_false(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import zipfile

    from precimed.importing import import_bundle_bytes

    source = registry.REPO_MODELS_DIR / TABULAR
    card = _card(id="clinical-claim", not_for_clinical_use=False)
    del card["weights_sha256"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model.keras", (source / "model.keras").read_bytes())
        zf.writestr("card.json", json.dumps(card))
        zf.writestr("background.csv", (source / "background.csv").read_bytes())
    monkeypatch.setenv("PRECIMED_USER_MODELS_DIR", str(tmp_path / "models"))
    with pytest.raises(BundleError, match="invalid card at 'not_for_clinical_use'"):
        import_bundle_bytes(buf.getvalue(), "claim.zip")
    assert not (tmp_path / "models" / "clinical-claim").exists()


def test_an_imported_card_edited_on_disk_cannot_shed_the_mark(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    models = tmp_path / "models"
    target = models / "edited"
    shutil.copytree(registry.REPO_MODELS_DIR / TABULAR, target)
    card = _card(id="edited", not_for_clinical_use=False)
    card.pop("user_supplied", None)
    (target / "card.json").write_text(json.dumps(card))
    monkeypatch.setenv("PRECIMED_USER_MODELS_DIR", str(models))
    with pytest.raises(BundleError, match="not_for_clinical_use"):
        registry.read_bundle(target)
    assert "edited" in registry.bundle_errors()
