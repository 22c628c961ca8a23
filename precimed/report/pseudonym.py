"""Pseudonymised identifiers for reports: a keyed hash (HMAC-SHA256), never the identifier.

The key is ``$PRECIMED_PSEUDONYM_KEY`` when set, else a random 32-byte secret kept in
``$PRECIMED_KEY_FILE`` (default ``~/.precimed/pseudonym.key``, created with mode 0600 on first
use), so the same patient gets the same pseudonym on every report of one installation while no one
without the key can recompute it from a name or record number (a plain hash could be reversed by
hashing a list of record numbers). If the key file cannot be written, a per-process key is used
and pseudonyms then differ between runs.

Example:
    >>> pseudonymise("MRN-0042", key=b"k" * 32)
    'PM-NJDE-WHKU-UPNE-SGPY'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

_PROCESS_KEY = secrets.token_bytes(32)


def key_file() -> Path:
    return Path(os.environ.get("PRECIMED_KEY_FILE", Path.home() / ".precimed" / "pseudonym.key"))


def installation_key() -> bytes:
    """The pseudonymisation secret (see the module docstring for where it comes from)."""
    env = os.environ.get("PRECIMED_PSEUDONYM_KEY")
    if env:
        return env.encode("utf-8")
    path = key_file()
    try:
        if path.is_file():
            data = path.read_bytes()
            if len(data) >= 16:
                return data
        path.parent.mkdir(parents=True, exist_ok=True)
        data = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return data
    except OSError:
        return _PROCESS_KEY


def pseudonymise(identifier: str, *, key: bytes | None = None) -> str:
    """``PM-XXXX-XXXX-XXXX-XXXX``: 80 bits of HMAC-SHA256(key, identifier), base32."""
    digest = hmac.new(key or installation_key(), identifier.strip().encode("utf-8"),
                      hashlib.sha256).digest()
    text = base64.b32encode(digest[:10]).decode("ascii")
    return "PM-" + "-".join(text[i:i + 4] for i in range(0, 16, 4))
