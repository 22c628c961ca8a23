"""``precimed score`` as a user runs it: JSON summary, Parquet/CSV output, metrics, errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cohort"))
from cohort_data import cohort_frame  # noqa: E402  (tests/cohort/cohort_data.py)

from precimed.predict import predict_table  # noqa: E402
from precimed.registry import get_bundle  # noqa: E402
from precimed.tabular.validate import validate_table  # noqa: E402

GENOMIC = "breast-metastasis-gse7390"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = cohort_frame(get_bundle(GENOMIC), 60, seed=5)
    frame.loc[4, "grade"] = "enormous"
    frame.loc[9, "site"] = "=HYPERLINK(\"http://evil\",\"x\")"
    path = tmp_path_factory.mktemp("score") / "cohort.csv"
    frame.to_csv(path, index=False)
    return path


def test_score_json_parquet_metrics_and_importance(cli, cohort: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "scores.parquet"
    res = cli("score", "--model", GENOMIC, "--input", str(cohort), "--output", str(out),
              "--chunk-rows", "16", "--explain", "--label", "outcome", "--subgroup", "site", "--json")
    assert res.code == 0, res.stderr
    summary = res.json()
    assert {k: summary[k] for k in ("rows", "valid", "invalid", "chunks", "engine", "output")} == {
        "rows": 60, "valid": 59, "invalid": 1, "chunks": 4, "engine": "local", "output": str(out)}
    assert summary["seconds"] > 0 and summary["rows_per_second"] > 0
    assert "scored 60 of 60 rows" in res.stderr
    scores = pd.read_parquet(out)
    frame = pd.read_csv(cohort, dtype=str, keep_default_na=False)
    expected = predict_table(get_bundle(GENOMIC), validate_table(frame, get_bundle(GENOMIC).card))
    assert scores["prediction"].tolist()[:4] == [p.prediction for p in expected][:4]
    assert np.allclose(scores["P(metastasis)"].fillna(-1),
                       [p.probabilities.get("metastasis", -1) for p in expected], atol=1e-6)
    assert "'grade' is 'enormous'" in scores.loc[4, "error"]
    assert scores["top1_feature"].notna().sum() == 59
    top = list(summary["importance"])
    assert len(top) == 10 and all(v >= 0 for v in summary["importance"].values())
    m = summary["metrics"]
    assert m["label"] == "outcome" and m["labelled"] == 59
    overall = m["overall"]
    assert 0 <= overall["auroc"]["ci95"][0] <= overall["auroc"]["value"] <= overall["auroc"]["ci95"][1]
    assert np.array(overall["confusion"]["matrix"]).sum() == 59
    assert "0.19" in overall["decision"]
    assert sum(g["n"] for g in m["subgroups"].values()) == 59
    assert scores.loc[9, "site"] == "=HYPERLINK(\"http://evil\",\"x\")"  # Parquet keeps text as is
    assert "60 rows" not in res.stdout  # --json: nothing but JSON on stdout


@pytest.mark.parametrize("args, message", [
    (["--input", "absent.csv"], "absent.csv: no such file"),
    (["--input", "x.csv", "--chunk-rows", "0"], "--chunk-rows 0"),
    (["--input", "x.csv", "--subgroup", "site"], "--subgroup needs --label"),
    (["--input", "x.csv", "--output", "x.xlsx"], "--output x.xlsx"),
])
def test_score_user_errors(cli, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    res = cli("score", "--model", GENOMIC, *args)
    assert res.code == 2
    assert res.stderr.strip().splitlines()[-1].startswith("error: ") and message in res.stderr
    assert "Traceback" not in res.stderr


def test_score_unknown_model(cli) -> None:  # type: ignore[no-untyped-def]
    res = cli("score", "--model", "nope", "--input", "x.csv", "--json")
    assert res.code == 2 and "unknown model 'nope'" in res.stderr and res.stdout == ""
