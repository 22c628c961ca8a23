"""Image cohorts: a zip of DICOM files scored image by image (needs the imaging bundle)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from precimed.cohort.images import score_image_bytes, score_image_path
from precimed.errors import PrecimedInputError
from precimed.registry import Bundle, get_bundle, list_bundles
from precimed.samples import sample_files

ROOT = Path(__file__).resolve().parents[2]


def _image_bundle() -> Bundle:
    found = [b for b in list_bundles() if b.modality == "image" and sample_files(b.id)]
    if not found:
        pytest.skip("no image bundle with DICOM samples is installed yet")
    return found[0]


def _zip(paths: list[Path]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in paths:
            zf.write(p, f"series/{p.name}")
        zf.writestr("series/notes.txt", b"not a DICOM file")
    return buf.getvalue()


def test_zip_of_dicom_files_equals_predict_path(tmp_path: Path) -> None:
    bundle = _image_bundle()
    dicoms = [p for p in sample_files(bundle.id) if p.suffix.lower() == ".dcm"][:4]
    assert dicoms, "the image bundle ships .dcm samples"
    data = _zip(dicoms)
    ours = score_image_bytes(bundle, data, "series.zip")
    path = tmp_path / "series.zip"
    path.write_bytes(data)
    theirs = score_image_path(bundle, path)
    assert ours["source"].tolist() == theirs["source"].tolist()
    scored = ours[ours["error"].isna()]
    assert len(scored) >= len(dicoms) and ours["row"].tolist() == list(range(len(ours)))
    cols = [f"P({c})" for c in bundle.classes]
    assert np.allclose(scored[cols].sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(ours[cols].fillna(-1), theirs[cols].fillna(-1), atol=1e-6)
    assert ours["prediction"].tolist() == theirs["prediction"].tolist()
    assert ours["error"].notna().sum() >= 1  # notes.txt is reported, not fatal


def test_tabular_model_refuses_a_zip() -> None:
    with pytest.raises(PrecimedInputError, match="takes tables"):
        score_image_bytes(get_bundle("breast-cytology-wdbc"), b"PK", "x.zip")
