"""Audit log: an append-only JSON-lines record of every prediction and explanation, each line
sealed by an HMAC-SHA256 under a key held apart from the log and chained to the line before.

Enabled by ``PRECIMED_AUDIT_LOG``: a file path, or ``default`` for
``~/.local/share/precimed/audit.jsonl``; unset, empty or ``off`` disables it (the default, so
that nothing about a patient reaches the disk unless the operator chooses to keep a trail). The
key is ``PRECIMED_AUDIT_KEY`` or a 0600 key file outside the log's folder
(:mod:`precimed.audit_key`), created when a new log starts.

Each line is one JSON object with sorted keys::

    {"seq": 7, "time": "2026-11-25T23:40:00.123456Z", "who": "ana@example.org",
     "action": "predict", "event_action": "E", "outcome": 0,
     "source": {"host": "ward-ws-3", "app": "precimed 0.1.0"},
     "model": {"id", "version", "weights_sha256", "user_supplied"},
     "input": {"fingerprint": "hmac-sha256:…", "shape": [1, 80]}, "output": …,
     "key_id": "a7a2e84a7ab4de5a", "prev": "<MAC of line 6>",
     "mac": "<HMAC-SHA256(key, canonical JSON of this line without its mac)>"}

Why keyed: with a plain hash chain, anyone who can write the file can edit a line and recompute
every hash after it. Here a line's MAC needs the key, so an edited, inserted or forged line
fails :func:`verify` at that line even when every MAC after it was "recomputed" with another
key or none; a deleted or reordered line breaks the next line's ``prev``. Cutting lines off the
*end* leaves a valid shorter chain: record :func:`head` elsewhere (``precimed audit head``)
and check with ``verify(head=...)``, which then reports the truncation.

The input is recorded only as a keyed fingerprint, HMAC-SHA256(key, dtype, shape and bytes of
the model-ready input), never the values or any identifier column: without the key, someone
holding a patient's record cannot confirm that it was scored by recomputing the fingerprint.

Standards this follows, where they fit:

- NIST SP 800-92 (Guide to Computer Security Log Management): entries carry timestamp (UTC),
  event type, source, user and outcome (§2.1, §4.2); integrity by keyed message digests with
  the key stored apart from the log (§4.3, §5.4); logging fails closed (no record, no result).
- DICOM PS3.15 Annex A.5 (Audit Trail Message Format Profile, after RFC 3881): ``time`` is
  EventDateTime, ``action`` the EventID (predict/explain/score ~ DCM 110112 Query, import ~
  DCM 110110 Patient Record / Application Activity), ``event_action`` the EventActionCode
  (C, R, U, D, E), ``outcome`` the EventOutcomeIndicator (0 success; failures raise before a
  line is written), ``who`` the ActiveParticipant UserID (the requestor), ``source.host`` the
  AuditSourceID, ``model`` and ``input`` the ParticipantObjectIdentification (the object is
  named by a keyed fingerprint, not a patient ID, to keep the log free of identifiers). The
  lines are JSON, not the profile's XML schema, and are not sent to a syslog audit repository
  (PS3.15 A.5 does not require a transport; export them if an audit repository needs them).

Example:
    >>> import os, tempfile, numpy as np
    >>> os.environ["PRECIMED_AUDIT_LOG"] = tempfile.mktemp(suffix=".jsonl")
    >>> os.environ["PRECIMED_AUDIT_KEY"] = "doctest-key-" + "x" * 32
    >>> class B: id, version, card = "m", "1.0.0", {"weights_sha256": "0" * 64}
    >>> _ = record("predict", B(), np.zeros((1, 3), "float32"), {"rows": 1})
    >>> verify().ok
    True
"""

from __future__ import annotations

import contextvars
import getpass
import hashlib
import json
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from precimed.audit_key import KEY_ENV, KEY_FILE_ENV, AuditKey, AuditKeyError, load_key
from precimed.errors import PrecimedInputError
from precimed.userdata import user_data_dir

__all__ = ["ENV", "KEY_ENV", "KEY_FILE_ENV", "AuditKeyError", "VerifyResult", "append",
           "fingerprint", "head", "line_mac", "load_key", "log_path", "read_entries", "record",
           "set_actor", "verify"]

ENV = "PRECIMED_AUDIT_LOG"
GENESIS = "0" * 64
MAX_ROWS_IN_LINE = 100
_OFF = {"", "0", "off", "false", "no", "none"}
_ON_DEFAULT = {"1", "on", "true", "yes", "default"}

