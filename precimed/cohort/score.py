"""Score a cohort in chunks: read, validate, encode, predict, optionally explain, write Parquet.

Memory is bounded by ``chunk_rows`` whatever the file (:mod:`precimed.cohort.reader`); the stages
overlap (:mod:`precimed.cohort.pipeline`); validation is column-wise with the per-cell rules of
one patient (:mod:`precimed.cohort.columns`); the model sees the file's valid rows in the same
batches as one-shot scoring, so chunked results are bit-identical to it. Rows are numbered
0-based across the whole file; the columns are described in :mod:`precimed.cohort.chunk`.

Example:
    >>> from precimed.registry import get_bundle  # doctest: +SKIP
    >>> out = score_cohort(get_bundle("breast-cytology-wdbc"), "cohort.parquet",  # doctest: +SKIP
    ...                    output="scores.parquet", explain=True)
    >>> out.rows, out.invalid  # doctest: +SKIP
    (100000, 12)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from precimed.cards import feature_specs
from precimed.cohort.chunk import (
    ChunkResult,
    PreparedChunk,
    finish_chunk,
    prepare_chunk,
    prob_column,
    result_schema,
    score_chunk,
)
from precimed.cohort.pipeline import BackgroundWriter, Rebatcher, read_ahead
from precimed.cohort.reader import CohortSource
from precimed.errors import PrecimedInputError
from precimed.tabular.validate import match_columns

if TYPE_CHECKING:
    import pyarrow as pa

    from precimed.registry import Bundle

DEFAULT_CHUNK_ROWS = 50_000
# The default chunk is also capped in bytes of model input (as float64, the width of a Parquet
# or pandas column): 50,000 rows of the 376-input DILI model are 150 MB a chunk, and with a
# chunk read, one validated and one predicted at once the peak passed 2 GB (bench_cohort).
DEFAULT_CHUNK_BYTES = 32 << 20
Progress = Callable[[int, int | None], None]
__all__ = ["DEFAULT_CHUNK_BYTES", "DEFAULT_CHUNK_ROWS", "ChunkResult", "CohortScore", "prob_column", "result_schema",
           "default_chunk_rows", "score_chunk", "score_cohort"]


@dataclass
class CohortScore:
    """Outcome of :func:`score_cohort`. ``results`` is set when no output file was asked for."""

    model: str
    version: str
    input: str
    rows: int
    valid: int
    chunks: int
    seconds: float
    engine: str
    explain: bool
    output: str | None = None
    results: pd.DataFrame | None = None
    importance: pd.DataFrame | None = None  # mean |SHAP| per feature (rows) and class (columns)
    workers: int | None = None
    notes: list[str] = field(default_factory=list)
    explanation: dict[str, Any] | None = None  # method and additivity check (with explain)
    # Of ``seconds``, the time spent loading the model in this process (TensorFlow's import
    # included: 4-6 s on a cold CLI run here, 0 once loaded); None on a Dask cluster, whose workers
    # load it themselves. ``rows_per_second`` includes it: what the user waited for.
    model_load_seconds: float | None = None

    @property
    def invalid(self) -> int:
        return self.rows - self.valid

    def summary(self) -> dict[str, Any]:
        """The JSON summary printed by ``precimed score --json``."""
        out: dict[str, Any] = {
            "model": self.model, "version": self.version, "input": self.input,
            "output": self.output, "rows": self.rows, "valid": self.valid,
            "invalid": self.invalid, "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows / self.seconds, 1) if self.seconds > 0 else None,
            "chunks": self.chunks, "engine": self.engine, "explain": self.explain,
        }
        if self.model_load_seconds is not None:
            out["model_load_seconds"] = round(self.model_load_seconds, 3)
        if self.workers is not None:
            out["workers"] = self.workers
        if self.importance is not None:
            top = self.importance.mean(axis=1).sort_values(ascending=False).head(10)
            out["importance"] = {str(k): round(float(v), 6) for k, v in top.items()}
        if self.explanation is not None:
            out["explanation"] = self.explanation
        if self.notes:
            out["notes"] = self.notes
        return out


class _Sink:
    """Collects chunk results (Arrow tables): into a Parquet or CSV file, or in memory."""

    def __init__(self, output: str | Path | None, schema: pa.Schema) -> None:
        self.schema = schema
        self.tables: list[pa.Table] = []
        self.path = Path(output) if output is not None else None
        self._writer: Any = None
        self._csv: Any = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.suffix.lower() == ".csv":
                self._csv = open(self.path, "w", encoding="utf-8", newline="")
            else:
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(str(self.path), schema)

    def write(self, table: pa.Table) -> None:
        if self._writer is not None:
            self._writer.write_table(table)
        elif self._csv is not None:
            from precimed.cohort.export import write_safe_csv

            write_safe_csv(table.to_pandas(), self._csv, header=self._csv.tell() == 0)
        else:
            self.tables.append(table)

    def close(self, metadata: dict[str, str] | None = None) -> pd.DataFrame | None:
        if self._writer is not None:
            if metadata:
                self._writer.add_key_value_metadata(metadata)
            self._writer.close()
        if self._csv is not None:
            self._csv.close()
        if self.path is None:
            import pyarrow as pa

            return pa.concat_tables(self.tables).to_pandas() if self.tables else \
                self.schema.empty_table().to_pandas()
        return None


def default_chunk_rows(bundle: Bundle) -> int:
    """Rows per chunk when none is given: 50,000, or 32 MiB of float64 inputs if fewer.

    Example:
        >>> default_chunk_rows(get_bundle("dili-hepatic-injury-qsar"))  # doctest: +SKIP
        11155
    """
    width = max(len(feature_specs(bundle.card)), 1)
    return max(1_000, min(DEFAULT_CHUNK_ROWS, DEFAULT_CHUNK_BYTES // (8 * width)))


def check_columns(source: CohortSource, bundle: Bundle, keep: Iterable[str]) -> list[str]:
    """Fail fast, before any scoring, if model inputs or pass-through columns are missing."""
    if bundle.modality != "tabular":
        raise PrecimedInputError(f"model '{bundle.id}' takes images",
                                 expected="a tabular model for a CSV/Parquet cohort")
    columns = source.columns()
    _, notes = match_columns(columns, feature_specs(bundle.card))
    for name in keep:
        if name not in columns:
            raise PrecimedInputError(f"column '{name}' is not in {source.name}",
                                     expected=f"one of its columns: {', '.join(columns[:12])}")
    return notes


def numbered_chunks(source: CohortSource, rows: int) -> Iterator[tuple[int, Any]]:
    """(first row, chunk) pairs; chunks are Arrow record batches."""
    start = 0
    for chunk in source.batches(rows):
        yield start, chunk
        start += chunk.num_rows


def importance_frame(bundle: Bundle, abs_sum: np.ndarray | None, n: int) -> pd.DataFrame | None:
    """Mean |SHAP| per feature and class, features sorted by their mean over classes."""
    if abs_sum is None or n == 0:
        return None
    names = [s.name for s in feature_specs(bundle.card)]
    frame = pd.DataFrame(abs_sum / n, index=names, columns=list(bundle.card["classes"]))
    return frame.loc[frame.mean(axis=1).sort_values(ascending=False).index]


def _score_here(bundle: Bundle, chunks: Iterator[tuple[int, Any]],
                collect: Callable[[ChunkResult], None], *, explain: bool, keep: list[str]) -> float:
    """The local pipeline: read and validate ahead in threads, predict in global batches,
    explain and lay out here, write in a thread. Returns the seconds spent loading the model."""
    from precimed.predict import BATCH, raw_output, to_probabilities

    loading = time.perf_counter()
    model = bundle.model()
    load_seconds = time.perf_counter() - loading
    prepared = read_ahead((prepare_chunk(bundle, chunk, start, keep)
                           for start, chunk in read_ahead(chunks, "reader")), "validate")
    batcher = Rebatcher(lambda x: raw_output(model, x, batch=BATCH), BATCH)

    def finish(done: list[tuple[PreparedChunk, np.ndarray | None]]) -> None:
        for item, out in done:
            probs = None if out is None else to_probabilities(out, bundle.card)
            collect(finish_chunk(bundle, item, probs, explain=explain, keep=keep))

    for item in prepared:
        finish(batcher.add(item, item.x))
    finish(batcher.flush())
    return load_seconds


def score_cohort(bundle: Bundle, source: bytes | str | Path | CohortSource, *,
                 name: str | None = None, output: str | Path | None = None,
                 chunk_rows: int | None = None, explain: bool = False,
                 keep: Iterable[str] = (), progress: Progress | None = None,
                 scheduler: Any = None) -> CohortScore:
    """Score every row of a CSV/TSV/Parquet cohort in chunks of ``chunk_rows``.

    Args:
        bundle: a tabular bundle.
        source: a path, upload bytes (with ``name``) or a :class:`CohortSource`.
        output: a ``.parquet`` (or formula-safe ``.csv``) file to write; ``None`` keeps the
            results in memory (``CohortScore.results``).
        chunk_rows: rows per chunk (bounds memory); ``None``: :func:`default_chunk_rows`.
        explain: add the top three SHAP features per row and the global importance.
        keep: input columns copied to the output as text (e.g. the label and a subgroup).
        progress: called as ``progress(rows_done, rows_total)`` after each chunk.
        scheduler: a Dask scheduler address or ``distributed.Client``; ``None`` scores here.

    Raises:
        PrecimedInputError: unreadable file, missing columns, unreachable scheduler.
    """
    src = source if isinstance(source, CohortSource) else CohortSource.of(source, name)
    if chunk_rows is None:
        chunk_rows = default_chunk_rows(bundle)
    keep = list(dict.fromkeys(keep))
    notes = check_columns(src, bundle, keep)
    schema = result_schema(bundle.card, explain=explain, keep=keep)
    clash = [k for k in keep if schema.names.count(k) > 1]
    if clash:
        raise PrecimedInputError(f"column '{clash[0]}' has the name of a result column",
                                 expected="label/subgroup columns named differently")
    total = src.count_rows()
    started = time.perf_counter()
    sink = _Sink(output, schema)
    writer = BackgroundWriter(sink.write)
    stats = {"rows": 0, "valid": 0, "chunks": 0}
    abs_sum: list[np.ndarray] = []
    additivity: list[float] = []
    methods: set[str] = set()

    def collect(result: ChunkResult) -> None:
        writer.put(result.table)
        stats["rows"] += result.table.num_rows
        stats["valid"] += result.valid
        stats["chunks"] += 1
        if result.abs_shap_sum is not None:
            abs_sum.append(result.abs_shap_sum)
        additivity.extend(result.additivity)
        if result.method:
            methods.add(result.method)
        if progress is not None:
            progress(stats["rows"], max(total, stats["rows"]))

    workers = None
    explanation = None
    load_seconds = None
    try:
        try:
            if scheduler is None:
                load_seconds = _score_here(bundle, numbered_chunks(src, chunk_rows), collect,
                                           explain=explain, keep=keep)
            else:
                from precimed.cohort.distributed import score_on_cluster

                workers = score_on_cluster(bundle, numbered_chunks(src, chunk_rows), collect,
                                           scheduler=scheduler, explain=explain, keep=keep)
        finally:
            writer.close()
        if explain:
            explanation = {"method": ", ".join(sorted(methods)) or None,
                           "additivity_rows_checked": len(additivity),
                           "additivity_max_error": max(additivity) if additivity else None}
    finally:
        results = sink.close({"precimed": json.dumps({"model": bundle.id,
                                                      "version": bundle.version,
                                                      "explanation": explanation})})
    if stats["rows"] == 0:
        raise PrecimedInputError(f"{src.name}: no data rows",
                                 expected="at least one row under the header")
    total_abs = np.sum(abs_sum, axis=0) if abs_sum else None
    return CohortScore(
        model=bundle.id, version=bundle.version, input=src.name, rows=stats["rows"],
        valid=stats["valid"], chunks=stats["chunks"], seconds=time.perf_counter() - started,
        engine="local" if scheduler is None else "dask", explain=explain,
        output=str(output) if output is not None else None, results=results,
        importance=importance_frame(bundle, total_abs, stats["valid"]), workers=workers,
        notes=notes, explanation=explanation, model_load_seconds=load_seconds)
