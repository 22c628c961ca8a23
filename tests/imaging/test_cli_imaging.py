"""``precimed predict`` / ``explain`` on .dcm, multi-frame and .zip input, as a user runs them."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from precimed.samples import sample_files

MODEL = "lesion-cnn-synthetic"


@pytest.fixture(scope="module")
def samples() -> dict[str, Path]:
    return {p.name: p for p in sample_files(MODEL)}


@pytest.fixture(scope="module")
def study_zip(tmp_path_factory, samples) -> Path:
    from pydicom.data import get_testdata_file

    path = tmp_path_factory.mktemp("zip") / "study.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(samples["ct_abdomen_heldout.dcm"], "study/ct.dcm")
        zf.write(samples["ct_abdomen_heldout_simulated-lesion.dcm"], "study/ct_lesion.dcm")
        zf.write(get_testdata_file("test-SR.dcm", download=False), "study/report.dcm")
        zf.writestr("study/readme.txt", "not dicom")
    return path


def test_predict_one_dcm(cli, samples) -> None:
    res = cli("predict", "--model", MODEL, str(samples["ct_abdomen_heldout_simulated-lesion.dcm"]),
              "--json")
    assert res.code == 0, res.stderr
    [row] = res.json()
    assert row["source"] == "ct_abdomen_heldout_simulated-lesion.dcm" and row["index"] == 0
    assert set(row["probabilities"]) == {"no lesion", "lesion"}
    assert sum(row["probabilities"].values()) == pytest.approx(1.0)
    assert row["prediction"] == "lesion"
    assert row["warnings"] == []


def test_predict_a_zip_reports_bad_files_and_scores_the_rest(cli, study_zip) -> None:
    res = cli("predict", "--model", MODEL, str(study_zip), "--json")
    assert res.code == 0, res.stderr
    rows = res.json()
    scored = {r["source"]: r for r in rows if "error" not in r}
    failed = {r["source"]: r["error"] for r in rows if "error" in r}
    assert set(scored) == {"study/ct.dcm", "study/ct_lesion.dcm"}
    assert scored["study/ct_lesion.dcm"]["probabilities"]["lesion"] > \
        scored["study/ct.dcm"]["probabilities"]["lesion"]
    assert set(failed) == {"study/report.dcm", "study/readme.txt"}
    assert "structured report" in failed["study/report.dcm"]


def test_predict_multiframe_names_frames_and_warns(cli, samples) -> None:
    res = cli("predict", "--model", MODEL, str(samples["mr_multiframe_training-background.dcm"]),
              "--json")
    assert res.code == 0, res.stderr
    rows = res.json()
    name = "mr_multiframe_training-background.dcm"
    assert [r["source"] for r in rows] == [f"{name}#{k}" for k in range(10)]
    # 64×64 MR is inside the training size range; no warnings
    assert all(r["warnings"] == [] for r in rows)
    text = cli("predict", "--model", MODEL, str(samples["cr_chest_heldout_J2K.dcm"]))
    assert text.code == 0 and text.stdout.startswith("cr_chest_heldout_J2K.dcm: ")


def test_explain_writes_the_heatmap(cli, samples, tmp_path) -> None:
    out = tmp_path / "heat.npy"
    src = samples["ct_abdomen_heldout_simulated-lesion.dcm"]
    res = cli("explain", "--model", MODEL, str(src), "--frame", "0", "--json", "--heatmap", str(out))
    assert res.code == 0, res.stderr
    body = res.json()
    for key in ("base_value", "output", "heatmap_shape", "class", "source"):
        assert key in body
    assert body["class"] == "lesion" and body["source"] == src.name
    assert body["heatmap_shape"] == [512, 512]
    heat = np.load(out)
    assert heat.shape == (512, 512) and heat.ndim == 2
    assert body["output"] == pytest.approx(body["probabilities"]["lesion"], abs=1e-6)
    assert abs(body["base_value"] + heat.sum() - body["output"]) < 0.1
    assert body["regions"] and body["regions"][0]["rank"] == 1


def test_explain_a_frame_of_a_zip_and_another_class(cli, study_zip) -> None:
    res = cli("explain", "--model", MODEL, str(study_zip), "--frame", "1", "--class", "no lesion",
              "--json")
    assert res.code == 0, res.stderr
    body = res.json()
    assert body["source"] in ("study/ct.dcm", "study/ct_lesion.dcm") and body["index"] == 1
    assert body["class"] == "no lesion" and body["heatmap"] is None


@pytest.mark.parametrize("args, message", [
    (["--frame", "7"], "error: frame 7 does not exist in ct_abdomen_heldout.dcm (expected: a frame "
                       "between 0 and 0)"),
    (["--class", "tumour"], "error: class 'tumour' is not one of the model's classes"),
])
def test_explain_bad_arguments_exit_2(cli, samples, args, message) -> None:
    res = cli("explain", "--model", MODEL, str(samples["ct_abdomen_heldout.dcm"]), *args, "--json")
    assert res.code == 2
    assert res.stderr.strip().splitlines() == [res.stderr.strip()]
    assert res.stderr.startswith(message)
    assert res.stdout == ""


@pytest.mark.parametrize("name, content, message", [
    ("notes.dcm", b"hello, not an image", "not a DICOM file"),
    ("empty.zip", b"PK\x05\x06" + b"\0" * 18, "no image could be loaded"),
])
def test_bad_input_exits_2_with_one_line(cli_process, tmp_path, name, content, message) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    res = cli_process("predict", "--model", MODEL, str(path), "--json")
    assert res.code == 2
    [line] = res.stderr.strip().splitlines()
    assert line.startswith(f"error: {name}: ") and message in line
    assert "Traceback" not in res.stderr


def test_an_sr_file_names_the_reason(cli) -> None:
    from pydicom.data import get_testdata_file

    res = cli("predict", "--model", MODEL, get_testdata_file("waveform_ecg.dcm", download=False))
    assert res.code == 2 and "ECG waveform, not an image" in res.stderr


def test_missing_file(cli) -> None:
    res = cli("predict", "--model", MODEL, "/nonexistent/x.dcm", "--json")
    assert res.code == 2 and "no such file" in res.stderr


def _npz(path: Path, *, multilabel: bool = False, n: int = 240) -> Path:
    rng = np.random.default_rng(0)

    def split(k: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(k) % 2
        x = rng.integers(0, 60, (k, 28, 28)).astype(np.uint8)
        x[y == 1, 8:20, 8:20] = 250  # class 1: a bright square
        labels = y.reshape(-1, 1) if not multilabel else np.stack([y, 1 - y], axis=1)
        return x, labels

    arrays = {}
    for name, k in (("train", n), ("val", 60), ("test", 60)):
        arrays[f"{name}_images"], arrays[f"{name}_labels"] = split(k)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    return path


def test_train_imaging_makes_a_usable_bundle(cli_process, tmp_path) -> None:
    npz = _npz(tmp_path / "squaremnist.npz")
    out = tmp_path / "models"
    # a subprocess: training makes TensorFlow deterministic process-wide
    res = cli_process("train-imaging", "--npz", str(npz), "--out", str(out), "--epochs", "4",
                      "--classes", "plain,square", "--modality", "CT", "--json")
    assert res.code == 0, res.stderr
    body = res.json()
    assert body["id"] == "squaremnist-cnn" and body["task"] == "binary"
    assert body["input_shape"] == [28, 28, 1]
    bundle_dir = Path(body["bundle"])
    assert {p.name for p in bundle_dir.iterdir()} >= {"model.keras", "card.json", "background.npy"}

    from precimed.imaging import explain_image, predict_images
    from precimed.registry import read_bundle

    bundle = read_bundle(bundle_dir)
    card = bundle.card
    assert card["user_supplied"] is True and card["classes"] == ["plain", "square"]
    assert card["training_data"]["class_counts"] == {"plain": 120, "square": 120}
    assert 0 <= card["evaluation"]["metrics"]["auroc"]["value"] <= 1
    img = np.zeros((28, 28), np.float32)
    img[8:20, 8:20] = 1.0
    probs = predict_images(bundle, [img])
    assert probs.shape == (1, 2)
    assert explain_image(bundle, img).heatmap.shape == (28, 28)


@pytest.mark.parametrize("problem, message", [
    ("multilabel", "multi-label"), ("missing", "missing test_labels")])
def test_train_imaging_refuses_bad_files(cli, tmp_path, problem, message) -> None:
    npz = _npz(tmp_path / "bad.npz", multilabel=problem == "multilabel", n=20)
    if problem == "missing":
        with np.load(npz) as data:
            arrays = {k: data[k] for k in data.files if k != "test_labels"}
        np.savez(npz, **arrays)
    res = cli("train-imaging", "--npz", str(npz), "--out", str(tmp_path / "m"), "--json")
    assert res.code == 2 and message in res.stderr


def test_multiclass_training_in_process(tmp_path) -> None:
    from precimed.training.medmnist import train_npz

    rng = np.random.default_rng(1)
    arrays = {}
    for name, k in (("train", 150), ("val", 45), ("test", 60)):
        y = np.arange(k) % 3
        x = rng.integers(0, 40, (k, 16, 16, 3)).astype(np.uint8)
        for c in range(3):
            x[y == c, 4:12, 4:12, c] = 250  # a coloured square per class
        arrays[f"{name}_images"], arrays[f"{name}_labels"] = x, y.reshape(-1, 1)
    npz = tmp_path / "rgb3.npz"
    np.savez(npz, **arrays)
    card = train_npz(npz, tmp_path / "models", epochs=2)
    assert card["task"] == "multiclass" and card["threshold"] is None
    assert card["inputs"][0]["shape"] == [16, 16, 3]
    assert "RGB" in card["inputs"][0]["photometric"]
    assert "auroc_macro" in card["evaluation"]["metrics"]
