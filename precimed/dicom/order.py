"""Slice order for a series: position along the slice normal, then Instance Number.

PS3.3 C.7.6.2.1.1: Image Position (Patient) is the centre of the first voxel and Image
Orientation (Patient) the row and column direction cosines; their cross product is the slice
normal, and the projection of the position on it is the slice's location along the stack.
This works for axial, sagittal, coronal and oblique stacks alike, unlike sorting by the z
coordinate or by Slice Location (which is optional and often stale). Frames without a position
come after those with one, ordered by Instance Number, then by file name and frame index.

Example:
    >>> import numpy as np
    >>> from precimed.dicom.frames import ImageFrame
    >>> def f(name, z):
    ...     return ImageFrame(name, 0, 1, np.zeros((2, 2), "float32"), "MONOCHROME2", "CT", None,
    ...                       position=(0.0, 0.0, z), orientation=(1, 0, 0, 0, 1, 0))
    >>> [x.source for x in order_frames([f("b", 5.0), f("a", 10.0), f("c", -2.5)])]
    ['c', 'b', 'a']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from precimed.dicom.frames import ImageFrame


def slice_location(frame: ImageFrame) -> float | None:
    """Distance along the slice normal (mm), or ``None`` without position and orientation."""
    if frame.position is None or frame.orientation is None:
        return None
    row = np.asarray(frame.orientation[:3], dtype="float64")
    col = np.asarray(frame.orientation[3:], dtype="float64")
    normal = np.cross(row, col)
    if not np.isfinite(normal).all() or np.linalg.norm(normal) < 1e-6:
        return None
    return float(np.dot(np.asarray(frame.position, dtype="float64"), normal / np.linalg.norm(normal)))


def order_frames(frames: Sequence[ImageFrame]) -> list[ImageFrame]:
    """Frames grouped by series (in order of first appearance), each series in slice order."""
    series_rank: dict[str | None, int] = {}
    for fr in frames:
        series_rank.setdefault(fr.series_uid, len(series_rank))

    def key(fr: ImageFrame) -> tuple[int, int, float, int, str, int]:
        loc = slice_location(fr)
        inst = fr.instance_number if fr.instance_number is not None else 2**31
        return (series_rank[fr.series_uid], 0 if loc is not None else 1,
                loc if loc is not None else 0.0, inst, fr.source, fr.frame)

    return sorted(frames, key=key)
