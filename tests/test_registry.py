"""Registry: discovery, checksum refusal, safe-mode loading, lazy TensorFlow."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from precimed import registry
from precimed.errors import BundleError

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "assets" / "models"
TABULAR_IDS = {"breast-metastasis-gse7390", "breast-cytology-wdbc"}


def test_lists_shipped_bundles() -> None:
    ids = {b.id for b in registry.list_bundles(strict=True)}
    assert TABULAR_IDS <= ids


def test_unknown_model_lists_known_ids() -> None:
    with pytest.raises(BundleError, match="unknown model 'nope'.*breast-cytology-wdbc"):
        registry.get_bundle("nope")


def _copy_bundle(tmp_path: Path, model_id: str = "breast-cytology-wdbc") -> Path:
    dest = tmp_path / model_id
    shutil.copytree(MODELS / model_id, dest)
    return dest


def test_checksum_mismatch_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = _copy_bundle(tmp_path)
    with open(dest / "model.keras", "ab") as fh:
        fh.write(b"tampered")
    monkeypatch.setenv("PRECIMED_MODELS_DIR", str(tmp_path))
    registry.clear_cache()
    bundle = registry.get_bundle("breast-cytology-wdbc")
    with pytest.raises(BundleError, match="checksum mismatch.*refusing to load"):
        bundle.model()


def test_folder_name_must_match_card_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _copy_bundle(tmp_path)
    src.rename(tmp_path / "renamed")
    monkeypatch.setenv("PRECIMED_MODELS_DIR", str(tmp_path))
    assert registry.list_bundles() == []
    assert "differs from the folder name" in registry.bundle_errors()["renamed"]


def test_invalid_card_is_skipped_and_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = _copy_bundle(tmp_path)
    card = json.loads((dest / "card.json").read_text())
    del card["intended_use"]
    (dest / "card.json").write_text(json.dumps(card))
    monkeypatch.setenv("PRECIMED_MODELS_DIR", str(tmp_path))
    assert registry.list_bundles() == []
    with pytest.raises(BundleError, match="intended_use"):
        registry.list_bundles(strict=True)


def test_lambda_layer_is_refused_in_safe_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    dest = _copy_bundle(tmp_path)
    inp = keras.Input((39,))
    out = keras.layers.Lambda(lambda x: x[:, :1] * 0 + 0.5)(inp)
    keras.Model(inp, out).save(dest / "model.keras")
    card = json.loads((dest / "card.json").read_text())
    card["weights_sha256"] = registry.sha256_file(dest / "model.keras")
    (dest / "card.json").write_text(json.dumps(card))
    monkeypatch.setenv("PRECIMED_MODELS_DIR", str(tmp_path))
    registry.clear_cache()
    with pytest.raises(BundleError, match="Lambda layer"):
        registry.get_bundle("breast-cytology-wdbc").model()


def test_model_loads_once_and_is_cached() -> None:
    bundle = registry.get_bundle("breast-cytology-wdbc")
    assert bundle.model() is registry.get_bundle("breast-cytology-wdbc").model()


def test_model_loaded_reports_the_process_cache() -> None:
    """What the what-if page reads to skip its "Loading the model…" spinner."""
    registry.clear_cache()
    bundle = registry.get_bundle("breast-cytology-wdbc")
    assert not bundle.model_loaded()
    bundle.model()
    assert bundle.model_loaded() and registry.get_bundle("breast-cytology-wdbc").model_loaded()
    registry.clear_cache()
    assert not bundle.model_loaded()


def test_listing_does_not_import_tensorflow() -> None:
    code = ("import sys; from precimed.registry import list_bundles; "
            "assert list_bundles(); print('tensorflow' in sys.modules, 'shap' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_cards_are_cached_until_the_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A validated card is reused (the home page lists every bundle on each visit), each caller
    gets its own copy, and an edited card.json is read and validated again."""
    dest = _copy_bundle(tmp_path)
    monkeypatch.setenv("PRECIMED_MODELS_DIR", str(tmp_path))
    [first] = registry.list_bundles()
    first.card["name"] = "edited in memory"
    [second] = registry.list_bundles()
    assert second.card["name"] != "edited in memory"
    assert second.card is not first.card

    card = json.loads((dest / "card.json").read_text())
    card["name"] = "Renamed on disk"
    (dest / "card.json").write_text(json.dumps(card))
    assert registry.get_bundle("breast-cytology-wdbc").name == "Renamed on disk"

    del card["intended_use"]  # now invalid: refused at once, and again on the next listing
    (dest / "card.json").write_text(json.dumps(card))
    for _ in range(2):
        assert registry.list_bundles() == []
        assert "intended_use" in registry.bundle_errors()["breast-cytology-wdbc"]
    card["intended_use"] = "Research demonstration only."  # mended: listed again
    (dest / "card.json").write_text(json.dumps(card))
    assert [b.id for b in registry.list_bundles()] == ["breast-cytology-wdbc"]
    assert registry.bundle_errors() == {}
