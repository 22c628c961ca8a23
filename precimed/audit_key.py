"""The audit trail's secret key, held apart from the log (NIST SP 800-92 §4.3: protect the
integrity of logs with keyed message digests whose keys the log's writers cannot reach).

Where the key comes from, in order:

1. ``PRECIMED_AUDIT_KEY``: the key itself (at least 32 characters, e.g. the output of
   ``python -c "import secrets; print(secrets.token_hex(32))"``), for a deployment that keeps
   secrets in its environment or a secrets manager;
2. a key file, ``PRECIMED_AUDIT_KEY_FILE`` (default ``$XDG_CONFIG_HOME/precimed/audit.key``,
   i.e. ``~/.config/precimed/audit.key``): 32 random bytes, created with mode 0600 when the
   first line of a new log is written. It must not sit inside the log's folder (whoever may
   write the log must not also find the key there), and it must not be readable by group or
   others; both are refused, not silently accepted.

A key is named in each log line by its *key id*: the first 16 hex digits of
HMAC-SHA256(key, ``"precimed-audit-key-id"``), which identifies the key without revealing it,
so that :func:`precimed.audit.verify` can say "wrong key" rather than "edited".

Example:
    >>> k = AuditKey(b"k" * 32, "test")
    >>> k.key_id
    'a7a2e84a7ab4de5a'
    >>> len(k.mac(b"line"))
    64
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from precimed.errors import PrecimedInputError

KEY_ENV = "PRECIMED_AUDIT_KEY"
KEY_FILE_ENV = "PRECIMED_AUDIT_KEY_FILE"
MIN_KEY_BYTES = 32
_KEY_ID_LABEL = b"precimed-audit-key-id"


class AuditKeyError(PrecimedInputError):
    """The audit key is missing, too short, badly placed or readable by others."""


@dataclass(frozen=True)
class AuditKey:
    """The secret (never printed: it is left out of ``repr``) and where it came from."""

    secret: bytes = field(repr=False)
    source: str

    @property
    def key_id(self) -> str:
        return hmac.new(self.secret, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]

    def mac(self, data: bytes) -> str:
        """HMAC-SHA256 of ``data`` under this key, as 64 hex digits."""
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()


def default_key_file() -> Path:
    """``$XDG_CONFIG_HOME/precimed/audit.key``, else ``~/.config/precimed/audit.key``: a
    configuration folder, apart from the data folder where the log lives by default."""
    base = os.environ.get("XDG_CONFIG_HOME", "").strip()
    root = Path(base).expanduser() if base else Path.home() / ".config"
    return root / "precimed" / "audit.key"


def key_file() -> Path:
    raw = os.environ.get(KEY_FILE_ENV, "").strip()
    return Path(raw).expanduser() if raw else default_key_file()


def _check_placement(path: Path, log: Path | None) -> None:
    if log is None:
        return
    folder = log.expanduser().resolve().parent
    where = path.resolve()
    if where.parent == folder or folder in where.parents:
        raise AuditKeyError(
            f"the audit key file {path} is inside the log's folder {folder}",
            expected=f"a key file elsewhere ({KEY_FILE_ENV}) or the key in {KEY_ENV}")


def _read_file(path: Path) -> AuditKey:
    info = path.stat()
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuditKeyError(
            f"the audit key file {path} is open to group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o})", expected=f"mode 0600: chmod 600 {path}")
    data = path.read_bytes()
    if len(data) < MIN_KEY_BYTES:
        raise AuditKeyError(f"the audit key file {path} holds {len(data)} bytes",
                            expected=f"at least {MIN_KEY_BYTES} bytes")
    return AuditKey(data, str(path))


def load_key(log: Path | None = None, *, create: bool = False) -> AuditKey:
    """The audit key (see the module docstring).

    Args:
        log: the log the key is for (a key file inside its folder is refused).
        create: make the key file if it does not exist (only when a new log starts: a
            missing key for an existing log is an error, never a silent new key).

    Raises:
        AuditKeyError: no key (and ``create`` is false), a short key, a key file in the log's
            folder or readable by others, or a key file that cannot be written.
    """
    env = os.environ.get(KEY_ENV)
    if env is not None and env.strip():
        secret = env.strip().encode("utf-8")
        if len(secret) < MIN_KEY_BYTES:
            raise AuditKeyError(f"{KEY_ENV} holds {len(secret)} characters",
                                expected=f"a secret of at least {MIN_KEY_BYTES} characters")
        return AuditKey(secret, KEY_ENV)
    path = key_file()
    _check_placement(path, log)
    try:
        if path.is_file():
            return _read_file(path)
        if not create:
            raise AuditKeyError(
                f"no audit key: {KEY_ENV} is unset and the key file {path} does not exist",
                expected=f"the key the log was written with, in {KEY_ENV} or {KEY_FILE_ENV}")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return _read_file(path)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(MIN_KEY_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
        return _read_file(path)
    except OSError as exc:
        raise AuditKeyError(f"cannot read or create the audit key file {path} "
                            f"({exc.strerror or exc})",
                            expected=f"a readable key file ({KEY_FILE_ENV}) or {KEY_ENV}") from None
