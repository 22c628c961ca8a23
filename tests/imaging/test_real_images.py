"""External real images: nibabel's Siemens/Philips MR DICOM test files through the whole image
pipeline (decode, scope check, prediction, heatmap).

nibabel's files are odd on purpose (they test a DICOM reader): only the Siemens MR MIP carries a
real image; the Philips MPRAGE and the DWI mosaics have blank pixels and the qT1 map is
uniform (refused as out of scope: nothing to see), ``csa_slice_norm.dcm`` has no pixel data,
and ``0.dcm``/``1.dcm`` hold a synthetic ramp. Each must end in a result or a clean message.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from precimed.dicom import load_bytes
from precimed.errors import DicomInputError
from precimed.imaging import explain_image, frame_image, frame_input, predict_model_inputs
from precimed.imaging.check import assess_frame
from precimed.registry import get_bundle

MODEL_ID = "lesion-cnn-synthetic"
nibabel = pytest.importorskip("nibabel")
DATA = Path(nibabel.__file__).parent / "nicom" / "tests" / "data"
# file → expected: "scored", "uniform" (refused: out of scope) or "no pixel data"
FILES = {
    "slicethickness_empty_string.dcm": "scored",  # JPEG 2000, the real MR MIP
    "0.dcm": "scored",
    "1.dcm": "scored",
    "decimal_rescale.dcm": "uniform",
    "philips_mprage.dcm.gz": "uniform",  # 176 frames
    "siemens_dwi_0.dcm.gz": "uniform",
    "siemens_dwi_1000.dcm.gz": "uniform",
    "csa_slice_norm.dcm": "no pixel data",
}


@pytest.fixture(scope="module")
def bundle():
    return get_bundle(MODEL_ID)


def _read(name: str) -> tuple[bytes, str]:
    data = (DATA / name).read_bytes()
    return (gzip.decompress(data), name[:-3]) if name.endswith(".gz") else (data, name)


@pytest.mark.parametrize("name", sorted(FILES))
def test_nibabel_mr_files_go_through_the_pipeline(bundle, name) -> None:
    data, fname = _read(name)
    want = FILES[name]
    if want == "no pixel data":
        with pytest.raises(DicomInputError, match="contains no pixel data"):
            load_bytes(data, fname)
        return
    frames = load_bytes(data, fname).frames
    assert frames and all(f.modality == "MR" for f in frames)
    scopes = [assess_frame(bundle.card, f) for f in frames]
    if want == "uniform":
        assert all(s.error.startswith("out of scope: the image is uniform") for s in scopes)
        return
    assert all(s.in_scope for s in scopes), [s.reasons for s in scopes]
    fr = frames[0]
    probs = predict_model_inputs(bundle, frame_input(bundle, fr))[0]
    assert probs.shape == (2,) and probs.sum() == pytest.approx(1.0)
    e = explain_image(bundle, frame_image(fr), nsamples=32)
    assert e.heatmap.shape == fr.shape and np.isfinite(e.heatmap).all()
    assert e.output == pytest.approx(probs[1], abs=1e-5)


def test_the_card_states_the_false_positive_rate_on_real_images(bundle) -> None:
    """Every real held-out image the card lists, recomputed through the app's preprocessing and
    prediction: same P(lesion), same count of false positives, its Wilson interval."""
    pytest.importorskip("data_store")  # pydicom-data
    from precimed.training.imaging_evaluation import wilson
    from precimed.training.imaging_synthetic import real_images
    from precimed.training.lesion_data import load_backgrounds

    real = bundle.card["evaluation"]["real_images"]
    listed = {r["image"]: r["p_lesion"] for r in real["images"]}
    images = real_images(bundle.card, load_backgrounds())
    assert [name for name, _ in images] == list(listed)
    assert any(name.startswith("nibabel") for name in listed)  # nibabel's real MR among them
    probs = predict_model_inputs(bundle, np.stack([x for _, x in images]))[:, 1]
    for (name, _), p in zip(images, probs, strict=True):
        assert p == pytest.approx(listed[name], abs=1e-4), name
    k = int((probs >= bundle.card["threshold"]).sum())
    assert real["n"] == len(images) >= 20 and real["false_positives"] == k
    assert real["false_positive_rate"]["value"] == pytest.approx(k / len(images), abs=1e-4)
    assert real["false_positive_rate"]["ci95"] == wilson(k, len(images))
