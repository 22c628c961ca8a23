"""Scoring on a real two-worker Dask cluster (processes) equals local scoring, row for row, and
each worker loads the model once, however many chunks it scores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from precimed.cohort import score_cohort
from precimed.errors import PrecimedInputError
from precimed.registry import Bundle


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster) as c:
        yield c


def _count_model_loads() -> None:
    """Run on each worker: count calls of the function that reads a .keras file."""
    import precimed.registry as registry

    if not hasattr(registry, "_loads_for_test"):
        registry._loads_for_test = 0  # type: ignore[attr-defined]
        original = registry.load_keras_safely

        def counting(path: Any, *, label: str) -> Any:
            registry._loads_for_test += 1  # type: ignore[attr-defined]
            return original(path, label=label)

        registry.load_keras_safely = counting  # type: ignore[assignment]


def _loads() -> int:
    import precimed.registry as registry

    return int(getattr(registry, "_loads_for_test", -1))


def test_dask_equals_local_and_loads_once_per_worker(client: Any, genomic: Bundle,
                                                     genomic_cohort: pd.DataFrame,
                                                     tmp_path: Path) -> None:
    client.run(_count_model_loads)
    src = tmp_path / "cohort.csv"
    genomic_cohort.to_csv(src, index=False)
    local = score_cohort(genomic, src, chunk_rows=6, explain=True, keep=["outcome"])
    dst = tmp_path / "scores.parquet"
    remote = score_cohort(genomic, src, output=dst, chunk_rows=6, explain=True, keep=["outcome"],
                          scheduler=client)
    assert remote.engine == "dask" and remote.workers == 2 and remote.chunks == 8
    pd.testing.assert_frame_equal(pd.read_parquet(dst), local.results, check_dtype=False,
                                  atol=1e-6)
    assert remote.importance is not None and local.importance is not None
    pd.testing.assert_frame_equal(remote.importance, local.importance, atol=1e-6)
    # a second run without SHAP reuses the loaded models
    again = score_cohort(genomic, src, chunk_rows=4, scheduler=client)
    assert again.chunks == 12 and again.valid == local.valid
    loads = client.run(_loads)
    assert sorted(loads.values()) == [1, 1], loads  # once per worker, not per chunk (20 chunks)
    # both workers did work: the plugin shipped the bundle to each
    shipped = client.run(lambda: __import__("precimed.cohort.distributed",
                                            fromlist=["_"]).worker_bundles())
    assert all(v == [f"{genomic.id}@{genomic.card['weights_sha256'][:12]}"] for v in shipped.values())


def test_unreachable_scheduler_is_a_user_error(genomic: Bundle, genomic_cohort: pd.DataFrame,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("precimed.cohort.distributed.CONNECT_TIMEOUT", "2s")
    with pytest.raises(PrecimedInputError, match="cannot reach the Dask scheduler"):
        score_cohort(genomic, genomic_cohort.to_csv(index=False).encode(), name="c.csv",
                     scheduler="tcp://127.0.0.1:9")