_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("precimed_audit_actor",
                                                                  default=None)
_write_lock = threading.Lock()


def default_log_path() -> Path:
    return user_data_dir() / "audit.jsonl"


def log_path() -> Path | None:
    """The audit log file, or ``None`` when auditing is off (see the module docstring)."""
    raw = os.environ.get(ENV, "").strip()
    if raw.lower() in _OFF:
        return None
    if raw.lower() in _ON_DEFAULT:
        return default_log_path()
    return Path(raw).expanduser()


def set_actor(who: str | None) -> contextvars.Token[str | None]:
    """Set who the following records are attributed to, in this thread/context.

    Streamlit runs each script run in its own thread, so the app sets it at the top of every run.
    """
    return _actor.set(who)


def current_actor() -> str:
    """The user set by :func:`set_actor`; else ``cli:<account>`` in the command line; else
    ``anonymous``."""
    who = _actor.get()
    if who:
        return who
    if "precimed.cli.main" in sys.modules and "streamlit" not in sys.modules:
        try:
            return f"cli:{getpass.getuser()}"
        except (KeyError, OSError):
            return "cli"
    return "anonymous"


def fingerprint(x: Any, key: AuditKey | None = None) -> str:
    """``hmac-sha256:<hex>`` of a model-ready array (dtype, shape and bytes) or of raw bytes,
    under the audit key (default: the key for the configured log, created with a new log)."""
    if key is None:
        key = _writing_key(log_path())
    if isinstance(x, (bytes, bytearray, memoryview)):
        data = bytes(x)
    else:
        arr = np.ascontiguousarray(x)
        data = f"{arr.dtype.str}{arr.shape}".encode() + arr.tobytes()
    return "hmac-sha256:" + key.mac(data)


def _writing_key(path: Path | None) -> AuditKey:
    """The key to write ``path`` with: created only when the log does not exist yet or is
    empty (a missing key for a log that has lines is an error, never a silent new key)."""
    fresh = path is None or not path.exists() or path.stat().st_size == 0
    return load_key(path, create=fresh)


def _canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False, default=_jsonable).encode("ascii")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _clean(value: Any) -> Any:
    """Non-finite floats → None (JSON has no NaN), numpy → Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def line_mac(entry: dict[str, Any], key: AuditKey) -> str:
    """HMAC-SHA256 under ``key`` of the canonical JSON of ``entry`` without its ``mac`` field."""
    return key.mac(_canonical({k: v for k, v in entry.items() if k != "mac"}))


def _source() -> dict[str, str]:
    """PS3.15 A.5 AuditSourceIdentification / NIST SP 800-92 "source": host and program."""
    import socket
    from importlib.metadata import PackageNotFoundError, version

    try:
        app = f"precimed {version('precimed')}"
    except PackageNotFoundError:
        app = "precimed"
    return {"host": socket.gethostname(), "app": app}


_EVENT_ACTION = {"import": "C"}  # RFC 3881 / PS3.15 A.5 EventActionCode; the rest execute (E)


def _last_line(fh: Any) -> bytes | None:
    """The last complete line of an open binary file (``None`` if empty)."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    if size == 0:
        return None
    block = 1 << 16
    pos, tail = size, b""
    while pos > 0:
        step = min(block, pos)
        pos -= step
        fh.seek(pos)
        tail = fh.read(step) + tail
        body = tail[:-1] if tail.endswith(b"\n") else tail
        cut = body.rfind(b"\n")
        if cut >= 0 or pos == 0:
            if not tail.endswith(b"\n"):
                raise PrecimedInputError(
                    "the audit log ends with an incomplete line (an interrupted write?)",
                    expected="a log whose lines all end in a newline; see `precimed audit verify`")
            return body[cut + 1:]
    return None


