"""Audit log: the chain verifies, detects an edited/deleted/reordered line, and the engine's
prediction and explanation calls each append one identifier-free line."""

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
    assert all(b["prev"] == a["hash"] for a, b in zip(lines, lines[1:], strict=False))
    first = lines[0]
    assert first["model"] == {"id": "demo-model", "version": "1.2.3", "weights_sha256": "a" * 64,
                              "user_supplied": False}
    assert first["who"] == "anonymous" and first["action"] == "predict"
    assert first["input"]["fingerprint"].startswith("sha256:") and first["input"]["shape"] == [1, 4]
    assert first["time"].endswith("Z")
    result = audit.verify(log)
    assert result.ok and result.lines == 5 and result.head == lines[-1]["hash"]


def test_edited_line_is_detected_at_that_line(log: Path) -> None:
    _write(4)
    lines = _lines(log)
    lines[2] = lines[2].replace('"k":2', '"k":7')
    log.write_text("\n".join(lines) + "\n")
    result = audit.verify(log)
    assert not result.ok and result.first_bad_line == 3 and "edited" in (result.reason or "")


def test_rehashed_edit_breaks_the_next_link(log: Path) -> None:
    _write(4)
    entries = [json.loads(x) for x in _lines(log)]
    entries[1]["who"] = "mallory"
    entries[1]["hash"] = audit.line_hash(entries[1])  # a forger recomputes this line's hash
    log.write_text("".join(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n"
                           for e in entries))
    result = audit.verify(log)
    assert not result.ok and result.first_bad_line == 3 and "chain" in (result.reason or "")


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
    ok = cli("audit", "verify", "--log", str(log), "--json")
    assert ok.code == 0, ok.stderr
    assert ok.json()["ok"] is True and ok.json()["lines"] == 3
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
