"""Admin page (AppTest): import a bundle (a good one installs and is listed as user-supplied, a
Lambda model is refused with a message), and the audit log view with its chain status."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from precimed import audit, registry

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "6_admin.py")
SOURCE = registry.REPO_MODELS_DIR / "breast-cytology-wdbc"


def _bundle(model: bytes | None = None) -> bytes:
    card = json.loads((SOURCE / "card.json").read_text())
    card.update(id="admin-imported", name="Admin-imported cytology MLP")
    del card["weights_sha256"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model.keras", model or (SOURCE / "model.keras").read_bytes())
        zf.writestr("card.json", json.dumps(card))
        zf.writestr("background.csv", (SOURCE / "background.csv").read_bytes())
    return buf.getvalue()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    paths = {"models": tmp_path / "models", "log": tmp_path / "audit.jsonl"}
    monkeypatch.setenv("PRECIMED_USER_MODELS_DIR", str(paths["models"]))
    monkeypatch.setenv("PRECIMED_AUDIT_LOG", str(paths["log"]))
    return paths


def _upload(data: bytes, name: str = "bundle.zip") -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.run()
    at.file_uploader(key="bundle_upload").set_value((name, data, "application/zip")).run()
    at.button(key="bundle_import").click().run()
    return at


def _texts(at: AppTest, kind: str) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def test_good_bundle_is_installed_and_listed(env: dict[str, Path]) -> None:
    at = _upload(_bundle())
    assert not at.exception
    [ok] = _texts(at, "success")[:1]
    assert "admin-imported" in ok and "user-supplied" in ok
    assert registry.sha256_file(SOURCE / "model.keras") in ok
    listed = at.dataframe[0].value
    assert list(listed["id"]) == ["admin-imported"]
    assert (env["models"] / "admin-imported" / "card.json").is_file()
    # the import itself is audited
    assert json.loads(env["log"].read_text().splitlines()[-1])["action"] == "import"


def test_lambda_model_is_refused_with_a_message(env: dict[str, Path], tmp_path: Path) -> None:
    import keras

    inp = keras.Input((30,), name="x")
    lam = keras.layers.Lambda(lambda t: t * 2.0)(inp)
    path = tmp_path / "lambda.keras"
    keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(lam)).save(path)
    at = _upload(_bundle(path.read_bytes()), "evil.zip")
    assert not at.exception and not at.success
    assert any("Lambda layer" in e for e in _texts(at, "error"))
    assert not env["models"].exists() or not any(env["models"].iterdir())


class _Fake:
    id, version, card = "m", "1.0.0", {"weights_sha256": "b" * 64}


def test_audit_view_shows_lines_and_chain_status(env: dict[str, Path]) -> None:
    for k in range(3):
        audit.record("predict", _Fake(), np.full((1, 2), k, "float32"), {"rows": 1})
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert any("Hash chain intact: 3 line(s)" in s for s in _texts(at, "success"))
    log_view = at.dataframe[-1].value
    assert list(log_view["seq"]) == [3, 2, 1] and set(log_view["who"]) == {"anonymous"}
    lines = env["log"].read_text().splitlines()
    lines[1] = lines[1].replace('"rows":1', '"rows":9')
    env["log"].write_text("\n".join(lines) + "\n")
    at.run()
    assert any("broken at line 2 of 3" in e for e in _texts(at, "error"))


def test_audit_off_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRECIMED_AUDIT_LOG", raising=False)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    assert any("Auditing is off" in s for s in _texts(at, "info"))


