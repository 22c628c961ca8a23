"""Reading a cohort in bounded memory whatever the file layout, and scoring it in chunks with
results bit-identical to one-shot scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from precimed.cohort import CohortSource, prob_column, score_cohort
from precimed.predict import predict_table
from precimed.registry import Bundle
from precimed.tabular.validate import validate_table


def test_one_large_row_group_streams_in_bounded_memory(tmp_path: Path) -> None:
    rows, cols = 1_000_000, 4
    rng = np.random.default_rng(0)
    table = pa.table({f"f{j}": rng.normal(size=rows) for j in range(cols)})
    path = tmp_path / "one-group.parquet"
    pq.write_table(table, path, row_group_size=rows, compression="none", data_page_size=64 << 10)
    assert pq.ParquetFile(path).metadata.num_row_groups == 1
    size = rows * cols * 8  # 32 MB of float64
    del table
    src = CohortSource.of(path)
    base = pa.total_allocated_bytes()
    peak, seen, parts = 0, [], []
    for batch in src.batches(4_000):
        peak = max(peak, pa.total_allocated_bytes() - base)
        seen.append(batch.num_rows)
        parts.append(batch.column("f0").to_numpy())
        del batch
    assert sum(seen) == rows and max(seen) == 4_000
    # pyarrow's defaults (no read buffer) load each column chunk whole: the whole row group
    unbuffered = 0
    base = pa.total_allocated_bytes()
    for batch in pq.ParquetFile(path, pre_buffer=False, buffer_size=0).iter_batches(4_000):
        unbuffered = max(unbuffered, pa.total_allocated_bytes() - base)
        del batch
    assert unbuffered >= size
    assert peak < unbuffered / 2, f"peak Arrow memory {peak:,} bytes, {unbuffered:,} unbuffered"
    whole = pq.read_table(path, columns=["f0"]).column(0).to_numpy()
    assert np.array_equal(np.concatenate(parts), whole)


def test_chunked_is_bit_identical_to_one_shot(genomic: Bundle, genomic_cohort: pd.DataFrame,
                                              tmp_path: Path) -> None:
    """Parquet in one row group and in many, and CSV, in chunks of 5: the same bytes as one
    chunk, and the probabilities of predict_table over the whole table, bit for bit."""
    typed = genomic_cohort.copy()
    numeric = [s["name"] for s in genomic.card["inputs"] if s["dtype"] != "category"]
    typed[numeric] = typed[numeric].apply(pd.to_numeric, errors="coerce")
    one, many, csv = tmp_path / "one.parquet", tmp_path / "many.parquet", tmp_path / "c.csv"
    typed.to_parquet(one)  # pandas: one row group
    typed.to_parquet(many, row_group_size=7)
    genomic_cohort.to_csv(csv, index=False)
    for path, frame in ((one, typed), (many, typed), (csv, genomic_cohort)):
        whole = score_cohort(genomic, path, chunk_rows=10_000, keep=["site"]).results
        chunked = score_cohort(genomic, path, chunk_rows=5, keep=["site"]).results
        assert whole is not None and chunked is not None
        pd.testing.assert_frame_equal(chunked, whole, check_exact=True)
        expected = predict_table(genomic, validate_table(frame, genomic.card))
        for p in expected:
            got = whole.iloc[p.row]
            assert (got["error"] if p.error else None) == (p.error or None)
            for c in genomic.classes:
                if not p.error:
                    assert got[prob_column(c)] == p.probabilities[c]  # exact


def test_a_large_csv_chunk_in_many_arrow_pieces_is_read(genomic: Bundle, tmp_path: Path) -> None:
    """pandas returns each text column of a big CSV chunk as an Arrow array in pieces, which
    RecordBatch.from_pandas refused ('Cannot convert ChunkedArray'): every 10^6-row CSV failed."""
    from cohort_data import cohort_frame

    frame = cohort_frame(genomic, 30_000, seed=2)
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    [first] = list(CohortSource.of(path).chunks(30_000))
    assert max(first[c].array._pa_array.num_chunks for c in first.columns) > 1  # the precondition
    batches = list(CohortSource.of(path).batches(30_000))
    assert [b.num_rows for b in batches] == [30_000]
    whole = score_cohort(genomic, path, chunk_rows=30_000).results
    chunked = score_cohort(genomic, path, chunk_rows=7_000).results
    assert whole is not None and len(whole) == 30_000
    pd.testing.assert_frame_equal(chunked, whole, check_exact=True)
