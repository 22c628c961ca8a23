"""Read DICOM files (one file, a multi-frame file, a zip, a DICOMDIR) into :class:`ImageFrame` s.

Decoding uses pydicom's pixel decoders, which with pylibjpeg, pylibjpeg-libjpeg,
pylibjpeg-openjpeg and pylibjpeg-rle installed cover every transfer syntax pydicom supports
(uncompressed, deflated, RLE, JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000). This module
parses bytes (with the deflate-bomb and size guards), zips and DICOMDIRs;
:mod:`precimed.dicom.decode` turns a parsed data set into frames (LUTs, colour, per-frame
functional groups).

Everything that cannot become an image (SR, RTPLAN, waveforms, no pixel data, corrupt or
truncated data, a transfer syntax with no decoder) raises :class:`DicomInputError` naming the
file and the reason. Inside a zip, each bad file is reported and the others still load.

Example:
    >>> from pydicom.data import get_testdata_file
    >>> result = load_path(get_testdata_file("CT_small.dcm", download=False))
    >>> [(f.label, f.modality, f.shape) for f in result.frames]
    [('CT_small.dcm', 'CT', (128, 128))]
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path, PurePosixPath
from typing import Any

from precimed.dicom.archive import DEFAULT_LIMITS, ZipLimits, is_zip, read_zip
from precimed.dicom.decode import EXPECTED, _describe_non_image, _fail, decode_dataset
from precimed.dicom.frames import FileError, ImageFrame, LoadResult
from precimed.dicom.order import order_frames
from precimed.errors import DicomInputError

MAX_FILE_BYTES = 1 << 30

log = logging.getLogger(__name__)


def _looks_like_bare_dataset(data: bytes) -> bool:
    """A data set without preamble (PS3.10 7.1 allows legacy files) starts with group 0002/0008."""
    if len(data) < 8:
        return False
    le, be = int.from_bytes(data[:2], "little"), int.from_bytes(data[:2], "big")
    return le in (0x0002, 0x0008) or be in (0x0002, 0x0008)


DEFLATED_TS = "1.2.840.10008.1.2.1.99"
MAX_INFLATED_BYTES = 256 << 20


def _check_inflated_size(data: bytes, name: str) -> None:
    """Refuse a deflate bomb: pydicom inflates a Deflated Explicit VR Little Endian data set
    (PS3.5 A.5) in one unbounded ``zlib.decompress``, so a 300 KiB file became 300 MiB. Count
    the inflated size first, 1 MiB at a time, keeping nothing (tests/fuzz found it)."""
    if DEFLATED_TS.encode() not in data[:8192]:  # the syntax is named in the file meta group
        return
    import zlib

    from pydicom.filereader import _read_file_meta_info, read_preamble

    fp = io.BytesIO(data)
    try:
        read_preamble(fp, False)
        meta = _read_file_meta_info(fp)
    except Exception:  # noqa: BLE001 - the parser reports damage on the normal path
        return
    if str(meta.get("TransferSyntaxUID", "")).rstrip("\0 ") != DEFLATED_TS:
        return
    inflater, chunk, total = zlib.decompressobj(-zlib.MAX_WBITS), data[fp.tell():], 0
    try:
        while chunk:
            total += len(inflater.decompress(chunk, 1 << 20))
            if total > MAX_INFLATED_BYTES:
                raise _fail(name, f"the deflated data set inflates to more than "
                            f"{MAX_INFLATED_BYTES:,} bytes (a deflate bomb?)",
                            f"at most {MAX_INFLATED_BYTES:,} bytes once inflated")
            chunk = inflater.unconsumed_tail
    except zlib.error:
        return  # damaged deflate stream: the parser reports it


def read_dataset(data: bytes, name: str) -> Any:
    """Parse DICOM bytes (with or without the PS3.10 preamble) into a pydicom ``Dataset``.

    Raises:
        DicomInputError: not DICOM, or unreadable (the parser's reason is quoted).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    if len(data) > MAX_FILE_BYTES:
        raise _fail(name, f"the file is {len(data):,} bytes", f"at most {MAX_FILE_BYTES:,}")
    _check_inflated_size(data, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            try:
                ds = pydicom.dcmread(io.BytesIO(data))
            except InvalidDicomError:
                if not _looks_like_bare_dataset(data):
                    raise _fail(name, "not a DICOM file (no 'DICM' marker and no DICOM data "
                                "elements at the start)", EXPECTED) from None
                ds = pydicom.dcmread(io.BytesIO(data), force=True)
            # Parse every element now, so that damage shows here and not later.
            list(ds.keys())
            for elem in ds.iterall():
                _ = elem.value
        except DicomInputError:
            raise
        except Exception as exc:  # the parser raises many types on damaged data
            raise _fail(name, f"corrupt or truncated DICOM data ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:160]})", EXPECTED) from None
    if len(ds) == 0:
        raise _fail(name, "no readable DICOM data elements (the file is empty or truncated)",
                    EXPECTED)
    return ds


def load_file_bytes(data: bytes, name: str) -> list[ImageFrame]:
    """Read and decode one DICOM file. Raises :class:`DicomInputError` naming ``name``.

    Any other exception from the parser, decoders or LUT functions on malformed data is turned
    into a :class:`DicomInputError` too, so that no input can end in a traceback.
    """
    try:
        ds = read_dataset(data, name)
        return decode_dataset(ds, name)
    except DicomInputError:
        raise
    except MemoryError:
        raise _fail(name, "the image is too large to decode in memory", EXPECTED) from None
    except Exception as exc:  # malformed values reach pydicom/numpy in many ways
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise _fail(name, f"the file cannot be decoded ({type(exc).__name__}"
                    + (f": {detail})" if detail else ")"), EXPECTED) from None


def _dicomdir_references(ds: Any, name: str) -> list[str]:
    """The files a DICOMDIR references (PS3.3 F.5: Referenced File ID, relative to its folder)."""
    base = PurePosixPath(name).parent
    refs: list[str] = []
    for rec in ds.get("DirectoryRecordSequence") or []:
        fid = rec.get("ReferencedFileID")
        if not fid:
            continue
        parts = [fid] if isinstance(fid, str) else list(fid)
        rel = PurePosixPath(*[str(p).strip() for p in parts if str(p).strip()])
        if any(p == ".." for p in rel.parts):
            continue
        refs.append(str(base / rel) if str(base) != "." else str(rel))
    return refs


def _reason(exc: DicomInputError, name: str) -> str:
    """The reason part of a per-file error (the file name is reported beside it)."""
    what = exc.what[len(name) + 2:] if exc.what.startswith(f"{name}: ") else exc.what
    return what


def _is_dicomdir_name(name: str) -> bool:
    return PurePosixPath(name).name.upper() == "DICOMDIR"


def load_members(members: list[tuple[str, bytes]], archive: str,
                 pre_errors: list[FileError] | None = None) -> LoadResult:
    """Decode the files of an archive (or a DICOMDIR's folder); bad files become ``errors``.

    A DICOMDIR among the members is used as the index: the files it references are looked up
    case-insensitively (media file IDs are upper-case, archivers often change case), files it
    references but that are missing are reported, and the DICOMDIR itself is not an image.
    """
    errors = list(pre_errors or [])
    frames: list[ImageFrame] = []
    files: dict[str, bytes] = {}
    by_upper = {n.upper(): n for n, _ in members}
    dicomdirs = [(n, d) for n, d in members if _is_dicomdir_name(n)]
    wanted: set[str] | None = None
    for dd_name, dd_data in dicomdirs:
        try:
            ds = read_dataset(dd_data, dd_name)
        except DicomInputError as exc:
            errors.append(FileError(dd_name, _reason(exc, dd_name)))
            continue
        wanted = wanted or set()
        for ref in _dicomdir_references(ds, dd_name):
            hit = by_upper.get(ref.upper())
            if hit is None:
                errors.append(FileError(ref, f"referenced by {dd_name} but not in {archive}"))
            else:
                wanted.add(hit)
    for name, data in members:
        if _is_dicomdir_name(name):
            continue
        if wanted is not None and name not in wanted:
            continue  # the DICOMDIR is the index; other files are not part of the file-set
        try:
            got = load_file_bytes(data, name)
        except DicomInputError as exc:
            errors.append(FileError(name, _reason(exc, name)))
            continue
        frames.extend(got)
        files[name] = data
    return LoadResult(name=archive, frames=order_frames(frames), errors=errors, files=files)


def _all_failed(result: LoadResult) -> DicomInputError:
    shown = "; ".join(f"{e.source}: {e.reason}" for e in result.errors[:3])
    more = f" (and {len(result.errors) - 3} more)" if len(result.errors) > 3 else ""
    return DicomInputError(f"{result.name}: no image could be loaded — {shown or 'it is empty'}{more}",
                           expected=EXPECTED)


def load_bytes(data: bytes, name: str, *, limits: ZipLimits = DEFAULT_LIMITS) -> LoadResult:
    """Load an upload: one DICOM file (single or multi-frame) or a zip of a series/study.

    Returns:
        The frames in slice order (see :func:`precimed.dicom.order.order_frames`) and, for a
        zip, the files that failed.

    Raises:
        DicomInputError: the file (or every file of the zip) cannot be used, or the zip was
            refused by the safety limits.
    """
    if is_zip(data):
        from precimed.dicom.archive import EntryError

        entry_errors: list[EntryError] = []
        members = read_zip(data, name, limits, errors=entry_errors)
        result = load_members([(m.name, m.data) for m in members], name,
                              [FileError(e.name, e.reason) for e in entry_errors])
        if not result.frames:
            raise _all_failed(result)
        return result
    if _is_dicomdir_name(name):
        ds = read_dataset(data, name)
        raise _fail(name, _describe_non_image(ds), EXPECTED)
    frames = load_file_bytes(data, name)
    return LoadResult(name=name, frames=order_frames(frames), files={name: data})


def load_path(path: str | Path, *, limits: ZipLimits = DEFAULT_LIMITS) -> LoadResult:
    """Load a ``.dcm`` file, a ``.zip``, or a DICOMDIR on disk (with the files it references).

    Raises:
        DicomInputError: missing/unreadable path or unusable content.
    """
    p = Path(path)
    if not p.is_file():
        raise DicomInputError(f"{path}: no such file", expected=EXPECTED)
    size = p.stat().st_size
    if size > max(MAX_FILE_BYTES, limits.max_total_bytes):
        raise DicomInputError(f"{p.name}: the file is {size:,} bytes", expected="a smaller upload")
    data = p.read_bytes()
    if _is_dicomdir_name(p.name) and not is_zip(data):
        return _load_dicomdir_on_disk(p, data)
    return load_bytes(data, p.name, limits=limits)


def _load_dicomdir_on_disk(p: Path, data: bytes) -> LoadResult:
    """Read the files a DICOMDIR references, only from inside its own folder."""
    ds = read_dataset(data, p.name)
    root = p.parent.resolve()
    members: list[tuple[str, bytes]] = [(p.name, data)]
    errors: list[FileError] = []
    for ref in _dicomdir_references(ds, p.name):
        target = (root / ref).resolve()
        if root not in target.parents or not target.is_file():
            # Media file IDs are upper case; try the case-insensitive match a copy may need.
            alt = _case_insensitive(root, ref)
            if alt is None:
                errors.append(FileError(ref, f"referenced by {p.name} but not found"))
                continue
            target = alt
        members.append((ref, target.read_bytes()))
    result = load_members(members, p.name, errors)
    if not result.frames:
        raise _all_failed(result)
    return result


def _case_insensitive(root: Path, ref: str) -> Path | None:
    cur = root
    for part in PurePosixPath(ref).parts:
        if not cur.is_dir():
            return None
        match = next((c for c in cur.iterdir() if c.name.upper() == part.upper()), None)
        if match is None:
            return None
        cur = match
    resolved = cur.resolve()
    return resolved if root in resolved.parents and resolved.is_file() else None
