"""Cohort scoring at any scale: chunked and distributed scoring, metrics, exports, figures.

- :func:`score_cohort` (``precimed score``): CSV/TSV/Parquet in chunks with bounded memory, locally
  or on a Dask cluster, to Parquet (or formula-safe CSV) or in memory;
- :func:`metrics_from_results`: AUROC with bootstrap CI, calibration, confusion matrix,
  overall and per subgroup;
- :mod:`precimed.cohort.export`: formula-injection-safe CSV, Parquet bytes;
- :mod:`precimed.cohort.images`: zips of DICOM files for image models.
"""

from __future__ import annotations

from precimed.cohort.chunk import prob_column, result_schema, score_chunk
from precimed.cohort.metrics import (
    cohort_metrics,
    label_indices,
    metrics_from_results,
    subgroup_table,
)
from precimed.cohort.reader import CohortSource
from precimed.cohort.score import DEFAULT_CHUNK_ROWS, CohortScore, score_cohort

__all__ = [
    "DEFAULT_CHUNK_ROWS", "CohortScore", "CohortSource", "cohort_metrics", "label_indices",
    "metrics_from_results", "prob_column", "result_schema", "score_chunk", "score_cohort",
    "subgroup_table",
]
