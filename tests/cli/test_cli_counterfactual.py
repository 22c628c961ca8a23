"""``precimed counterfactual``, ``precimed whatif`` and ``precimed occlusion`` as a user runs
them; every counterfactual is checked by ``precimed predict`` on the changed row."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest

from precimed.samples import sample_files

GENOMIC = "breast-metastasis-gse7390"
SAMPLE = sample_files(GENOMIC)[0]
ROOT = Path(__file__).resolve().parents[2]


def _tiny_module() -> ModuleType:
    # tests/ is shadowed by a ``tests`` package in site-packages: import the helper by path.
    spec = importlib.util.spec_from_file_location("whatif_tiny_bundle",
                                                  ROOT / "tests" / "whatif" / "tiny_bundle.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModuleType]:
    tb = _tiny_module()
    root = tmp_path_factory.mktemp("cli_models")
    tb.build(root)
    tb.build_blob_cnn(root)
    return root, tb


def _env(models: Path) -> dict[str, str]:
    return {"PRECIMED_MODELS_DIR": os.pathsep.join([str(models), str(ROOT / "assets" / "models")])}


def _apply(source: Path, rows: list[tuple[int, dict[str, Any]]], out: Path) -> Path:
    """A copy of rows of ``source`` with changes applied, one output row per (row, changes)."""
    frame = pd.read_csv(source)
    edited = []
    for r, changes in rows:
        line = frame.iloc[r].copy()
        for k, v in changes.items():
            line[k] = v
        edited.append(line)
    pd.DataFrame(edited).to_csv(out, index=False)
    return out


def test_counterfactuals_and_whatif_are_what_predict_says(cli: Any, tmp_path: Path) -> None:
    r = cli("counterfactual", "--model", GENOMIC, str(SAMPLE), "--row", "2", "--n", "3", "--json")
    assert r.code == 0, r.stderr
    items = r.json()
    assert isinstance(items, list) and len(items) == 3
    assert "greedy sparse" in items[0]["method"] and "note: method:" in r.stderr
    target = items[0]["target"]
    assert target != max(items[0]["original_probabilities"],
                         key=items[0]["original_probabilities"].get) or target == "no metastasis"
    for item in items:
        assert item["changes"] and set(item["changes"]) == set(item["from"])
        assert "age" not in item["changes"] and "er" not in item["changes"]
        assert item["n_changes"] == len(item["changes"]) and item["distance"] > 0
    w = cli("whatif", "--model", GENOMIC, str(SAMPLE), "--row", "2", "--set", "X221916_at=6.2",
            "--set", "grade=poorly differentiated", "--json")
    assert w.code == 0, w.stderr
    what = w.json()
    assert what["changes"]["X221916_at"] == 6.2 and what["additivity_error"] < 1e-4
    assert set(what["shap_after"]) == {"no metastasis", "metastasis"}
    edited = _apply(SAMPLE, [(2, it["changes"]) for it in items] + [(2, what["changes"])],
                    tmp_path / "edited.csv")
    p = cli("predict", "--model", GENOMIC, str(edited), "--json")
    assert p.code == 0, p.stderr
    preds = p.json()
    for item, pred in zip(items, preds, strict=False):
        assert pred["prediction"] == target
        for c, v in item["probabilities"].items():
            assert pred["probabilities"][c] == pytest.approx(v, abs=1e-6)
    for c, v in what["after"]["probabilities"].items():
        assert preds[-1]["probabilities"][c] == pytest.approx(v, abs=1e-6)


@pytest.mark.parametrize(("args", "message"), [
    (["counterfactual", "--row", "99"], "error: row 99 does not exist"),
    (["whatif", "--row", "0", "--set", "age=30"], "error: 'age' is fixed"),
    (["whatif", "--row", "0", "--set", "X221916_at"], "FEATURE=VALUE"),
    (["whatif", "--row", "0", "--set", "X221916_at=99", "--strict"], "outside the training range"),
])
def test_user_errors_exit_2_with_one_line(cli: Any, args: list[str], message: str) -> None:
    r = cli(args[0], "--model", GENOMIC, str(SAMPLE), *args[1:], "--json")
    assert r.code == 2, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_multiclass_counterfactual_to_a_target(cli: Any, tiny_models: tuple[Path, ModuleType],
                                               tmp_path: Path) -> None:
    root, tb = tiny_models
    env = _env(root)
    csv = root / "tiny.csv"
    r = cli("counterfactual", "--model", tb.MODEL_ID, str(csv), "--row", "0", "--target", "high",
            "--n", "2", "--json", env=env)
    assert r.code == 0, r.stderr
    items = r.json()
    assert items and all(it["target"] == "high" and len(it["probabilities"]) == 3 for it in items)
    assert all("batch_year" not in it["changes"] for it in items)
    p = cli("predict", "--model", tb.MODEL_ID,
            str(_apply(csv, [(0, it["changes"]) for it in items], tmp_path / "t.csv")), "--json",
            env=env)
    assert p.code == 0, p.stderr
    assert [row["prediction"] for row in p.json()] == ["high"] * len(items)
    same = cli("counterfactual", "--model", tb.MODEL_ID, str(csv), "--row", "0", "--target", "low",
               "--json", env=env)
    assert same.code == 2 and "already predicted 'low'" in same.stderr


def test_occlusion_command(cli: Any, tiny_models: tuple[Path, ModuleType], tmp_path: Path) -> None:
    import numpy as np

    root, tb = tiny_models
    env = _env(root)
    dcm = tb.blob_dicom(tmp_path / "blob.dcm", tb.blob_image(centre=(40.0, 20.0)))
    r = cli("occlusion", "--model", tb.CNN_ID, str(dcm), "--box", "33,13,47,27", "--json", env=env)
    assert r.code == 0, r.stderr
    out = r.json()
    assert out["class"] == "lesion" and out["delta"]["lesion"] < -0.5
    m = cli("occlusion", "--model", tb.CNN_ID, str(dcm), "--map-out", str(tmp_path / "m.npy"),
            "--json", env=env)
    assert m.code == 0, m.stderr
    heat = np.load(tmp_path / "m.npy")
    assert heat.shape == (64, 64) and m.json()["max_drop"] > 0.2
    assert abs(np.unravel_index(int(heat.argmax()), heat.shape)[0] - 40) <= 6
    bad = cli("occlusion", "--model", tb.CNN_ID, str(dcm), "--box", "0,0,80,10", env=env)
    assert bad.code == 2 and "not inside the 64×64 image" in bad.stderr
