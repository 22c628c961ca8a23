"""The audit key (precimed/audit_key.py): a 0600 key file outside the log's folder, created with
a new log; refused when misplaced, open to others or too short."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest

from precimed import audit


class FakeBundle:
    id, version = "demo-model", "1.2.3"
    card = {"weights_sha256": "a" * 64}


@pytest.fixture
def keyless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """No PRECIMED_AUDIT_KEY (the suite sets one): the key file path decides."""
    paths = {"log": tmp_path / "logs" / "audit.jsonl", "key": tmp_path / "secret" / "audit.key"}
    monkeypatch.delenv(audit.KEY_ENV, raising=False)
    monkeypatch.setenv(audit.ENV, str(paths["log"]))
    monkeypatch.setenv(audit.KEY_FILE_ENV, str(paths["key"]))
    return paths


def _record() -> None:
    audit.record("predict", FakeBundle(), np.ones((1, 3), "float32"), {"rows": 1})


def test_key_file_is_created_0600_with_the_first_line(keyless: dict[str, Path]) -> None:
    assert not keyless["key"].exists()
    _record()
    info = keyless["key"].stat()
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_size == 32
    secret = keyless["key"].read_bytes()
    assert secret.hex() not in keyless["log"].read_text()  # the key is nowhere in the log
    _record()
    assert keyless["key"].read_bytes() == secret  # reused, not replaced
    result = audit.verify(keyless["log"])
    assert result.ok and result.lines == 2 and result.key_source == str(keyless["key"])
    key_id = json.loads(keyless["log"].read_text().splitlines()[0])["key_id"]
    assert key_id == audit.AuditKey(secret, "").key_id


def test_key_file_inside_the_log_folder_is_refused(keyless: dict[str, Path],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    inside = keyless["log"].parent / "audit.key"
    monkeypatch.setenv(audit.KEY_FILE_ENV, str(inside))
    with pytest.raises(audit.AuditKeyError, match="inside the log's folder"):
        _record()
    assert not inside.exists() and not keyless["log"].exists()


def test_key_file_open_to_others_is_refused(keyless: dict[str, Path]) -> None:
    _record()
    keyless["key"].chmod(0o644)
    with pytest.raises(audit.AuditKeyError, match="open to group or others"):
        audit.verify(keyless["log"])
    with pytest.raises(audit.AuditKeyError, match="chmod 600"):
        _record()


def test_short_environment_key_is_refused(keyless: dict[str, Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(audit.KEY_ENV, "short")
    with pytest.raises(audit.AuditKeyError, match="at least 32 characters"):
        _record()
    assert not keyless["log"].exists()
