"""Read DICOM files (one file, a multi-frame file, a zip, a DICOMDIR) into :class:`ImageFrame` s.

Decoding uses pydicom's pixel decoders, which with pylibjpeg, pylibjpeg-libjpeg,
pylibjpeg-openjpeg and pylibjpeg-rle installed cover every transfer syntax pydicom supports
(uncompressed, deflated, RLE, JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000).
Per frame (PS3.3 C.7.6.3, C.11.1):

- greyscale: pydicom's ``apply_modality_lut`` with the frame's rescale or Modality LUT
  (enhanced multi-frame objects keep these per frame in functional groups, PS3.3 C.7.6.16);
- YBR: pydicom's ``convert_color_space`` to RGB (only when the decoder has not already
  converted, which pydicom reports in its decode metadata);
- PALETTE COLOR: pydicom's ``apply_color_lut``.

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
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from precimed.dicom.archive import DEFAULT_LIMITS, ZipLimits, is_zip, read_zip
from precimed.dicom.frames import MONOCHROME, FileError, ImageFrame, LoadResult
from precimed.dicom.order import order_frames
from precimed.errors import DicomInputError

# Decoded pixels of one file; a larger file is refused before decoding (memory guard).
MAX_DECODED_BYTES = 1 << 30
MAX_FILE_BYTES = 1 << 30
EXPECTED = "a DICOM image file (.dcm), a multi-frame file, or a .zip of a series"

_NON_IMAGE = {
    "SR": "a structured report", "RTPLAN": "a radiotherapy plan", "RTSTRUCT":
    "a radiotherapy structure set", "ECG": "an ECG waveform", "HD": "a haemodynamic waveform",
    "EPS": "an electrophysiology waveform", "AU": "an audio waveform", "KO":
    "a key object selection", "PR": "a presentation state", "DOC": "an encapsulated document",
    "REG": "a registration", "RWV": "real world value mapping", "PLAN": "a plan",
}
# Elements that the frame's ``lut`` data set carries (Modality LUT and VOI LUT Modules).
_LUT_KEYWORDS = ("PhotometricInterpretation", "BitsAllocated", "BitsStored", "PixelRepresentation",
                 "RescaleSlope", "RescaleIntercept", "RescaleType", "ModalityLUTSequence",
                 "WindowCenter", "WindowWidth", "VOILUTFunction", "VOILUTSequence",
                 "WindowCenterWidthExplanation")
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

log = logging.getLogger(__name__)


def _fail(name: str, reason: str, expected: str | None = None) -> DicomInputError:
    return DicomInputError(f"{name}: {reason}", expected=expected)


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


def _first(ds: Any, path: Iterable[str]) -> Any:
    """Follow ``Seq[0].Seq[0]…`` through functional groups; ``None`` when any step is absent."""
    cur = ds
    for kw in path:
        seq = cur.get(kw) if cur is not None else None
        if not seq:
            return None
        cur = seq[0]
    return cur


def _frame_groups(ds: Any, index: int) -> list[Any]:
    """The shared and the per-frame functional group items of frame ``index`` (PS3.3 C.7.6.16),
    most specific last."""
    groups = []
    shared = _first(ds, ["SharedFunctionalGroupsSequence"])
    if shared is not None:
        groups.append(shared)
    per = ds.get("PerFrameFunctionalGroupsSequence")
    if per and index < len(per):
        groups.append(per[index])
    return groups


def _from_groups(ds: Any, groups: list[Any], macro: str, keyword: str) -> Any:
    """``keyword`` from the most specific functional group macro, else the top level."""
    for group in reversed(groups):
        item = _first(group, [macro])
        if item is not None and keyword in item:
            return item[keyword].value
    return ds.get(keyword)


def _lut_dataset(ds: Any, groups: list[Any]) -> Any:
    """This frame's Modality LUT + VOI LUT elements, with functional-group values overriding."""
    from pydicom.dataset import Dataset

    out = Dataset()
    for kw in _LUT_KEYWORDS:
        if kw in ds:
            out[kw] = ds[kw]
    for group in groups:
        for macro in ("PixelValueTransformationSequence", "FrameVOILUTSequence"):
            item = _first(group, [macro])
            if item is None:
                continue
            for kw in _LUT_KEYWORDS:
                if kw in item:
                    out[kw] = item[kw]
    enc = ds.original_encoding
    out.set_original_encoding(enc[0] if enc[0] is not None else False,
                              enc[1] if enc[1] is not None else True, ds.original_character_set)
    return out


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    try:
        vals = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return vals if len(vals) == n and all(np.isfinite(vals)) else None


