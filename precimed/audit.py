"""Audit log: an append-only, hash-chained JSON-lines record of every prediction and explanation.

Enabled by ``PRECIMED_AUDIT_LOG``: a file path, or ``default`` for
``~/.local/share/precimed/audit.jsonl``; unset, empty or ``off`` disables it (the default, so
that nothing about a patient reaches the disk unless the operator chooses to keep a trail).

Each line is one JSON object with sorted keys::

    {"seq": 7, "time": "2026-11-25T23:40:00.123456Z", "who": "ana@example.org",
     "action": "predict", "model": {"id", "version", "weights_sha256", "user_supplied"},
     "input": {"fingerprint": "sha256:…", "shape": [1, 80]}, "output": …,
     "prev": "<hash of line 6>", "hash": "<SHA-256 of this line without its hash field>"}

The input is recorded only as a fingerprint: the SHA-256 of the model-ready input (the
card's features, encoded), never the values or any identifier column. ``who`` is the user set
with :func:`set_actor` (the app sets the logged-in user when OIDC login is on), else
``cli:<account>`` for the command line, else ``anonymous``.

Editing, inserting, deleting or reordering a line breaks the chain at that line, which
:func:`verify` reports. Cutting lines off the *end* leaves a valid shorter chain: to detect that,
keep the head hash (shown by ``precimed audit verify`` and the admin page) somewhere else.

Example:
    >>> import os, tempfile, numpy as np
    >>> os.environ["PRECIMED_AUDIT_LOG"] = tempfile.mktemp(suffix=".jsonl")
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

from precimed.errors import PrecimedInputError
from precimed.userdata import user_data_dir

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


def fingerprint(x: Any) -> str:
    """``sha256:<hex>`` of a model-ready array (dtype, shape and bytes) or of raw bytes."""
    digest = hashlib.sha256()
    if isinstance(x, (bytes, bytearray, memoryview)):
        digest.update(bytes(x))
    else:
        arr = np.ascontiguousarray(x)
        digest.update(f"{arr.dtype.str}{arr.shape}".encode())
        digest.update(arr.tobytes())
    return "sha256:" + digest.hexdigest()


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


def line_hash(entry: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``entry`` without its ``hash`` field."""
    return hashlib.sha256(_canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


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


def append(entry: dict[str, Any], path: Path | None = None) -> dict[str, Any]:
    """Chain ``entry`` to the log's last line and append it (file lock + fsync).

    Returns:
        The line written, with ``seq``, ``prev`` and ``hash``.

    Raises:
        PrecimedInputError: the log cannot be written or its last line is damaged (auditing
            fails closed: no record, no result).
    """
    path = path or log_path()
    if path is None:
        raise PrecimedInputError("auditing is off", expected=f"{ENV} set to a file path")
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
                        seq, prev = int(before["seq"]) + 1, str(before["hash"])
                    except (ValueError, KeyError, TypeError):
                        raise PrecimedInputError(
                            f"the last line of the audit log {path} is damaged",
                            expected="an intact log; see `precimed audit verify`") from None
                line = {**_clean(entry), "seq": seq, "prev": prev}
                line["hash"] = line_hash(line)
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
    shape = list(np.shape(model_input)) if not isinstance(model_input, (bytes, bytearray)) else None
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "who": current_actor(),
        "action": action,
        "model": {"id": str(bundle.id), "version": str(bundle.version),
                  "weights_sha256": str(card.get("weights_sha256", "")),
                  "user_supplied": bool(card.get("user_supplied", False))},
        "input": {"fingerprint": fingerprint(model_input), "shape": shape},
        "output": output,
    }
    return append(entry, path)


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
    """Outcome of :func:`verify`. ``first_bad_line`` is 1-based; ``head`` the last good hash."""

    log: str
    lines: int
    ok: bool
    first_bad_line: int | None
    reason: str | None
    head: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as fh:
        yield from enumerate(fh, start=1)


def verify(path: Path | str | None = None) -> VerifyResult:
    """Check every line's own hash, its link to the previous line and its sequence number.

    Raises:
        PrecimedInputError: no log configured or the file does not exist.

    Example:
        >>> verify("/nonexistent.jsonl")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        precimed.errors.PrecimedInputError: /nonexistent.jsonl: no such audit log
    """
    target = Path(path) if path else log_path()
    if target is None:
        raise PrecimedInputError("no audit log given and auditing is off",
                                 expected=f"--log FILE or {ENV} set to a file path")
    if not target.is_file():
        raise PrecimedInputError(f"{target}: no such audit log", expected="an existing file")
    prev, seq, count = GENESIS, 0, 0

    def bad(n: int, why: str) -> VerifyResult:
        total = sum(1 for _ in _lines(target))
        return VerifyResult(str(target), total, False, n, why, prev)

    for number, raw in _lines(target):
        count = number
        if not raw.endswith(b"\n"):
            return bad(number, "the line is incomplete (no newline: an interrupted write?)")
        try:
            entry = json.loads(raw)
        except ValueError:
            return bad(number, "the line is not valid JSON")
        if not isinstance(entry, dict) or not isinstance(entry.get("hash"), str):
            return bad(number, "the line has no hash field")
        if line_hash(entry) != entry["hash"]:
            return bad(number, "the line's content does not match its hash (edited)")
        if entry.get("prev") != prev:
            return bad(number, "the line does not chain to the previous one (a line was "
                       "deleted, inserted or reordered)")
        if entry.get("seq") != seq + 1:
            return bad(number, f"sequence number {entry.get('seq')} where {seq + 1} was expected")
        prev, seq = entry["hash"], seq + 1
    return VerifyResult(str(target), count, True, None, None, prev)


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
