"""Cohort scoring on a Dask cluster (``dask.distributed``).

The client reads the file in chunks (so workers need no access to it), scatters each chunk to a
worker and writes the results back in row order, keeping at most a few chunks per worker in
flight so that memory stays bounded on both sides.

The model travels once: :class:`BundlePlugin` (a Dask ``WorkerPlugin``) carries the bundle's
files, writes them under the worker's local directory, checks the weights' SHA-256 and loads the
model when the worker starts (or when the plugin is registered). Tasks then find the loaded bundle
in a per-process cache keyed by bundle id and weights checksum: one load per worker, not per
chunk, and a worker that joins later gets the plugin too.

Example:
    >>> score_cohort(bundle, "cohort.parquet", output="scores.parquet",  # doctest: +SKIP
    ...              scheduler="tcp://10.0.0.5:8786")
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from distributed.diagnostics.plugin import WorkerPlugin

from precimed.errors import PrecimedInputError

if TYPE_CHECKING:
    from precimed.cohort.chunk import ChunkResult
    from precimed.registry import Bundle

CHUNKS_PER_THREAD = 2
CONNECT_TIMEOUT = "20s"
_WORKER_BUNDLES: dict[tuple[str, str], Bundle] = {}
_WORKER_LOCK = threading.Lock()


def bundle_key(bundle: Bundle) -> tuple[str, str]:
    return bundle.id, str(bundle.card["weights_sha256"])


def bundle_files(bundle: Bundle) -> dict[str, bytes]:
    """The files of a bundle folder (model, card, background), to ship to workers."""
    return {p.name: p.read_bytes() for p in sorted(bundle.path.iterdir())
            if p.is_file() and not p.name.startswith(".")}


def install_bundle(key: tuple[str, str], files: dict[str, bytes], root: Path, *,
                   explain: bool) -> Bundle:
    """Write and load a shipped bundle in this process, once per (id, checksum)."""
    from precimed.registry import read_bundle

    with _WORKER_LOCK:
        bundle = _WORKER_BUNDLES.get(key)
        if bundle is None:
            folder = root / "precimed-bundles" / f"{key[1][:16]}" / key[0]
            folder.mkdir(parents=True, exist_ok=True)
            for name, data in files.items():
                (folder / name).write_bytes(data)
            bundle = read_bundle(folder)
            if bundle_key(bundle) != key:
                raise RuntimeError(f"shipped bundle {key[0]} does not match its checksum")
            bundle.model()  # checks the SHA-256, then loads (safe mode)
            _WORKER_BUNDLES[key] = bundle
    if explain:
        from precimed.explain.tabular import backend_for

        backend_for(bundle)
    return bundle


def worker_bundles() -> list[str]:
    """Ids of the bundles loaded in this process (for tests and diagnostics)."""
    return sorted(f"{k[0]}@{k[1][:12]}" for k in _WORKER_BUNDLES)


class BundlePlugin(WorkerPlugin):  # type: ignore[misc]
    """Ships a bundle to every worker and loads its model there once."""

    def __init__(self, bundle: Bundle, explain: bool) -> None:
        self.key = bundle_key(bundle)
        self.files = bundle_files(bundle)
        self.explain = explain
        self.name = f"precimed-{self.key[0]}-{self.key[1][:12]}{'-shap' if explain else ''}"

    def setup(self, worker: Any) -> None:
        install_bundle(self.key, self.files, Path(worker.local_directory), explain=self.explain)


def _score_on_worker(key: tuple[str, str], chunk: Any, start: int, explain: bool,
                     keep: list[str]) -> ChunkResult:
    from precimed.cohort.chunk import score_chunk

    bundle = _WORKER_BUNDLES.get(key)
    if bundle is None:
        raise RuntimeError(f"model {key[0]} is not loaded on this worker (plugin missing)")
    return score_chunk(bundle, chunk, start, explain=explain, keep=keep)


def connect(scheduler: Any) -> tuple[Any, bool]:
    """A ``distributed.Client`` for an address (ours to close) or the client given."""
    from distributed import Client

    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        return Client(str(scheduler), timeout=CONNECT_TIMEOUT), True
    except (OSError, TimeoutError, ValueError) as exc:
        raise PrecimedInputError(
            f"cannot reach the Dask scheduler at '{scheduler}' ({type(exc).__name__})",
            expected="the address of a running scheduler, e.g. tcp://127.0.0.1:8786") from None


def score_on_cluster(bundle: Bundle, chunks: Iterator[tuple[int, pd.DataFrame]],
                     collect: Callable[[ChunkResult], None], *, scheduler: Any, explain: bool,
                     keep: Iterable[str]) -> int:
    """Score ``chunks`` on the cluster, passing results to ``collect`` in row order.

    Returns:
        The number of workers.
    """
    client, owned = connect(scheduler)
    try:
        workers = client.scheduler_info()["workers"]
        if not workers:
            raise PrecimedInputError(f"the Dask scheduler at '{scheduler}' has no workers",
                                     expected="at least one worker connected to it")
        threads = sum(int(w.get("nthreads", 1)) for w in workers.values())
        client.register_plugin(BundlePlugin(bundle, explain))
        key, keep_list = bundle_key(bundle), list(keep)
        pending: deque[Any] = deque()
        for start, chunk in chunks:
            data = client.scatter(chunk, hash=False)
            pending.append(client.submit(_score_on_worker, key, data, start, explain, keep_list,
                                         pure=False))
            while len(pending) >= CHUNKS_PER_THREAD * threads:
                collect(pending.popleft().result())
        while pending:
            collect(pending.popleft().result())
        return len(workers)
    finally:
        if owned:
            client.close()
