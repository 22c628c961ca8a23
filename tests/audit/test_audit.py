"""Audit log: the keyed MAC chain verifies, detects an edited/inserted/deleted/reordered line (and,
with a recorded head, a truncated log), and the engine's prediction and explanation calls each
append one identifier-free line. The key's own rules are in test_audit_key.py."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from precimed import audit
from precimed.errors import PrecimedInputError
from precimed.registry import get_bundle
from precimed.samples import sample_files
from precimed.tabular.io import read_table
from precimed.tabular.validate import validate_table

MODEL = "breast-cytology-wdbc"


class FakeBundle:
    id, version = "demo-model", "1.2.3"
    card = {"weights_sha256": "a" * 64}


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "audit" / "log.jsonl"
    monkeypatch.setenv(audit.ENV, str(path))
    return path


def _write(n: int) -> None:
    for k in range(n):
        audit.record("predict", FakeBundle(), np.full((1, 4), k, "float32"), {"rows": 1, "k": k})


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(audit.ENV, raising=False)
    assert audit.log_path() is None
    assert audit.record("predict", FakeBundle(), np.zeros((1, 2)), {}) is None
    monkeypatch.setenv(audit.ENV, "off")
    assert audit.log_path() is None
    monkeypatch.setenv(audit.ENV, "default")
    assert audit.log_path() == audit.default_log_path()


def test_chain_verifies_and_lines_carry_the_fields(log: Path) -> None:
    _write(5)
    lines = [json.loads(x) for x in _lines(log)]
    assert [x["seq"] for x in lines] == [1, 2, 3, 4, 5]
    assert lines[0]["prev"] == audit.GENESIS
    assert all(b["prev"] == a["mac"] for a, b in zip(lines, lines[1:], strict=False))
    first = lines[0]
    assert first["model"] == {"id": "demo-model", "version": "1.2.3", "weights_sha256": "a" * 64,
                              "user_supplied": False}
    assert first["who"] == "anonymous" and first["action"] == "predict"
    assert first["event_action"] == "E" and first["outcome"] == 0 and first["source"]["host"]
    assert first["input"]["fingerprint"].startswith("hmac-sha256:")
    assert first["input"]["shape"] == [1, 4]
    assert first["time"].endswith("Z")
    assert {x["key_id"] for x in lines} == {audit.load_key().key_id}
    result = audit.verify(log)
    assert result.ok and result.lines == 5 and result.head == lines[-1]["mac"]
    assert result.head_seq == 5


def test_edited_line_is_detected_at_that_line(log: Path) -> None:
    _write(4)
    lines = _lines(log)
    lines[2] = lines[2].replace('"k":2', '"k":7')
    log.write_text("\n".join(lines) + "\n")
    result = audit.verify(log)
    assert not result.ok and result.first_bad_line == 3 and "edited" in (result.reason or "")


def _rewrite(path: Path, entries: list[dict]) -> None:  # type: ignore[type-arg]
    path.write_text("".join(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n"
                            for e in entries))


def _forge(entries: list[dict], start: int, guess: bytes) -> None:  # type: ignore[type-arg]
    """What an insider without the key can do: recompute the MAC of every line from ``start``
    on (with a guessed key) and relink the chain, copying the key id."""
    fake = audit.AuditKey(guess, "forger")
    for k in range(start, len(entries)):
        if k:
            entries[k]["prev"] = entries[k - 1]["mac"]
        entries[k]["mac"] = audit.line_mac(entries[k], fake)


@pytest.mark.parametrize("guess", [b"", b"precimed", b"x" * 32])
def test_forged_chain_with_every_mac_recomputed_fails(log: Path, guess: bytes) -> None:
    _write(5)
    entries = [json.loads(x) for x in _lines(log)]
    entries[1]["who"] = "mallory"
    entries[1]["output"]["k"] = 99
    _forge(entries, 1, guess)
    _rewrite(log, entries)
    result = audit.verify(log)
    assert not result.ok and result.first_bad_line == 2
    assert "does not match its MAC" in (result.reason or "")
    # the same forgery sealed under the forger's own key id is named as another key
    for e in entries:
        e["key_id"] = audit.AuditKey(guess, "forger").key_id
    _forge(entries, 0, guess)
    _rewrite(log, entries)
    result = audit.verify(log)
    assert not result.ok and result.first_bad_line == 1 and "another key" in (result.reason or "")


def test_inserted_line_is_detected_at_that_line(log: Path) -> None:
    _write(4)
    entries = [json.loads(x) for x in _lines(log)]
    extra = {**entries[1], "who": "mallory", "output": {"rows": 1, "k": 42}}
    entries.insert(2, extra)
    for k, e in enumerate(entries, start=1):
        e["seq"] = k
    _forge(entries, 2, b"guess")
    _rewrite(log, entries)
    result = audit.verify(log)
    assert not result.ok and result.first_bad_line == 3


def test_truncation_is_caught_against_a_recorded_head(log: Path) -> None:
    _write(5)
    recorded = audit.head(log)
    assert recorded.ok and recorded.head_seq == 5
    _write(2)  # the log grows after the head was recorded: still fine
    grown = audit.verify(log, head=recorded.head)
    assert grown.ok and grown.anchored_line == 5 and grown.lines == 7
    log.write_text("".join(x + "\n" for x in _lines(log)[:3]))  # lines 4-7 cut off
    assert audit.verify(log).ok  # a shorter chain is still a chain...
    cut = audit.verify(log, head=recorded.head)  # ...but not the one whose head was recorded
    assert not cut.ok and cut.first_bad_line == 4 and "cut off the end" in (cut.reason or "")


def test_wrong_or_missing_key_is_reported_as_such(log: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _write(3)
    monkeypatch.setenv(audit.KEY_ENV, "another-key-of-sufficient-length-000000")
    wrong = audit.verify(log)
    assert not wrong.ok and wrong.first_bad_line == 1 and "wrong key" in (wrong.reason or "")
    with pytest.raises(audit.AuditKeyError, match="another key"):
        _write(1)  # nor is a line appended under another key
    monkeypatch.delenv(audit.KEY_ENV)
    monkeypatch.setenv(audit.KEY_FILE_ENV, str(tmp_path / "keys" / "absent.key"))
    with pytest.raises(audit.AuditKeyError, match="no audit key"):
        audit.verify(log)
    with pytest.raises(audit.AuditKeyError, match="no audit key"):
        _write(1)  # a log that has lines never gets a fresh key silently
    assert not (tmp_path / "keys" / "absent.key").exists() and len(_lines(log)) == 3


def test_fingerprints_are_keyed(log: Path) -> None:
    import hashlib

    x = np.arange(6, dtype="float32").reshape(1, 6)
    audit.record("predict", FakeBundle(), x, {"rows": 1})
    text = log.read_text()
    arr = np.ascontiguousarray(x)
    plain = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode() + arr.tobytes()).hexdigest()
    assert plain not in text  # the unkeyed digest of the record cannot be looked up
    other = audit.AuditKey(b"y" * 32, "other")
    assert audit.fingerprint(x) in text and audit.fingerprint(x, other) not in text


@pytest.mark.parametrize("damage", ["delete", "swap", "truncate_mid_line"])
def test_deleted_reordered_or_torn_lines_are_detected(log: Path, damage: str) -> None:
    _write(4)
    lines = _lines(log)
    if damage == "delete":
        del lines[1]
        text = "\n".join(lines) + "\n"
    elif damage == "swap":
        lines[1], lines[2] = lines[2], lines[1]
        text = "\n".join(lines) + "\n"
    else:
        text = "\n".join(lines) + "\n" + lines[0][:30]
    log.write_text(text)
    result = audit.verify(log)
    assert not result.ok and result.first_bad_line == (5 if damage == "truncate_mid_line" else 2)
    if damage == "truncate_mid_line":
        with pytest.raises(PrecimedInputError, match="incomplete line"):
            _write(1)  # fails closed: no new record on a damaged log


def test_concurrent_writers_keep_one_chain(log: Path) -> None:
    threads = [threading.Thread(target=_write, args=(10,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert audit.verify(log).ok and len(_lines(log)) == 40


def test_actor_context_variable(log: Path) -> None:
    token = audit.set_actor("ana@example.org")
    try:
        line = audit.record("explain", FakeBundle(), b"abc", [])
    finally:
        audit.set_actor(None)
    assert line is not None and line["who"] == "ana@example.org"
    del token


def test_unwritable_log_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv(audit.ENV, str(blocker / "log.jsonl"))
    with pytest.raises(PrecimedInputError, match="cannot write the audit log"):
        _write(1)


def test_engine_predict_and_explain_append_identifier_free_lines(log: Path) -> None:
    from precimed.explain.tabular import explain_rows
    from precimed.predict import predict_table

    bundle = get_bundle(MODEL)
    raw = read_table(sample_files(MODEL)[0])
    raw.insert(0, "patient_name", [f"Canary^Name{k}" for k in range(len(raw))])
    table = validate_table(raw, bundle.card)
    preds = predict_table(bundle, table)
    [expl] = explain_rows(bundle, table, [0])
    text = log.read_text()
    assert "Canary" not in text
    pred_line, expl_line = (json.loads(x) for x in text.splitlines())
    assert pred_line["action"] == "predict" and expl_line["action"] == "explain"
    assert pred_line["model"]["weights_sha256"] == bundle.card["weights_sha256"]
    assert pred_line["output"]["rows"] == len(preds)
    assert pred_line["output"]["predictions"][0]["prediction"] == preds[0].prediction
    assert expl_line["output"][0]["output"] == pytest.approx(expl.output)
    # the fingerprint is that of the model input: the same table gives the same fingerprint
    predict_table(bundle, validate_table(raw.drop(columns=["patient_name"]), bundle.card))
    third = json.loads(log.read_text().splitlines()[2])
    assert third["input"]["fingerprint"] == pred_line["input"]["fingerprint"]
    assert audit.verify(log).ok


def test_cli_verify(log: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _write(3)
    head = cli("audit", "head", "--log", str(log))
    assert head.code == 0, head.stderr
    assert head.stdout.strip() == json.loads(_lines(log)[-1])["mac"]
    _write(1)
    ok = cli("audit", "verify", "--log", str(log), "--head", head.stdout.strip(), "--json")
    assert ok.code == 0, ok.stderr
    assert ok.json()["ok"] is True and ok.json()["lines"] == 4 and ok.json()["anchored_line"] == 3
    log.write_text("".join(x + "\n" for x in _lines(log)[:2]))
    cut = cli("audit", "verify", "--log", str(log), "--head", head.stdout.strip())
    assert cut.code == 2 and "line 3" in cut.stderr and "cut off the end" in cut.stderr
    _write(1)
    lines = _lines(log)
    lines[1] = lines[1].replace('"rows":1', '"rows":2')
    log.write_text("\n".join(lines) + "\n")
    bad = cli("audit", "verify", "--log", str(log), "--json")
    assert bad.code == 2
    assert bad.json()["first_bad_line"] == 2
    assert bad.stderr.strip().startswith("error: audit log") and "line 2" in bad.stderr
    assert "Traceback" not in bad.stderr
    shown = cli("audit", "show", "--log", str(log), "--last", "2", "--json")
    assert [r["seq"] for r in shown.json()] == [2, 3]
    missing = cli("audit", "verify", "--log", str(log.parent / "nope.jsonl"))
    assert missing.code == 2 and "no such audit log" in missing.stderr


def test_imaging_predict_and_explain_are_audited(log: Path) -> None:
    from precimed.registry import list_bundles

    images = [b for b in list_bundles() if b.modality == "image"]
    if not images:
        pytest.skip("no image model is installed")
    from precimed.imaging import explain_image, predict_images

    bundle = images[0]
    image = np.random.default_rng(0).normal(size=(64, 64)).astype("float32")
    probs = predict_images(bundle, [image])
    expl = explain_image(bundle, image, nsamples=16)
    pred_line, expl_line = (json.loads(x) for x in log.read_text().splitlines())
    assert pred_line["action"] == "predict" and pred_line["model"]["id"] == bundle.id
    assert pred_line["output"]["probabilities"][0] == pytest.approx(
        dict(zip(bundle.classes, probs[0].tolist(), strict=True)))
    assert expl_line["action"] == "explain" and expl_line["output"]["class"] == expl.class_name
    assert expl_line["output"]["output"] == pytest.approx(expl.output)
    assert audit.verify(log).ok
