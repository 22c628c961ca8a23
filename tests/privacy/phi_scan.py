"""Search files for a PHI canary token: raw bytes, and inside zip, gzip, Parquet and PDF streams.

Used by ``tests/privacy/test_phi_canary.py`` and ``tests/load/test_load.py`` (a busy real server).
"""

from __future__ import annotations

import gzip
import io
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOME_SKIP = {".claude", ".ssh", ".pyenv", ".rustup", ".cargo", ".m2", ".npm"}
MAX_SCAN_BYTES = 512 << 20


def _variants(token: str) -> list[bytes]:
    return [token.encode(), token.lower().encode(), token.encode("utf-16-le"),
            token.encode("utf-16-be")]


def holds_token(data: bytes, token: str, depth: int = 0) -> bool:
    """The token in raw bytes, or inside zip members, gzip, Parquet text or PDF streams."""
    if any(v in data for v in _variants(token)):
        return True
    if depth > 2:
        return False
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                return any(holds_token(zf.read(i)[:MAX_SCAN_BYTES], token, depth + 1)
                           for i in zf.infolist() if i.file_size <= MAX_SCAN_BYTES)
        # EOFError: a zip another process is still writing (its raw bytes were searched above)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error, NotImplementedError):
            return False
    if data[:2] == b"\x1f\x8b":
        try:
            return holds_token(gzip.decompress(data)[:MAX_SCAN_BYTES], token, depth + 1)
        except (OSError, EOFError, zlib.error):
            return False
    if data[:4] == b"PAR1":
        import pyarrow.parquet as pq

        try:
            return token in str(pq.read_table(io.BytesIO(data)).to_pylist())
        except Exception:  # noqa: BLE001 - not a readable Parquet file: bytes were searched
            return False
    if data[:5] == b"%PDF-":  # page content is Flate-compressed
        for stream in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
            try:
                if holds_token(zlib.decompress(stream.group(1)), token, depth + 1):
                    return True
            except zlib.error:
                continue
    return False


def _roots(full: bool) -> list[Path]:
    home = Path.home()
    homes = [p for p in home.iterdir() if p.name not in HOME_SKIP] if full else \
        [home / n for n in (".streamlit", ".cache", ".keras", ".precimed", ".config", ".local")]
    return [ROOT, Path(tempfile.gettempdir()), *homes]


def written_since(since: float, *, full: bool = False) -> Iterator[Path]:
    """Files under the repository, the temporary folder and the home directory's folders whose
    content or metadata changed since ``since`` (``full``: every home folder but toolchains)."""
    seen: set[Path] = set()
    for root in _roots(full):
        if not root.exists():
            continue
        walk = [(str(root.parent), [], [root.name])] if root.is_file() else os.walk(root)
        for folder, dirs, files in walk:
            dirs[:] = [d for d in dirs if d not in (".git", "proc") and not
                       (Path(folder) == Path.home() and d in HOME_SKIP)]
            for name in files:
                path = Path(folder, name)
                try:
                    st = path.lstat()
                except OSError:
                    continue
                if not path.is_symlink() and max(st.st_mtime, st.st_ctime) >= since \
                        and path not in seen:
                    seen.add(path)
                    yield path


def leaks(token: str, since: float, allowed: set[Path], *, full: bool = False) -> list[Path]:
    """Files written since ``since`` (other than ``allowed``) that hold the token."""
    found = []
    for path in written_since(since, full=full):
        if path in allowed:
            continue
        try:
            if path.stat().st_size > MAX_SCAN_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if holds_token(data, token):
            found.append(path)
    return found
