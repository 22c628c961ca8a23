"""DICOM in: safe zip extraction, decoding, slice ordering, windowing, de-identification.

Public entry points:

- :func:`load_bytes` / :func:`load_path`: an upload (a ``.dcm`` file, a multi-frame file, a
  zip of a series or study, a DICOMDIR) → :class:`LoadResult` of ordered :class:`ImageFrame` s
  and the files that failed;
- :func:`render` with a :class:`Window` (``PRESETS`` for CT, :func:`default_window`): the
  displayed 8-bit image;
- :func:`metadata_rows` and :func:`deidentify_bytes`: PS3.15 masking and export.

Errors are :class:`precimed.errors.DicomInputError`, naming the file and the reason.
"""

from __future__ import annotations

from precimed.dicom.archive import ZipLimits
from precimed.dicom.deid import deidentify_bytes, deidentify_files, metadata_rows
from precimed.dicom.frames import FileError, ImageFrame, LoadResult
from precimed.dicom.order import order_frames, slice_location
from precimed.dicom.reader import load_bytes, load_file_bytes, load_path, read_dataset
from precimed.dicom.window import (
    PRESETS,
    Window,
    auto_window,
    default_window,
    file_windows,
    render,
    window_choices,
)
from precimed.errors import DicomInputError

__all__ = [
    "PRESETS", "DicomInputError", "FileError", "ImageFrame", "LoadResult", "Window", "ZipLimits",
    "auto_window", "default_window", "deidentify_bytes", "deidentify_files", "file_windows",
    "load_bytes", "load_file_bytes", "load_path", "metadata_rows", "order_frames",
    "read_dataset", "render", "slice_location", "window_choices",
]
