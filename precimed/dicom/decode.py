"""Decode one parsed DICOM data set into :class:`ImageFrame` s (split from ``reader.py``).

Per frame (PS3.3 C.7.6.3, C.11.1):

- greyscale: pydicom's ``apply_modality_lut`` with the frame's rescale or Modality LUT
  (enhanced multi-frame objects keep these per frame in functional groups, PS3.3 C.7.6.16);
- YBR: pydicom's ``convert_color_space`` to RGB (only when the decoder has not already
  converted, which pydicom reports in its decode metadata);
- PALETTE COLOR: pydicom's ``apply_color_lut``.

What cannot become an image (SR, RTPLAN, waveforms, no pixel data, corrupt or truncated
data, a transfer syntax with no decoder) raises :class:`DicomInputError` naming the file.
Reading bytes, zips and DICOMDIRs is :mod:`precimed.dicom.reader`'s.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from precimed.dicom.frames import MONOCHROME, ImageFrame
from precimed.errors import DicomInputError

# Decoded pixels of one file; a larger file is refused before decoding (memory guard).
MAX_DECODED_BYTES = 1 << 30
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


def _fail(name: str, reason: str, expected: str | None = None) -> DicomInputError:
    return DicomInputError(f"{name}: {reason}", expected=expected)


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
