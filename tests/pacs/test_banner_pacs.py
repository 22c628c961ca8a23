"""The Imaging page's PACS source shows the not-for-clinical-use banner beside its prediction even
when the card says ``not_for_clinical_use: false`` (issue 15; the other pages are checked in
tests/pages/test_banner_everywhere.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from pacs_helpers import Pacs
from streamlit.testing.v1 import AppTest

from pages._ui import NOT_FOR_CLINICAL_USE
from precimed import registry

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "2_imaging.py")


@pytest.mark.slow
def test_pacs_prediction_shows_the_banner_whatever_the_card(pacs: Pacs,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    read = registry.read_bundle

    def false_card(path: Path) -> registry.Bundle:
        bundle = read(path)
        card = copy.deepcopy(bundle.card)
        card["not_for_clinical_use"] = False
        return registry.Bundle(path=bundle.path, card=card)

    monkeypatch.setattr(registry, "read_bundle", false_card)
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    at.radio(key="imaging_source").set_value("PACS").run()
    at.text_input(key="pacs_url").set_value(pacs.server.url)
    at.text_input(key="pacs_user").set_value(pacs.server.user)
    at.text_input(key="pacs_password").set_value(pacs.server.password)
    at.text_input(key="pacs_patient_id").set_value("1CT1")
    at.button[0].click().run()
    at.button(key="pacs_open").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("P(lesion)" in m.label for m in at.metric)  # a prediction from the PACS image
    assert NOT_FOR_CLINICAL_USE in [w.value for w in at.warning]
