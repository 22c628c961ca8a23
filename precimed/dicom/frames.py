"""Plain records for decoded DICOM images: one :class:`ImageFrame` per 2-D frame.

A frame keeps the pixel values after the Modality LUT (PS3.3 C.11.1: rescale slope/intercept
or a Modality LUT Sequence), so that CT frames hold Hounsfield units, plus the handful of
attributes the viewer and the model need (photometric interpretation, modality, pixel
spacing, the frame's VOI LUT Module, position and orientation for slice ordering).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

MONOCHROME = ("MONOCHROME1", "MONOCHROME2")


@dataclass(frozen=True, eq=False)
class ImageFrame:
    """One 2-D image.

    Attributes:
        source: the file's name (its path inside a zip).
        frame: 0-based frame index inside the file.
        n_frames: number of frames in the file.
        pixels: greyscale: the Modality-LUT output, float32 (H, W); colour: RGB (H, W, 3),
            uint8 or uint16 (see ``rgb_max``).
        photometric: the file's Photometric Interpretation (PS3.3 C.7.6.3.1.2), e.g.
            ``MONOCHROME1``; colour files keep theirs (``YBR_FULL_422``…) although
            ``pixels`` is already RGB.
        modality: (0008,0060), ``"OT"`` when absent.
        pixel_spacing_mm: (row, column) spacing in mm from Pixel Spacing, else Imager Pixel
            Spacing; ``None`` if neither is present.
        lut: a small dataset with this frame's Modality LUT and VOI LUT Module elements
            (window centre/width, VOI LUT Sequence, VOI LUT Function), for pydicom's
            ``apply_voi_lut``/``apply_windowing``.
        position: Image Position (Patient), mm, if present.
        orientation: Image Orientation (Patient), six direction cosines, if present.
        instance_number: (0020,0013), if present.
        series_uid: (0020,000E), if present.
        rgb_max: the largest value a colour channel can take (255 for 8-bit data).
        header: the file's data set without its pixel data (shared by its frames).
    """

    source: str
    frame: int
    n_frames: int
    pixels: np.ndarray
    photometric: str
    modality: str
    pixel_spacing_mm: tuple[float, float] | None
    lut: Dataset | None = field(repr=False, default=None)
    position: tuple[float, float, float] | None = None
    orientation: tuple[float, ...] | None = None
    instance_number: int | None = None
    series_uid: str | None = None
    rgb_max: int = 255
    header: Dataset | None = field(repr=False, default=None)

    @property
    def label(self) -> str:
        """``name`` for a single-frame file, ``name#K`` for frame K of a multi-frame file."""
        return self.source if self.n_frames == 1 else f"{self.source}#{self.frame}"

    @property
    def is_color(self) -> bool:
        return self.pixels.ndim == 3

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])


@dataclass(frozen=True)
class FileError:
    """A file that could not be used, with the reason in words."""

    source: str
    reason: str


@dataclass
class LoadResult:
    """What an upload yielded: ordered frames, the files that failed, the raw bytes per file.

    ``files`` keeps each source file's bytes in memory (never on disk) for the de-identified
    export.
    """

    name: str
    frames: list[ImageFrame]
    errors: list[FileError] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict, repr=False)

    def frame_labels(self) -> list[str]:
        return [f.label for f in self.frames]
