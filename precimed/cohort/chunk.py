"""One cohort chunk: validate and encode it, lay out its result rows, explain it.

Used by the local pipeline (:mod:`precimed.cohort.score`) and by Dask workers
(:mod:`precimed.cohort.distributed`); it imports neither. Rows are numbered 0-based across the
whole file.

Result columns (:func:`result_schema`): ``row``, ``P(<class>)`` for every class, ``prediction``,
``error`` (why a row could not be scored), ``warnings`` (imputed or out-of-range cells), and with
``explain=True`` ``explained_class`` and ``top1_feature``/``top1_shap`` … ``top3_*`` (the three
features with the largest |SHAP| for the positive class, or the predicted class when there are
more than two), then the requested pass-through columns (label, subgroup) as text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from precimed import audit
from precimed.cards import feature_specs
from precimed.cohort.columns import CheckedChunk, check_chunk

if TYPE_CHECKING:
    import pyarrow as pa

    from precimed.registry import Bundle

TOP_K = 3
ADDITIVITY_ROWS = 16  # rows per chunk whose SHAP values are checked to add up to the output


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
    """One scored chunk: its result rows (an Arrow table in :func:`result_schema`), the sums
    behind the global SHAP importance and the additivity check of its explanations."""

    table: pa.Table
    valid: int
    abs_shap_sum: np.ndarray | None = None  # (features, classes): Σ|SHAP| over explained rows
    additivity: list[float] = field(default_factory=list)  # |base + Σ SHAP − output| per row
    method: str | None = None


@dataclass
class PreparedChunk:
    """A chunk validated and encoded, ready for the model (the stage that can run ahead)."""

    start: int
    checked: CheckedChunk
    keep: dict[str, pa.Array]

    @property
    def x(self) -> np.ndarray | None:
        return self.checked.x

    @property
    def n(self) -> int:
        return self.checked.n


def _as_text(col: Any) -> pa.Array:
    """A pass-through column as text, nulls kept (pandas' own formatting of numbers)."""
    import pyarrow as pa

    if isinstance(col, pd.Series):
        series = col
    else:
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            return col.cast(pa.string())
        series = col.to_pandas()
    text = pd.Series(series).reset_index(drop=True).astype("string")
    return pa.array(text.astype(object).where(text.notna(), None).to_numpy(), type=pa.string())


def prepare_chunk(bundle: Bundle, chunk: Any, start: int, keep: Iterable[str] = ()) -> PreparedChunk:
    """Validate and encode one chunk (Arrow record batch or pandas frame) whose first row is
    row ``start`` of the file.

    Raises:
        PrecimedInputError: required columns missing.
    """
    checked = check_chunk(chunk, bundle.card)
    get = (lambda c: chunk[c]) if isinstance(chunk, pd.DataFrame) else chunk.column
    return PreparedChunk(start, checked, {name: _as_text(get(name)) for name in keep})


def _strings(values: list[str], idx: np.ndarray, n: int) -> pa.Array:
    """``values[idx[i]]`` per row, null where ``idx`` is negative, without Python objects."""
    import pyarrow as pa

    return pa.array(values, type=pa.string()).take(pa.array(idx, mask=idx < 0))


def finish_chunk(bundle: Bundle, prepared: PreparedChunk, probs: np.ndarray | None, *,
                 explain: bool = False, keep: Iterable[str] = ()) -> ChunkResult:
    """Lay out the result rows of a chunk whose valid rows have probabilities ``probs``
    (and explain them)."""
    import pyarrow as pa

    from precimed.predict import decide

    card = bundle.card
    classes = list(card["classes"])
    checked, n = prepared.checked, prepared.n
    valid = checked.valid
    full = np.full((n, len(classes)), np.nan)
    picks_all = np.full(n, -1, dtype=np.int64)
    columns: dict[str, Any] = {"row": np.arange(prepared.start, prepared.start + n, dtype=np.int64)}
    result = ChunkResult(table=None, valid=len(valid))  # type: ignore[arg-type]
    explain_cols: dict[str, Any] = {}
    if probs is not None and len(valid):
        picks = decide(probs, card)
        full[valid] = probs
        picks_all[valid] = picks
        if explain:
            explain_cols = _top_features(bundle, prepared, probs, picks, result)
        counts = np.bincount(picks, minlength=len(classes))
        audit.record("score", bundle, checked.x, {
            "first_row": prepared.start, "rows": n, "invalid": n - len(valid),
            "counts": {c: int(k) for c, k in zip(classes, counts, strict=True)}})
    for j, c in enumerate(classes):
        columns[prob_column(c)] = full[:, j]
    columns["prediction"] = _strings(classes, picks_all, n)
    columns["error"] = pa.array(checked.errors, type=pa.string())
    columns["warnings"] = pa.array(checked.warnings, type=pa.string())
    if explain:
        if not explain_cols:  # no valid row in this chunk: the columns stay empty
            explain_cols["explained_class"] = pa.nulls(n, pa.string())
            for k in range(1, TOP_K + 1):
                explain_cols[f"top{k}_feature"] = pa.nulls(n, pa.string())
                explain_cols[f"top{k}_shap"] = np.full(n, np.nan)
        columns.update(explain_cols)
    for name in keep:
        columns[name] = prepared.keep[name]
    schema = result_schema(card, explain=explain, keep=list(keep))
    result.table = pa.table({f.name: columns[f.name] for f in schema}, schema=schema)
    return result


def _top_features(bundle: Bundle, prepared: PreparedChunk, probs: np.ndarray, picks: np.ndarray,
                  result: ChunkResult) -> dict[str, Any]:
    from precimed.explain.batched import cohort_explainer
    from precimed.explain.tabular import feature_scale

    card = bundle.card
    n, valid = prepared.n, prepared.checked.valid
    assert prepared.x is not None
    names = [s.name for s in feature_specs(card)]
    explainer = cohort_explainer(bundle)
    values, base = feature_scale(bundle, *explainer.explain(prepared.x))  # (rows, features, classes)
    result.method = explainer.method
    rows = np.arange(len(valid))
    which = explained_class_index(card, picks)
    contrib = values[rows, :, which]  # (rows, features)
    check = rows[:ADDITIVITY_ROWS]
    result.additivity = np.abs(base[which[check]] + contrib[check].sum(axis=1)
                               - probs[check, which[check]]).tolist()
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :TOP_K]
    cols: dict[str, Any] = {}
    idx = np.full(n, -1, dtype=np.int64)
    idx[valid] = which
    cols["explained_class"] = _strings(list(card["classes"]), idx, n)
    for k in range(TOP_K):
        feat = np.full(n, -1, dtype=np.int64)
        shap = np.full(n, np.nan)
        if k < order.shape[1]:  # a model with fewer than three features leaves the rest empty
            feat[valid] = order[:, k]
            shap[valid] = contrib[rows, order[:, k]]
        cols[f"top{k + 1}_feature"] = _strings(names, feat, n)
        cols[f"top{k + 1}_shap"] = shap
    result.abs_shap_sum = np.abs(values).sum(axis=0)
    return cols


def score_chunk(bundle: Bundle, chunk: Any, start: int, *, explain: bool = False,
                keep: Iterable[str] = ()) -> ChunkResult:
    """Score one chunk on its own (a Dask task): validate, predict, explain, lay out.

    Raises:
        PrecimedInputError: required columns missing.
    """
    from precimed.predict import predict_proba

    keep = list(keep)
    prepared = prepare_chunk(bundle, chunk, start, keep)
    probs = predict_proba(bundle, prepared.x) if prepared.x is not None else None
    return finish_chunk(bundle, prepared, probs, explain=explain, keep=keep)