def append(entry: dict[str, Any], path: Path | None = None,
           key: AuditKey | None = None) -> dict[str, Any]:
    """Chain ``entry`` to the log's last line, seal it with its MAC and append it (file lock +
    fsync).

    Returns:
        The line written, with ``seq``, ``key_id``, ``prev`` and ``mac``.

    Raises:
        PrecimedInputError: the log cannot be written, its last line is damaged or was written
            under another key, or the key is missing (auditing fails closed: no record, no
            result).
    """
    path = path or log_path()
    if path is None:
        raise PrecimedInputError("auditing is off", expected=f"{ENV} set to a file path")
    key = key or _writing_key(path)
    import fcntl

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _write_lock, open(path, "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                last = _last_line(fh)
                if last is None:
                    seq, prev = 1, GENESIS
                else:
                    try:
                        before = json.loads(last)
                        seq, prev = int(before["seq"]) + 1, str(before["mac"])
                        written_with = before.get("key_id")
                    except (ValueError, KeyError, TypeError):
                        raise PrecimedInputError(
                            f"the last line of the audit log {path} is damaged or unkeyed",
                            expected="an intact log; see `precimed audit verify`") from None
                    if written_with != key.key_id:
                        raise AuditKeyError(
                            f"the audit log {path} was written under another key (key id "
                            f"{written_with}, this key {key.key_id})",
                            expected=f"the log's own key in {KEY_ENV} or {KEY_FILE_ENV}, or a "
                                     "new log file")
                line = {**_clean(entry), "seq": seq, "key_id": key.key_id, "prev": prev}
                line["mac"] = line_mac(line, key)
                fh.seek(0, os.SEEK_END)
                fh.write(_canonical(line) + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    except OSError as exc:
        raise PrecimedInputError(f"cannot write the audit log {path} ({exc.strerror or exc})",
                                 expected=f"a writable file path in {ENV}") from None
    return line


def record(action: str, bundle: Any, model_input: Any, output: Any) -> dict[str, Any] | None:
    """Append one audit line for a computation on ``bundle`` if auditing is on.

    Args:
        action: ``predict``, ``explain``, ``import``, …
        bundle: a :class:`precimed.registry.Bundle` (its card gives version and weights hash).
        model_input: the model-ready array (only its fingerprint is kept) or raw bytes.
        output: JSON-able result, kept as is (keep it free of identifiers).

    Returns:
        The line written, or ``None`` when auditing is off.
    """
    path = log_path()
    if path is None:
        return None
    card = bundle.card
    key = _writing_key(path)
    shape = list(np.shape(model_input)) if not isinstance(model_input, (bytes, bytearray)) else None
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "who": current_actor(),
        "action": action,
        "event_action": _EVENT_ACTION.get(action, "E"),
        "outcome": 0,
        "source": _source(),
        "model": {"id": str(bundle.id), "version": str(bundle.version),
                  "weights_sha256": str(card.get("weights_sha256", "")),
                  "user_supplied": bool(card.get("user_supplied", False))},
        "input": {"fingerprint": fingerprint(model_input, key), "shape": shape},
        "output": output,
    }
    return append(entry, path, key)


def prediction_output(predictions: list[Any]) -> dict[str, Any]:
    """What the log keeps of :func:`precimed.predict.predict_table`'s rows: per row the class and
    probabilities (up to :data:`MAX_ROWS_IN_LINE` rows, else counts per class), and the SHA-256 of
    the full result."""
    rows = [p.to_json() for p in predictions]
    digest = hashlib.sha256(json.dumps(_clean(rows), sort_keys=True).encode()).hexdigest()
    out: dict[str, Any] = {"rows": len(rows), "errors": sum(1 for r in rows if "error" in r),
                           "sha256": digest}
    if len(rows) <= MAX_ROWS_IN_LINE:
        out["predictions"] = [{"row": r["row"], "prediction": r.get("prediction"),
                               "probabilities": r.get("probabilities")} for r in rows]
    else:
        counts: dict[str, int] = {}
        for r in rows:
            if r.get("prediction") is not None:
                counts[r["prediction"]] = counts.get(r["prediction"], 0) + 1
        out["counts"] = counts
    return out


def probabilities_output(probs: Any, classes: list[str]) -> dict[str, Any]:
    """What the log keeps of a batch of class probabilities (images): per item the
    probabilities (up to :data:`MAX_ROWS_IN_LINE`), and the SHA-256 of all of them."""
    arr = np.asarray(probs, dtype="float64")
    out: dict[str, Any] = {"rows": int(arr.shape[0]),
                           "sha256": hashlib.sha256(arr.tobytes()).hexdigest()}
    if arr.shape[0] <= MAX_ROWS_IN_LINE:
        out["probabilities"] = [dict(zip(classes, map(float, row), strict=False)) for row in arr]
    return out


def explanation_output(explanations: list[Any]) -> list[dict[str, Any]]:
    """What the log keeps of explanations: row, class, output, base value and method (the
    feature values, which are patient data, are not kept)."""
    return [{"row": e.row, "class": e.class_name, "output": e.output,
             "base_value": e.base_value, "method": e.method} for e in explanations]


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`. ``first_bad_line`` is 1-based; ``head`` the last good MAC and
    ``head_seq`` its line; ``anchored_line`` the line whose MAC is the ``--head`` anchor."""

    log: str
    lines: int
    ok: bool
    first_bad_line: int | None
    reason: str | None
    head: str
    head_seq: int
    key_id: str
    key_source: str
    anchored_line: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as fh:
        yield from enumerate(fh, start=1)


def _target(path: Path | str | None) -> Path:
    target = Path(path) if path else log_path()
    if target is None:
        raise PrecimedInputError("no audit log given and auditing is off",
                                 expected=f"--log FILE or {ENV} set to a file path")
    if not target.is_file():
        raise PrecimedInputError(f"{target}: no such audit log", expected="an existing file")
    return target


def verify(path: Path | str | None = None, *, head: str | None = None,
           key: AuditKey | None = None) -> VerifyResult:
    """Check every line's MAC under the key, its link to the previous line and its sequence
    number; with ``head`` (a MAC recorded earlier by :func:`head`), also that the log still
    holds that line, which catches lines cut off the end.

    Raises:
        PrecimedInputError: no log configured or the file does not exist.
        AuditKeyError: no key is available to check with (reported as such, not as damage).

    Example:
        >>> verify("/nonexistent.jsonl")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        precimed.errors.PrecimedInputError: /nonexistent.jsonl: no such audit log
    """
    target = _target(path)
    key = key or load_key(target, create=False)
    anchor = head.strip().lower() if head else None
    prev, seq, count, anchored = GENESIS, 0, 0, None

    def bad(n: int, why: str) -> VerifyResult:
        total = sum(1 for _ in _lines(target))
        return VerifyResult(str(target), total, False, n, why, prev, seq, key.key_id, key.source,
                            anchored)

    for number, raw in _lines(target):
        count = number
        if not raw.endswith(b"\n"):
            return bad(number, "the line is incomplete (no newline: an interrupted write?)")
        try:
            entry = json.loads(raw)
        except ValueError:
            return bad(number, "the line is not valid JSON")
        if not isinstance(entry, dict) or not isinstance(entry.get("mac"), str):
            return bad(number, "the line has no MAC (edited, or an unkeyed log from an older "
                               "PreciMed)")
        if entry.get("key_id") != key.key_id:
            return bad(number, f"the line was sealed under another key (key id "
                               f"{entry.get('key_id')}, this key {key.key_id}): wrong key, or a "
                               "line forged under a key of its own")
        if line_mac(entry, key) != entry["mac"]:
            return bad(number, "the line's content does not match its MAC under the key (edited, "
                               "or forged without the key)")
        if entry.get("prev") != prev:
            return bad(number, "the line does not chain to the previous one (a line was "
                       "deleted, inserted or reordered)")
        if entry.get("seq") != seq + 1:
            return bad(number, f"sequence number {entry.get('seq')} where {seq + 1} was expected")
        prev, seq = entry["mac"], seq + 1
        if anchor is not None and prev == anchor:
            anchored = number
    if anchor is not None and anchored is None:
        return bad(count + 1, f"the recorded head {anchor[:16]}… is not in the log: lines were cut "
                              "off the end (truncated), or the log was replaced")
    return VerifyResult(str(target), count, True, None, None, prev, seq, key.key_id, key.source,
                        anchored)


def head(path: Path | str | None = None) -> VerifyResult:
    """The log's verified head (its last line's MAC): record ``.head`` somewhere the log's
    writers cannot reach, and later pass it to :func:`verify` to catch truncation."""
    return verify(path)


def read_entries(path: Path | str | None = None, *, last: int = 200) -> list[dict[str, Any]]:
    """The last ``last`` parseable lines of the log (for display); ``[]`` if there is none."""
    target = Path(path) if path else log_path()
    if target is None or not target.is_file():
        return []
    from collections import deque

    keep: deque[dict[str, Any]] = deque(maxlen=max(last, 1))
    for _, raw in _lines(target):
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if isinstance(item, dict):
            keep.append(item)
    return list(keep)
