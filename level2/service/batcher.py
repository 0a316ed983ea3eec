"""Adaptive micro-batching of single-transaction requests, with no timer.

Scoring one row with a scikit-learn pipeline costs almost as much as scoring a hundred (the cost is
per call: building a DataFrame, validating, dispatching through each step). So when requests
arrive concurrently, scoring them together multiplies throughput.

Timer-based batchers wait up to N ms for a batch to fill, which adds N ms to every request when
traffic is light. This one never waits: one batch is scored at a time, and whatever arrived while
it ran becomes the next batch (up to ``max_size``). With one client each request is scored alone,
immediately; with 32 clients batches grow by themselves to about the number of requests in flight.
The batch size adapts to the load, and latency stays about one scoring call plus one queue wait.

Why not BentoML's ``@bentoml.api(batchable=True)``: there each HTTP request must carry a *list*
(the batch dimension), while ``POST /predict`` takes and returns one transaction.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    """Collects items submitted concurrently and processes them in batches.

    Args:
        fn: processes a batch; returns one result per item, in order. Runs in ``executor``
            (off the event loop), one batch at a time. An exception fails every item of the batch.
        max_size: the largest batch.
        executor: where ``fn`` runs (a single-thread pool keeps batches in arrival order).
    """

    def __init__(
        self, fn: Callable[[list[T]], Sequence[R]], *, max_size: int, executor: Executor
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size}")
        self._fn = fn
        self.max_size = max_size
        self._executor = executor
        self._pending: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait for its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                size = min(len(self._pending), self.max_size)
                batch = [self._pending.popleft() for _ in range(size)]
                try:
                    results = await loop.run_in_executor(
                        self._executor, self._fn, [item for item, _ in batch]
                    )
                    if len(results) != len(batch):
                        raise RuntimeError(f"{len(results)} results for a batch of {len(batch)}")
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():  # the caller may have gone (cancelled)
                        future.set_result(result)
        finally:
            self._drainer = None