def _pair(value: Any) -> tuple[float, float] | None:
    """Pixel spacing (row, column) in mm; ``None`` when absent or not positive (some files
    write 0\\0 when the spacing is unknown)."""
    vals = _floats(value, 2) if value else None
    return (vals[0], vals[1]) if vals and min(vals) > 0 else None


def _describe_non_image(ds: Any) -> str:
    modality = str(ds.get("Modality", "") or "")
    sop = ds.get("SOPClassUID")
    sop_name = getattr(sop, "name", None) or (str(sop) if sop else None)
    what = _NON_IMAGE.get(modality)
    if ds.get("DirectoryRecordSequence") is not None or str(sop) == "1.2.840.10008.1.3.10":
        return ("is a DICOMDIR index, not an image (upload it zipped together with the files it "
                "references)")
    if "WaveformSequence" in ds:
        what = what or "a waveform"
    parts = [f"Modality {modality}" if modality else None, sop_name]
    info = ", ".join(p for p in parts if p)
    return ("contains no pixel data" + (f" ({info})" if info else "")
            + (f": it is {what}, not an image" if what else ""))


def decode_dataset(ds: Any, name: str, header: Any | None = None) -> list[ImageFrame]:
    """All frames of one parsed data set.

    Raises:
        DicomInputError: no pixel data, unsupported transfer syntax, corrupt pixel data.
    """
    from pydicom.pixels import apply_color_lut, apply_modality_lut, convert_color_space, get_decoder
    from pydicom.uid import UID

    if not any(kw in ds for kw in _PIXEL_KEYWORDS):
        raise _fail(name, _describe_non_image(ds), EXPECTED)
    meta = getattr(ds, "file_meta", None)
    tsyntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsyntax is None:
        # A legacy file without file meta: the encoding the parser found is the syntax.
        from pydicom.dataset import FileMetaDataset

        implicit, little = ds.original_encoding
        tsyntax = UID("1.2.840.10008.1.2" if implicit else
                      ("1.2.840.10008.1.2.2" if little is False else "1.2.840.10008.1.2.1"))
        ds.file_meta = meta if meta is not None else FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = tsyntax
    tsyntax = UID(str(tsyntax))
    ts_name = tsyntax.name if tsyntax.is_transfer_syntax else str(tsyntax)
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError:
        raise _fail(name, f"transfer syntax '{ts_name}' is not supported",
                    "uncompressed, deflated, RLE, JPEG, JPEG-LS or JPEG 2000 pixel data") from None
    if not decoder.is_available:
        raise _fail(name, f"no decoder is installed for transfer syntax '{ts_name}'",
                    "pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg and pylibjpeg-rle installed")
    missing = [kw for kw in ("Rows", "Columns", "BitsAllocated") if kw not in ds]
    if missing:
        raise _fail(name, f"the Image Pixel Module lacks {', '.join(missing)} (the file is "
                    "damaged or incomplete)", EXPECTED)
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        spp = int(ds.get("SamplesPerPixel", 1) or 1)
        n_frames = int(ds.get("NumberOfFrames", 1) or 1)
        bits = int(ds.BitsAllocated)
    except (AttributeError, TypeError, ValueError) as exc:
        raise _fail(name, f"the Image Pixel Module is incomplete or invalid ({exc})", EXPECTED) from None
    if rows < 1 or cols < 1 or n_frames < 1:
        raise _fail(name, f"invalid image size {rows}×{cols}, {n_frames} frame(s)", EXPECTED)
    need = rows * cols * spp * n_frames * max(bits // 8, 1)
    if need > MAX_DECODED_BYTES:
        raise _fail(name, f"{n_frames} frame(s) of {rows}×{cols} would decode to {need:,} bytes",
                    f"at most {MAX_DECODED_BYTES:,} bytes per file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            arr, info = decoder.as_array(ds, raw=True)
        except BaseException as exc:  # decoders raise ValueError/RuntimeError/… on bad data
            # pylibjpeg-rle (Rust) panics on some damaged RLE data with pyo3's PanicException,
            # a BaseException (found by tests/fuzz); anything else of that kind propagates.
            if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                raise
            first = str(exc).strip().splitlines()
            detail = " ".join(line.strip() for line in first[:3])[:300]
            raise _fail(name, f"the pixel data cannot be decoded ({ts_name}): {detail}",
                        EXPECTED) from None
    if n_frames == 1:
        arr = arr[np.newaxis]
    want = (n_frames, rows, cols) + ((spp,) if spp > 1 else ())
    if arr.shape != want:  # e.g. a damaged Rows value: the data are not the image declared
        raise _fail(name, f"the pixel data decode to shape {arr.shape}, not the {n_frames} frame(s) "
                    f"of {rows}×{cols}×{spp} the header declares (damaged header?)", EXPECTED)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    decoded_pi = str(info.get("photometric_interpretation", photometric)).upper()
    rgb_max = 255
    if decoded_pi.startswith("YBR_FULL"):
        try:
            arr = convert_color_space(arr, decoded_pi, "RGB", per_frame=True)
        except ValueError as exc:  # e.g. signed or 16-bit samples (found by tests/fuzz)
            raise _fail(name, f"the {decoded_pi} colour data cannot be converted to RGB ({exc})",
                        EXPECTED) from None
    elif decoded_pi == "PALETTE COLOR":
        try:
            arr = apply_color_lut(arr, ds)
        except Exception as exc:  # missing/odd LUT descriptors
            raise _fail(name, f"the palette colour lookup table is invalid ({exc})", EXPECTED) from None
        lut_bits = int(ds.get("RedPaletteColorLookupTableDescriptor", [0, 0, 8])[2])
        rgb_max = 2 ** (16 if lut_bits > 8 else 8) - 1
    elif decoded_pi not in MONOCHROME and decoded_pi != "RGB":
        raise _fail(name, f"photometric interpretation '{decoded_pi}' is not supported",
                    "MONOCHROME1, MONOCHROME2, RGB, YBR_FULL(_422) or PALETTE COLOR")
    if decoded_pi not in MONOCHROME and decoded_pi != "PALETTE COLOR":
        rgb_max = 2 ** int(ds.get("BitsStored", 8) or 8) - 1
    is_grey = decoded_pi in MONOCHROME
    header = header if header is not None else _header(ds)
    modality = str(ds.get("Modality", "") or "OT").strip() or "OT"
    series_uid = str(ds.get("SeriesInstanceUID", "")) or None
    try:
        instance = int(ds.get("InstanceNumber")) if ds.get("InstanceNumber") not in (None, "") else None
    except (TypeError, ValueError):
        instance = None
    frames: list[ImageFrame] = []
    for k in range(arr.shape[0]):
        groups = _frame_groups(ds, k)
        lut = _lut_dataset(ds, groups) if is_grey else None
        if lut is not None:
            try:
                pix = np.asarray(apply_modality_lut(arr[k], lut), dtype=np.float32)
            except Exception as exc:
                raise _fail(name, f"the Modality LUT cannot be applied ({exc})", EXPECTED) from None
            if not np.all(np.isfinite(pix)):  # e.g. Rescale Slope "NaN" (found by tests/fuzz)
                raise _fail(name, "the Modality LUT (rescale slope/intercept) gives values that "
                            "are not finite numbers", EXPECTED)
        else:
            pix = np.ascontiguousarray(arr[k])
            if pix.ndim == 2:  # one-sample colour data is not meaningful; show it as grey
                pix = np.repeat(pix[..., np.newaxis], 3, axis=2)
        spacing = (_from_groups(ds, groups, "PixelMeasuresSequence", "PixelSpacing")
                   or ds.get("ImagerPixelSpacing"))
        position = _from_groups(ds, groups, "PlanePositionSequence", "ImagePositionPatient")
        orientation = _from_groups(ds, groups, "PlaneOrientationSequence", "ImageOrientationPatient")
        frames.append(ImageFrame(
            source=name, frame=k, n_frames=arr.shape[0], pixels=pix, photometric=photometric,
            modality=modality, pixel_spacing_mm=_pair(spacing),
            lut=lut, position=_floats(position, 3) if position else None,  # type: ignore[arg-type]
            orientation=_floats(orientation, 6) if orientation else None,
            instance_number=instance, series_uid=series_uid, rgb_max=rgb_max, header=header,
        ))
    return frames


def _header(ds: Any) -> Any:
    """A copy of the data set without its (large) pixel data, for the metadata panel."""
    from pydicom.dataset import Dataset

    head = Dataset()
    for elem in ds:
        if elem.keyword not in _PIXEL_KEYWORDS:
            head.add(elem)
    if hasattr(ds, "file_meta"):
        head.file_meta = ds.file_meta
    return head


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
