"""The shipped lesion CNN: card, predictions, SHAP heatmaps, fidelity against the lesion masks.

Floors stated here (the card's figures on the recorded held-out lesions must meet them, and
so must a recomputation on the first 40 of them). They guard against a regression; they are not
the issue's targets, which version 2.1.0 misses and its card says so (pointing game 0.67 on
held-out backgrounds, 0.56 on the held-out lesion family, against a target of 0.75):
- pointing game ≥ 0.60;
- positive attribution mass inside the lesion ≥ 0.30 (the lesion covers about 1 % of the
  image, so a map that ignored it would score near 0.01);
- GradientExplainer additivity: |base + Σ SHAP − output| median ≤ 0.06, 95th percentile
  ≤ 0.25 (the card states its measured median and p95; probability units; expected
  gradients is a Monte Carlo estimate, see
  precimed/imaging/explain.py).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from precimed.dicom import load_bytes
from precimed.imaging import (
    explain_image,
    explain_input,
    frame_image,
    frame_input,
    model_input,
    pointing_hit,
    positive_mass_inside,
    predict_images,
    predict_model_inputs,
)
from precimed.registry import get_bundle, sha256_file
from precimed.samples import sample_files

MODEL_ID = "lesion-cnn-synthetic"
POINTING_FLOOR = 0.60
MASS_FLOOR = 0.30
N_RECHECK = 40


@pytest.fixture(scope="module")
def bundle():
    return get_bundle(MODEL_ID)


@pytest.fixture(scope="module")
def samples() -> dict[str, Path]:
    return {p.name: p for p in sample_files(MODEL_ID)}


@pytest.fixture(scope="module")
def fidelity_set(bundle):
    info = bundle.card["evaluation"]["fidelity"]
    path = bundle.path / info["file"]
    assert sha256_file(path) == info["sha256"]
    with np.load(path) as npz:
        return npz["x"].astype(np.float32), npz["masks"]


def _frame(path: Path):
    return load_bytes(path.read_bytes(), path.name).frames


def test_the_card_says_what_the_model_is(bundle) -> None:
    card = bundle.card
    assert card["modality"] == "image" and card["not_for_clinical_use"] is True
    image = card["inputs"][0]
    assert image["shape"] == [64, 64, 1]
    assert image["modalities"] == ["CR", "CT", "MR"]
    assert image["photometric"] == ["MONOCHROME1", "MONOCHROME2"]
    assert "SIMULATED" in card["training_data"]["source"]
    assert "simulated" in card["training_data"]["label_definition"]
    assert "Not for clinical use" in card["intended_use"]
    m = card["evaluation"]["metrics"]
    lo, hi = m["auroc"]["ci95"]
    assert lo <= m["auroc"]["value"] <= hi and m["auroc"]["value"] >= 0.8
    assert 0 <= m["brier"]["value"] <= 0.25
    assert len(card["evaluation"]["calibration"]["observed"]) >= 3
    assert m["pointing_game"]["value"] >= POINTING_FLOOR
    assert m["attribution_mass_in_lesion"]["value"] >= MASS_FLOOR
    assert card["explanation"]["method"].startswith("shap.GradientExplainer")


def test_a_simulated_lesion_raises_the_probability(bundle, samples) -> None:
    clean = _frame(samples["ct_abdomen_heldout.dcm"])[0]
    lesion = _frame(samples["ct_abdomen_heldout_simulated-lesion.dcm"])[0]
    p_clean, p_lesion = predict_images(bundle, [frame_image(clean), frame_image(lesion)])[:, 1]
    assert p_lesion > 0.5 and p_lesion - p_clean > 0.2
    # The clean abdominal CT is one of the card's real-image false positives: the card records
    # this very prediction, and counts it.
    real = bundle.card["evaluation"]["real_images"]
    recorded = {i["image"]: i["p_lesion"] for i in real["images"]}
    assert recorded["pydicom:explicit_VR-UN.dcm"] == pytest.approx(p_clean, abs=1e-3)
    called = sum(p >= bundle.card["threshold"] for p in recorded.values())
    assert called == real["false_positives"] and real["n"] == len(recorded)


def test_predict_images_and_model_inputs_agree(bundle, samples) -> None:
    frames = _frame(samples["mr_multiframe_training-background.dcm"])
    assert len(frames) == 10
    images = [frame_image(f) for f in frames]
    probs = predict_images(bundle, images)
    batch = np.stack([model_input(bundle, im) for im in images])
    np.testing.assert_allclose(predict_model_inputs(bundle, batch), probs, atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    single = predict_model_inputs(bundle, frame_input(bundle, frames[3]))
    np.testing.assert_allclose(single[0], probs[3], atol=1e-6)


def test_predict_model_inputs_checks_the_shape(bundle) -> None:
    from precimed.errors import PrecimedInputError

    with pytest.raises(PrecimedInputError, match=r"\(n, 64, 64, 1\)"):
        predict_model_inputs(bundle, np.zeros((2, 32, 32, 1)))


def test_heatmap_is_at_image_resolution_and_adds_up(bundle, samples) -> None:
    frame = _frame(samples["ct_abdomen_heldout_simulated-lesion.dcm"])[0]
    e = explain_image(bundle, frame_image(frame))
    assert e.class_name == "lesion"
    assert e.heatmap.shape == frame.shape == (512, 512)
    assert e.values.shape == (64, 64)
    assert e.additivity_error <= 0.25
    assert e.heatmap.sum() == pytest.approx(e.values.sum(), rel=0.03, abs=1e-3)
    p = predict_images(bundle, [frame_image(frame)])[0, 1]
    assert e.output == pytest.approx(p, abs=1e-6)
    # the other class: same map, opposite sign; base and output complement
    other = explain_image(bundle, frame_image(frame), class_name="no lesion")
    np.testing.assert_allclose(other.values, -e.values, atol=1e-9)
    assert other.base_value == pytest.approx(1 - e.base_value)
    assert other.output == pytest.approx(1 - e.output)


def test_the_heatmap_points_at_the_inserted_lesion(bundle, samples) -> None:
    from precimed.imaging import strongest_regions

    frame = _frame(samples["ct_abdomen_heldout_simulated-lesion.dcm"])[0]
    clean = _frame(samples["ct_abdomen_heldout.dcm"])[0]
    diff = np.abs(frame.pixels - clean.pixels) > 1  # where the lesion was written
    e = explain_image(bundle, frame_image(frame))
    top = strongest_regions(e.values, frame.shape)[0]
    assert diff[int(round(top.row)), int(round(top.col))]


def test_explanations_are_reproducible(bundle, fidelity_set) -> None:
    x = fidelity_set[0][0]
    a = explain_input(bundle, x)[3]
    b = explain_input(bundle, x)[3]
    np.testing.assert_array_equal(a, b)


def test_fidelity_on_the_recorded_test_lesions(bundle, fidelity_set) -> None:
    xs, masks = fidelity_set
    hits, mass, gaps = [], [], []
    for x, mask in zip(xs[:N_RECHECK], masks[:N_RECHECK], strict=True):
        _, base, out, vals = explain_input(bundle, x)
        hits.append(pointing_hit(vals, mask))
        mass.append(positive_mass_inside(vals, mask))
        gaps.append(abs(base + vals.sum() - out))
    assert np.mean(hits) >= POINTING_FLOOR, np.mean(hits)
    assert np.mean(mass) >= MASS_FLOOR, np.mean(mass)
    assert np.median(gaps) <= 0.06 and np.percentile(gaps, 95) <= 0.25, gaps


def test_more_samples_tighten_additivity(bundle, fidelity_set) -> None:
    xs = fidelity_set[0][:4]
    gap = {n: np.mean([abs(b + v.sum() - o) for _, b, o, v in
                       (explain_input(bundle, x, nsamples=n) for x in xs)]) for n in (16, 512)}
    assert gap[512] < gap[16]


def test_background_checksum_is_enforced(bundle, tmp_path) -> None:
    import shutil

    from precimed.errors import BundleError
    from precimed.imaging.explain import background
    from precimed.registry import read_bundle

    copy = tmp_path / MODEL_ID
    shutil.copytree(bundle.path, copy)
    arr = np.load(copy / "background.npy")
    buf = io.BytesIO()
    np.save(buf, arr + 0.01)
    (copy / "background.npy").write_bytes(buf.getvalue())
    with pytest.raises(BundleError, match="does not match its checksum"):
        background(read_bundle(copy))


def test_the_cards_calibration_is_the_held_out_sets(bundle) -> None:
    """The card's AUROC, calibration intercept and slope are recomputed here on the held-out
    backgrounds set, regenerated from the training script's own seed, with the shipped model;
    the sentence follows the rule (not 'calibrated' outside slope 0.8–1.25 or with an intercept
    CI that excludes 0)."""
    from sklearn.metrics import roc_auc_score

    from precimed.evaluation.calibration import calibration_intercept, calibration_slope, is_calibrated
    from precimed.predict import raw_output
    from precimed.training.imaging_synthetic import N_TEST, SEED
    from precimed.training.lesion_data import load_backgrounds, make_set
    from precimed.training.lesion_generator import TRAIN_FAMILIES

    cal = bundle.card["evaluation"]["calibration"]
    assert cal["statement"].startswith("Calibrated" if cal["calibrated"] else "Not calibrated")
    assert "held-out calibration slope" in cal["statement"]
    assert cal["calibrated"] == is_calibrated(cal["intercept"], cal["slope"])
    for key in ("intercept", "slope"):
        lo, hi = cal[key]["ci95"]
        assert lo <= cal[key]["value"] <= hi
    test_bgs = [b for b in load_backgrounds() if b.split == "test"]
    s = make_set(test_bgs, N_TEST, SEED + 2, families=TRAIN_FAMILIES)
    p = raw_output(bundle.model(), s["x"])[:, 0]
    assert roc_auc_score(s["y"], p) == pytest.approx(bundle.card["evaluation"]["metrics"]["auroc"]["value"],
                                                     abs=1e-4)
    assert calibration_intercept(s["y"], p) == pytest.approx(cal["intercept"]["value"], abs=1e-3)
    assert calibration_slope(s["y"], p) == pytest.approx(cal["slope"]["value"], abs=1e-3)
    assert float(p.mean()) == pytest.approx(cal["mean_predicted"], abs=1e-3)
