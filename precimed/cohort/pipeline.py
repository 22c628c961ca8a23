"""The stages of local cohort scoring, overlapped: read → validate → predict → write.

Reading and validating run in background threads, each one chunk ahead (pyarrow and NumPy
release the GIL for their loops), the model runs in the calling thread (TensorFlow releases it
too) and the writer in another thread. :class:`Rebatcher` feeds the model the file's valid rows
in batches of exactly :data:`precimed.predict.BATCH`, whatever the chunk size, as the one-shot
path (:func:`precimed.predict.predict_table` over the whole file) does: TensorFlow's result for a
row depends, in the last bit, on the batch it is computed in, so this is what makes chunked
scoring bit-identical to one-shot scoring.

Example:
    >>> meter = ProgressMeter(total=1_000_000)
    >>> meter.line(250_000, now=meter.started + 10.0)
    'scored 250,000 of 1,000,000 rows (25%), 25,000 rows/s, about 30 s left'
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def read_ahead(items: Iterator[T], name: str = "read-ahead") -> Iterator[T]:
    """Yield from ``items`` while a worker thread already computes the next one."""
    done = object()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"precimed-{name}") as pool:
        future = pool.submit(next, items, done)
        while True:
            item = future.result()
            if item is done:
                return
            future = pool.submit(next, items, done)
            yield item  # type: ignore[misc]


class Rebatcher:
    """Runs ``predict`` on consecutive batches of exactly ``batch`` valid rows across chunks.

    ``add(item, x)`` queues a chunk (``x`` its valid rows, or ``None``); it returns the chunks
    whose rows all have outputs, in order, as ``(item, outputs)``. ``flush()`` predicts the
    remainder (the file's last, shorter batch) and returns the rest.
    """

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], batch: int) -> None:
        self.predict = predict
        self.batch = batch
        self.chunks: deque[list[Any]] = deque()  # [item, rows needed, outputs so far]
        self.rows: list[np.ndarray] = []
        self.buffered = 0

    def add(self, item: Any, x: np.ndarray | None) -> list[tuple[Any, np.ndarray | None]]:
        need = 0 if x is None else len(x)
        self.chunks.append([item, need, []])
        if need:
            self.rows.append(x)  # type: ignore[arg-type]
            self.buffered += need
        while self.buffered >= self.batch:
            self._run(self.batch)
        return self._completed()

    def flush(self) -> list[tuple[Any, np.ndarray | None]]:
        if self.buffered:
            self._run(self.buffered)
        return self._completed()

    def _run(self, size: int) -> None:
        taken, got = [], 0
        while got < size:
            head = self.rows[0]
            take = min(size - got, len(head))
            taken.append(head[:take])
            if take == len(head):
                self.rows.pop(0)
            else:
                self.rows[0] = head[take:]
            got += take
        out = self.predict(taken[0] if len(taken) == 1 else np.concatenate(taken))
        self.buffered -= size
        pos = 0
        for entry in self.chunks:  # hand the outputs to the chunks still waiting, in order
            missing = entry[1] - sum(len(o) for o in entry[2])
            if missing <= 0:
                continue
            take = min(missing, len(out) - pos)
            entry[2].append(out[pos:pos + take])
            pos += take
            if pos == len(out):
                break

    def _completed(self) -> list[tuple[Any, np.ndarray | None]]:
        done = []
        while self.chunks and sum(len(o) for o in self.chunks[0][2]) == self.chunks[0][1]:
            item, need, outs = self.chunks.popleft()
            done.append((item, (outs[0] if len(outs) == 1 else np.concatenate(outs)) if need
                         else None))
        return done


class BackgroundWriter:
    """Writes in a thread, at most ``depth`` writes queued (so memory stays bounded)."""

    def __init__(self, write: Callable[[Any], None], depth: int = 2) -> None:
        self._write = write
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="precimed-writer")
        self._pending: deque[Future[None]] = deque()
        self._depth = depth

    def put(self, item: Any) -> None:
        self._pending.append(self._pool.submit(self._write, item))
        while len(self._pending) > self._depth:
            self._pending.popleft().result()

    def close(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True)


class ProgressMeter:
    """Rows done, rows per second and the time left, for a progress line or bar."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.started = time.perf_counter()
        self._lock = threading.Lock()

    def rate(self, done: int, now: float | None = None) -> float:
        elapsed = (now if now is not None else time.perf_counter()) - self.started
        return done / elapsed if elapsed > 0 else 0.0

    def eta(self, done: int, now: float | None = None) -> float | None:
        rate = self.rate(done, now)
        if not self.total or rate <= 0:
            return None
        return max(self.total - done, 0) / rate

    def line(self, done: int, now: float | None = None) -> str:
        """``scored D of T rows (P%), R rows/s, about S s left``."""
        total = max(self.total or 0, done)
        share = f" ({done / total:.0%})" if total else ""
        text = f"scored {done:,} of {total:,} rows{share}, {self.rate(done, now):,.0f} rows/s"
        eta = self.eta(done, now)
        if eta is not None and done < total:
            text += f", about {format_seconds(eta)} left"
        return text


def format_seconds(s: float) -> str:
    """``42 s``, ``3 min 5 s``, ``1 h 2 min``."""
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"
