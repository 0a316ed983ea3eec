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
import sys
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
            (off the event loop), one batch at a time. When it raises on a batch of several
            items, each item is retried alone, so the exception reaches only the items that
            fail by themselves.
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
                    results = await self._run(loop, [item for item, _ in batch])
                except Exception:
                    if len(batch) == 1:
                        _fail(batch, sys.exc_info()[1])
                        continue
                    # One bad item must not fail the requests that happened to share its batch:
                    # score each alone, so only the items that fail on their own get the error.
                    for one in batch:
                        try:
                            _deliver([one], await self._run(loop, [one[0]]))
                        except Exception as exc:
                            _fail([one], exc)
                    continue
                _deliver(batch, results)
        finally:
            self._drainer = None

    async def _run(self, loop: asyncio.AbstractEventLoop, items: list[T]) -> Sequence[R]:
        results = await loop.run_in_executor(self._executor, self._fn, items)
        if len(results) != len(items):
            raise RuntimeError(f"{len(results)} results for a batch of {len(items)}")
        return results


def _deliver(batch: list[tuple[T, asyncio.Future[R]]], results: Sequence[R]) -> None:
    for (_, future), result in zip(batch, results, strict=True):
        if not future.done():  # the caller may have gone (cancelled)
            future.set_result(result)


def _fail(batch: list[tuple[T, asyncio.Future[R]]], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
