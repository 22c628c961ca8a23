"""Safe, in-memory extraction of uploaded zip archives (a DICOM series or study).

Nothing is written to disk. An archive is refused as a whole when it looks hostile: an entry
name that climbs out of the archive (``..``, an absolute path, a drive letter), a symbolic
link, too many entries, too much uncompressed data, or a compression ratio no DICOM file
reaches (a zip bomb). Sizes are checked twice: from the zip headers before anything is
inflated, and again while reading, because a crafted header can understate an entry's size.

The zip format is PKWARE's APPNOTE; ``zipfile`` parses it. What ``zipfile`` does not do is
refuse hostile archives (its docs warn about exactly this), so that part is written here.

Example:
    >>> import io, zipfile
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as zf:
    ...     zf.writestr("series/IM1.dcm", b"x" * 10)
    >>> [(m.name, len(m.data)) for m in read_zip(buf.getvalue(), "upload.zip")]
    [('series/IM1.dcm', 10)]
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath

from precimed.errors import DicomInputError

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # local file header; empty archive
_CHUNK = 1 << 20
# Entries that archivers add and that are never DICOM: skipped without a message.
_JUNK_PARTS = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}


@dataclass(frozen=True)
class ZipLimits:
    """Limits on an uploaded archive.

    Attributes:
        max_entries: files in the archive (a CT study is a few thousand slices at most).
        max_total_bytes: uncompressed bytes of all entries together.
        max_entry_bytes: uncompressed bytes of one entry.
        max_ratio: uncompressed / compressed size of one entry; DICOM images rarely exceed
            20, constant test patterns reach a few hundred, bombs reach thousands.
        ratio_floor_bytes: entries smaller than this are exempt from the ratio check (a tiny
            entry cannot exhaust memory, however well it compresses).
    """

    max_entries: int = 4096
    max_total_bytes: int = 1 << 30
    max_entry_bytes: int = 512 << 20
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 1 << 20


DEFAULT_LIMITS = ZipLimits()


@dataclass(frozen=True)
class Member:
    """One extracted file: its path inside the archive and its bytes."""

    name: str
    data: bytes


def is_zip(data: bytes) -> bool:
    """True if ``data`` starts like a zip archive."""
    return data[:4] in ZIP_MAGIC


def _check_name(name: str, archive: str) -> str | None:
    """The normalised entry name, ``None`` for junk entries; refuses names that escape."""
    if not name:
        raise DicomInputError(f"{archive}: an entry has an empty name",
                              expected="a plain zip of DICOM files")
    if "\x00" in name:
        raise DicomInputError(f"{archive}: entry name {name!r} contains a NUL byte",
                              expected="a plain zip of DICOM files")
    unified = name.replace("\\", "/")
    path = PurePosixPath(unified)
    if (unified.startswith("/") or (len(unified) > 1 and unified[1] == ":")
            or any(part == ".." for part in path.parts)):
        raise DicomInputError(
            f"{archive}: entry '{name}' points outside the archive (path traversal); "
            "the archive was refused", expected="relative paths inside the zip")
    if any(part in _JUNK_PARTS or part.startswith("._") for part in path.parts):
        return None
    return "/".join(p for p in path.parts if p not in ("", "."))


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def plan_zip(zf: zipfile.ZipFile, archive: str, limits: ZipLimits) -> list[tuple[str, zipfile.ZipInfo]]:
    """Check the central directory against ``limits`` before inflating anything.

    Returns:
        (normalised name, info) for every file entry worth reading.

    Raises:
        DicomInputError: naming the archive, the offending entry and the limit.
    """
    infos = zf.infolist()
    files = [i for i in infos if not i.filename.endswith("/")]  # is_dir() fails on "" (fuzz)
    if len(files) > limits.max_entries:
        raise DicomInputError(f"{archive}: {len(files)} entries in the archive",
                              expected=f"at most {limits.max_entries} files per zip")
    declared = 0
    planned: list[tuple[str, zipfile.ZipInfo]] = []
    for info in files:
        name = _check_name(info.filename, archive)
        if _is_symlink(info):
            raise DicomInputError(f"{archive}: entry '{info.filename}' is a symbolic link; "
                                  "the archive was refused", expected="regular files only")
        if name is None:
            continue
        if info.file_size > limits.max_entry_bytes:
            raise DicomInputError(
                f"{archive}: entry '{name}' would unpack to {info.file_size:,} bytes",
                expected=f"at most {limits.max_entry_bytes:,} bytes per file")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= limits.ratio_floor_bytes and ratio > limits.max_ratio:
            raise DicomInputError(
                f"{archive}: entry '{name}' has a compression ratio of {ratio:,.0f}:1 "
                "(a zip bomb?); the archive was refused",
                expected=f"a ratio of at most {limits.max_ratio:g}:1")
        declared += info.file_size
        if declared > limits.max_total_bytes:
            raise DicomInputError(
                f"{archive}: the archive would unpack to more than {limits.max_total_bytes:,} bytes",
                expected="a smaller series, or several uploads")
        planned.append((name, info))
    return planned


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, archive: str,
                 budget: int, limits: ZipLimits) -> bytes:
    """Inflate one entry in chunks, stopping as soon as it exceeds what its header declared,
    the per-entry limit, the remaining total budget or the ratio limit."""
    cap = min(info.file_size, limits.max_entry_bytes, budget)
    out = bytearray()
    with zf.open(info) as fh:
        while chunk := fh.read(_CHUNK):
            out += chunk
            if len(out) > cap:
                raise DicomInputError(
                    f"{archive}: entry '{name}' unpacks to more than its header declares or the "
                    "limits allow; the archive was refused",
                    expected=f"at most {cap:,} bytes for this entry")
            if (len(out) >= limits.ratio_floor_bytes
                    and len(out) / max(info.compress_size, 1) > limits.max_ratio):
                raise DicomInputError(
                    f"{archive}: entry '{name}' inflates beyond a {limits.max_ratio:g}:1 ratio "
                    "(a zip bomb?); the archive was refused",
                    expected=f"a ratio of at most {limits.max_ratio:g}:1")
    return bytes(out)


@dataclass(frozen=True)
class EntryError:
    """An entry that could not be read (it is reported; the rest still load)."""

    name: str
    reason: str


def read_zip(data: bytes, archive: str, limits: ZipLimits = DEFAULT_LIMITS,
             errors: list[EntryError] | None = None) -> list[Member]:
    """Extract every file of a zip archive into memory, safely.

    Args:
        data: the archive's bytes.
        archive: its name, for messages.
        limits: see :class:`ZipLimits`.
        errors: if given, entries that fail on their own (encrypted, CRC error) are appended
            here and skipped; hostile archives still raise.

    Returns:
        The members in archive order.

    Raises:
        DicomInputError: not a zip, or refused by the limits (the message says which).
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    # NotImplementedError: an entry needing a newer zip version than Python reads (tests/fuzz)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        raise DicomInputError(f"{archive}: not a readable zip archive ({exc})",
                              expected="a .zip of DICOM files") from None
    members: list[Member] = []
    with zf:
        planned = plan_zip(zf, archive, limits)
        budget = limits.max_total_bytes
        for name, info in planned:
            if info.flag_bits & 0x1:
                reason = "the entry is encrypted (expected: an unencrypted zip)"
                if errors is None:
                    raise DicomInputError(f"{archive}: {name}: {reason}")
                errors.append(EntryError(name, reason))
                continue
            try:
                blob = _read_member(zf, info, name, archive, budget, limits)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                    RuntimeError, ValueError) as exc:  # ValueError: negative seek (tests/fuzz)
                reason = f"the entry is damaged ({type(exc).__name__}: {exc})"
                if errors is None:
                    raise DicomInputError(f"{archive}: {name}: {reason}") from None
                errors.append(EntryError(name, reason))
                continue
            budget -= len(blob)
            members.append(Member(name, blob))
    return members
