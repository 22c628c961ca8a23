"""Score a cohort chunk by chunk: validate, encode, predict, optionally explain, write Parquet.

Each chunk goes through the same functions as one patient (:func:`validate_table`,
:func:`encode`, :func:`predict_proba`, :func:`explain_matrix`), so chunked scoring equals
one-shot scoring row for row. Rows are numbered 0-based across the whole file.

Result columns (:func:`result_schema`): ``row``, ``P(<class>)`` for every class, ``prediction``,
``error`` (why a row could not be scored), ``warnings`` (imputed or out-of-range cells), and with
``explain=True`` ``explained_class`` and ``top1_feature``/``top1_shap`` … ``top3_*`` (the three
features with the largest |SHAP| for the positive class, or the predicted class when there are
more than two), then the requested pass-through columns (label, subgroup) as text.

Example:
    >>> from precimed.registry import get_bundle  # doctest: +SKIP
    >>> out = score_cohort(get_bundle("breast-cytology-wdbc"), "cohort.parquet",  # doctest: +SKIP
    ...                    output="scores.parquet", explain=True)
    >>> out.rows, out.invalid  # doctest: +SKIP
    (100000, 12)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from precimed import audit
from precimed.cards import feature_specs
from precimed.cohort.reader import CohortSource
from precimed.errors import PrecimedInputError
from precimed.tabular.validate import ValidatedTable, encode, match_columns, validate_table

if TYPE_CHECKING:
    import pyarrow as pa

    from precimed.registry import Bundle

DEFAULT_CHUNK_ROWS = 50_000
TOP_K = 3
Progress = Callable[[int, int | None], None]
T = TypeVar("T")


def prob_column(class_name: str) -> str:
    """Name of the probability column of a class: ``P(<class>)``."""
    return f"P({class_name})"


def explained_class_index(card: dict[str, Any], picks: np.ndarray) -> np.ndarray:
    """Per row, the class whose SHAP values are reported: the positive class (binary), else the
    predicted class."""
    if card["task"] == "binary":
        return np.full(len(picks), card["classes"].index(card["positive_class"]), dtype=int)
    return picks.astype(int)


def result_schema(card: dict[str, Any], *, explain: bool, keep: Iterable[str] = ()) -> pa.Schema:
    """The Arrow schema of the scores file (the same for every chunk, local or distributed)."""
    import pyarrow as pa

    fields = [pa.field("row", pa.int64())]
    fields += [pa.field(prob_column(c), pa.float64()) for c in card["classes"]]
    fields += [pa.field(n, pa.string()) for n in ("prediction", "error", "warnings")]
    if explain:
        fields.append(pa.field("explained_class", pa.string()))
        for k in range(1, TOP_K + 1):
            fields += [pa.field(f"top{k}_feature", pa.string()),
                       pa.field(f"top{k}_shap", pa.float64())]
    fields += [pa.field(name, pa.string()) for name in keep]
    return pa.schema(fields)


@dataclass
class ChunkResult:
    """One scored chunk: the result rows and the sums behind the global SHAP importance."""

    frame: pd.DataFrame
    valid: int
    abs_shap_sum: np.ndarray | None = None  # (features, classes): Σ|SHAP| over explained rows


def _sentinel_validate(chunk: pd.DataFrame, bundle: Bundle) -> ValidatedTable:
    """Validate a chunk none of whose rows is usable, keeping the per-row reasons.

    :func:`validate_table` refuses a table without one valid row; in a cohort that is one bad
    chunk among many, so a known-good background row is appended and dropped again (validation
    is cell by cell, so it cannot change the verdict on the other rows).
    """
    mapping, _ = match_columns(list(chunk.columns), feature_specs(bundle.card))
    good = bundle.background().iloc[0]
    extra: dict[str, Any] = {}
    for name, col in mapping.items():
        value = good[name]
        numeric = pd.api.types.is_numeric_dtype(chunk[col].dtype)
        extra[col] = value if numeric else str(value)
    padded = pd.concat([chunk, pd.DataFrame([extra])], ignore_index=True)
    table = validate_table(padded, bundle.card)
    n = len(chunk)
    return ValidatedTable(frame=table.frame.iloc[:n], issues=[i for i in table.issues if i.row < n],
                          notes=table.notes, valid_rows=[r for r in table.valid_rows if r < n])


def validate_chunk(chunk: pd.DataFrame, bundle: Bundle) -> ValidatedTable:
    """:func:`validate_table` for one chunk; a chunk with no usable row is not an error."""
    try:
        return validate_table(chunk, bundle.card)
    except PrecimedInputError as exc:
        if not str(exc).startswith("no row can be scored"):
            raise
        return _sentinel_validate(chunk, bundle)


@dataclass
class PreparedChunk:
    """A chunk validated and encoded, ready for the model (the stage that can run ahead)."""

    chunk: pd.DataFrame
    start: int
    table: ValidatedTable
    valid: np.ndarray
    x: np.ndarray | None


def prepare_chunk(bundle: Bundle, chunk: pd.DataFrame, start: int) -> PreparedChunk:
    """Validate and encode one chunk whose first row is row ``start`` of the file."""
    chunk = chunk.reset_index(drop=True)
    table = validate_chunk(chunk, bundle)
    valid = np.asarray(table.valid_rows, dtype=np.int64)
    x = encode(table.frame.iloc[valid], bundle.card) if len(valid) else None
    return PreparedChunk(chunk, start, table, valid, x)


def score_chunk(bundle: Bundle, chunk: pd.DataFrame, start: int, *, explain: bool = False,
                keep: Iterable[str] = ()) -> ChunkResult:
    """Score one chunk whose first row is row ``start`` of the file.

    Raises:
        PrecimedInputError: required columns missing.
    """
    return finish_chunk(bundle, prepare_chunk(bundle, chunk, start), explain=explain, keep=keep)


def finish_chunk(bundle: Bundle, prepared: PreparedChunk, *, explain: bool = False,
                 keep: Iterable[str] = ()) -> ChunkResult:
    """Predict (and explain) a prepared chunk and lay out its result rows."""
    from precimed.predict import decide, predict_proba

    card = bundle.card
    classes = list(card["classes"])
    chunk, start, table, valid, x = (prepared.chunk, prepared.start, prepared.table,
                                     prepared.valid, prepared.x)
    n = len(chunk)
    probs = np.full((n, len(classes)), np.nan)
    prediction = np.full(n, None, dtype=object)
    out: dict[str, Any] = {"row": np.arange(start, start + n, dtype=np.int64)}
    abs_sum = None
    explain_cols: dict[str, np.ndarray] = {}
    if x is not None:
        p = predict_proba(bundle, x)
        picks = decide(p, card)
        probs[valid] = p
        prediction[valid] = np.asarray(classes, dtype=object)[picks]
        if explain:
            explain_cols, abs_sum = _top_features(bundle, x, picks, valid, n)
        counts = np.bincount(picks, minlength=len(classes))
        audit.record("score", bundle, x, {"first_row": start, "rows": n, "invalid": n - len(valid),
                                          "counts": {c: int(k) for c, k in zip(classes, counts,
                                                                               strict=True)}})
    for j, c in enumerate(classes):
        out[prob_column(c)] = probs[:, j]
    out["prediction"] = prediction
    errors = table.row_errors()
    out["error"] = np.array([errors.get(r) for r in range(n)], dtype=object)
    flags: dict[int, list[str]] = {}
    for issue in table.issues:
        if not issue.blocks_row:
            flags.setdefault(issue.row, []).append(issue.message)
    out["warnings"] = np.array(["; ".join(flags[r]) if r in flags else None for r in range(n)],
                               dtype=object)
    if explain and not explain_cols:  # no valid row in this chunk: the columns stay empty
        explain_cols = {"explained_class": np.full(n, None, dtype=object)}
        for k in range(1, TOP_K + 1):
            explain_cols[f"top{k}_feature"] = np.full(n, None, dtype=object)
            explain_cols[f"top{k}_shap"] = np.full(n, np.nan)
    out.update(explain_cols)
    for name in keep:
        col = chunk[name]
        text = col.astype("string")
        out[name] = text.astype(object).where(col.notna(), None).to_numpy()
    return ChunkResult(pd.DataFrame(out), valid=len(valid), abs_shap_sum=abs_sum)


def _top_features(bundle: Bundle, x: np.ndarray, picks: np.ndarray, valid: np.ndarray,
                  n: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    from precimed.explain.tabular import explain_matrix

    card = bundle.card
    names = np.asarray([s.name for s in feature_specs(card)], dtype=object)
    values, _ = explain_matrix(bundle, x)  # (rows, features, classes)
    which = explained_class_index(card, picks)
    contrib = values[np.arange(len(valid)), :, which]  # (rows, features)
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :TOP_K]
    cols: dict[str, np.ndarray] = {}
    explained = np.full(n, None, dtype=object)
    explained[valid] = np.asarray(card["classes"], dtype=object)[which]
    cols["explained_class"] = explained
    for k in range(TOP_K):
        feat = np.full(n, None, dtype=object)
        shap = np.full(n, np.nan)
        if k < order.shape[1]:  # a model with fewer than three features leaves the rest empty
            feat[valid] = names[order[:, k]]
            shap[valid] = contrib[np.arange(len(valid)), order[:, k]]
        cols[f"top{k + 1}_feature"] = feat
        cols[f"top{k + 1}_shap"] = shap
    return cols, np.abs(values).sum(axis=0)


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
        if self.workers is not None:
            out["workers"] = self.workers
        if self.importance is not None:
            top = self.importance.mean(axis=1).sort_values(ascending=False).head(10)
            out["importance"] = {str(k): round(float(v), 6) for k, v in top.items()}
        if self.notes:
            out["notes"] = self.notes
        return out


class _Sink:
    """Collects chunk results: into a Parquet or CSV file, or in memory."""

    def __init__(self, output: str | Path | None, schema: pa.Schema) -> None:
        self.schema = schema
        self.frames: list[pd.DataFrame] = []
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

    def write(self, frame: pd.DataFrame) -> None:
        if self._writer is not None:
            import pyarrow as pa

            self._writer.write_table(pa.Table.from_pandas(frame, schema=self.schema,
                                                          preserve_index=False))
        elif self._csv is not None:
            from precimed.cohort.export import write_safe_csv

            write_safe_csv(frame, self._csv, header=self._csv.tell() == 0)
        else:
            self.frames.append(frame)

    def close(self) -> pd.DataFrame | None:
        if self._writer is not None:
            self._writer.close()
        if self._csv is not None:
            self._csv.close()
        if self.path is None:
            # Through Arrow, as the file would be: the same dtypes and missing values either way.
            import pyarrow as pa

            tables = [pa.Table.from_pandas(f, schema=self.schema, preserve_index=False)
                      for f in self.frames]
            return pa.concat_tables(tables).to_pandas() if tables else \
                self.schema.empty_table().to_pandas()
        return None


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


def numbered_chunks(source: CohortSource, rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """(first row, chunk) pairs."""
    start = 0
    for chunk in source.chunks(rows):
        yield start, chunk
        start += len(chunk)


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """Yield from ``items`` while a worker thread already computes the next one."""
    from concurrent.futures import ThreadPoolExecutor

    done = object()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="precimed-read-ahead") as pool:
        future = pool.submit(next, items, done)
        while True:
            item = future.result()
            if item is done:
                return
            future = pool.submit(next, items, done)
            yield item  # type: ignore[misc]


def importance_frame(bundle: Bundle, abs_sum: np.ndarray | None, n: int) -> pd.DataFrame | None:
    """Mean |SHAP| per feature and class, features sorted by their mean over classes."""
    if abs_sum is None or n == 0:
        return None
    names = [s.name for s in feature_specs(bundle.card)]
    frame = pd.DataFrame(abs_sum / n, index=names, columns=list(bundle.card["classes"]))
    return frame.loc[frame.mean(axis=1).sort_values(ascending=False).index]


def score_cohort(bundle: Bundle, source: bytes | str | Path | CohortSource, *,
                 name: str | None = None, output: str | Path | None = None,
                 chunk_rows: int = DEFAULT_CHUNK_ROWS, explain: bool = False,
                 keep: Iterable[str] = (), progress: Progress | None = None,
                 scheduler: Any = None) -> CohortScore:
    """Score every row of a CSV/TSV/Parquet cohort in chunks of ``chunk_rows``.

    Args:
        bundle: a tabular bundle.
        source: a path, upload bytes (with ``name``) or a :class:`CohortSource`.
        output: a ``.parquet`` (or formula-safe ``.csv``) file to write; ``None`` keeps the
            results in memory (``CohortScore.results``).
        explain: add the top three SHAP features per row and the global importance.
        keep: input columns copied to the output as text (e.g. the label and a subgroup).
        progress: called as ``progress(rows_done, rows_total)`` after each chunk.
        scheduler: a Dask scheduler address or ``distributed.Client``; ``None`` scores here.

    Raises:
        PrecimedInputError: unreadable file, missing columns, unreachable scheduler.
    """
    src = source if isinstance(source, CohortSource) else CohortSource.of(source, name)
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
    stats = {"rows": 0, "valid": 0, "chunks": 0}
    abs_sum: list[np.ndarray] = []

    def collect(result: ChunkResult) -> None:
        sink.write(result.frame)
        stats["rows"] += len(result.frame)
        stats["valid"] += result.valid
        stats["chunks"] += 1
        if result.abs_shap_sum is not None:
            abs_sum.append(result.abs_shap_sum)
        if progress is not None:
            progress(stats["rows"], max(total, stats["rows"]))

    workers = None
    try:
        if scheduler is None:
            # Reading and validating chunk k+1 (a background thread) overlaps predicting and
            # writing chunk k: pyarrow, numpy and TensorFlow release the GIL for most of it.
            prepared = (prepare_chunk(bundle, chunk, start)
                        for start, chunk in numbered_chunks(src, chunk_rows))
            for item in read_ahead(prepared):
                collect(finish_chunk(bundle, item, explain=explain, keep=keep))
        else:
            from precimed.cohort.distributed import score_on_cluster

            workers = score_on_cluster(bundle, numbered_chunks(src, chunk_rows), collect,
                                       scheduler=scheduler, explain=explain, keep=keep)
    finally:
        results = sink.close()
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
        notes=notes)
