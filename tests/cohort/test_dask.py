"""Scoring on a real Dask cluster equals local scoring, row for row, and each worker loads the
model once, however many chunks it scores.

The cluster is what a user would start: one ``dask scheduler`` and two ``dask worker`` processes
(``--nthreads 1``) on loopback, on free ports, stopped at teardown."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from precimed.cohort import score_cohort
from precimed.errors import PrecimedInputError
from precimed.registry import Bundle


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a running ``dask scheduler`` with two ``dask worker`` processes."""
    from distributed import Client

    tmp = tmp_path_factory.mktemp("dask")
    dask = str(Path(sys.executable).with_name("dask"))
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0",
           "PRECIMED_AUDIT_LOG": "off",  # tasks defined here are imported by the workers
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                          os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1",
                               "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for k in range(2):
            procs.append(subprocess.Popen(
                [dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
                 "--host", "127.0.0.1", "--no-dashboard", "--no-nanny",
                 "--local-directory", str(tmp / f"w{k}")],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with Client(address, timeout="60s") as c:
            c.wait_for_workers(2, timeout=120)
            assert len(set(c.run(os.getpid).values())) == 2  # two processes
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def client(scheduler: str) -> Iterator[Any]:
    from distributed import Client

    with Client(scheduler, timeout="60s") as c:
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_cli_scheduler_equals_local_row_by_row(scheduler: str, client: Any, genomic: Bundle,
                                               genomic_cohort: pd.DataFrame, tmp_path: Path,
                                               cli: Any) -> None:
    src = tmp_path / "cohort.parquet"
    typed = genomic_cohort.copy()
    typed["size"] = pd.to_numeric(typed["size"], errors="coerce")  # 'huge' → empty → imputed
    typed.to_parquet(src, row_group_size=48)  # one row group, read in chunks of 5
    local, remote = tmp_path / "local.parquet", tmp_path / "remote.parquet"
    for out, extra in ((local, []), (remote, ["--scheduler", scheduler])):
        res = cli("score", "--model", genomic.id, "--input", str(src), "--output", str(out),
                  "--chunk-rows", "5", "--explain", "--json", *extra)
        assert res.code == 0, res.stderr
        summary = res.json()  # stdout is the JSON alone; progress went to stderr
        assert summary["rows"] == 48 and summary["chunks"] == 10
        assert "rows/s" in res.stderr
    assert summary["engine"] == "dask" and summary["workers"] == 2
    a, b = pd.read_parquet(local), pd.read_parquet(remote)
    text = ["row", "prediction", "error", "warnings", "explained_class", "top1_feature"]
    pd.testing.assert_frame_equal(a[text], b[text])
    # the model sees other batches on a worker than here: float32 rounding, no more
    pd.testing.assert_frame_equal(a, b, check_exact=False, atol=1e-6, rtol=0)
    pids = client.run(os.getpid)
    assert len(set(pids.values())) == 2  # two worker processes, neither of them this one
    assert os.getpid() not in pids.values()
