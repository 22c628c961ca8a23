"""A patient in a weaker subgroup is told so beside the prediction: CLI ``warnings`` and the
Genomics page (a copy of the genomic bundle whose card marks ER-negative patients weaker)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from page_keys import widget

from precimed.cards import validate_card
from precimed.evaluation.caveats import caveat_line
from precimed.samples import sample_files

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # a CLI subprocess and a page that loads TensorFlow
GENOMIC = "breast-metastasis-gse7390"
SAMPLE = sample_files(GENOMIC)[0]  # rows 0 and 1 are ER-negative


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("models")
    dst = root / GENOMIC
    shutil.copytree(ROOT / "assets" / "models" / GENOMIC, dst)
    card: dict[str, Any] = json.loads((dst / "card.json").read_text("utf-8"))
    overall = card["evaluation"]["metrics"]["auroc"]["value"]
    card["factors"] = {"evaluated": [{"name": "er", "input": "er", "label": "ER status",
                                      "levels": ["negative", "positive"]}]}
    sub = {"factor": "er", "level": "negative", "n": 61, "weaker": True,
           "auroc": {"value": round(overall - 0.17, 2), "ci95": [0.42, round(overall - 0.02, 2)]}}
    card["evaluation"]["subgroups"] = [sub]
    line = caveat_line(card, sub)
    card["caveats"] = [line]
    validate_card(card)
    (dst / "card.json").write_text(json.dumps(card), "utf-8")
    return root, line


def test_cli_predict_warns_for_er_negative_rows(cli: Any, models: tuple[Path, str]) -> None:
    root, line = models
    r = cli("predict", "--model", GENOMIC, str(SAMPLE), "--json", env={"PRECIMED_MODELS_DIR": str(root)})
    assert r.code == 0, r.stderr
    rows = r.json()
    assert line.startswith("Weaker for patients with ER status negative: AUROC ")
    assert [x.get("warnings", []) for x in rows[:2]] == [[line], [line]]
    assert all(line not in x.get("warnings", []) for x in rows[2:])


def test_genomics_page_shows_the_caveat(models: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    root, line = models
    monkeypatch.setenv("PRECIMED_MODELS_DIR", str(root))
    at = AppTest.from_file(str(ROOT / "pages" / "1_genomics.py"), default_timeout=90)
    at.run()
    at.selectbox(key="tabular_model").set_value(GENOMIC).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert line in [w.value for w in at.warning]
    widget(at.selectbox, "row").set_value(2).run()  # ER-positive
    assert line not in [w.value for w in at.warning]
