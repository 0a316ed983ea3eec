"""Adaptive micro-batching: concurrent requests are scored together, and one bad request in a
batch fails alone."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from level2.service.batcher import MicroBatcher


def run(items: list[int], fn) -> tuple[list, list[list[int]]]:
    """Submit ``items`` concurrently; return each outcome (result or exception) and the batches
    ``fn`` was called with."""
    calls: list[list[int]] = []

    def recorded(batch: list[int]) -> list[int]:
        calls.append(list(batch))
        return fn(batch)

    async def main() -> list:
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(recorded, max_size=4, executor=pool)
            return await asyncio.gather(*(batcher.submit(i) for i in items), return_exceptions=True)

    return asyncio.run(main()), calls


def test_concurrent_items_are_batched_up_to_max_size_in_order() -> None:
    outcomes, calls = run(list(range(10)), lambda batch: [i * 10 for i in batch])
    assert outcomes == [i * 10 for i in range(10)]
    assert all(len(c) <= 4 for c in calls) and len(calls) < 10
    assert [i for c in calls for i in c] == list(range(10))


def test_one_failing_item_fails_alone_and_its_batch_mates_are_answered() -> None:
    def fn(batch: list[int]) -> list[int]:
        if 3 in batch:
            raise ValueError("item 3 cannot be scored")
        return [-i for i in batch]

    outcomes, _ = run(list(range(8)), fn)
    assert isinstance(outcomes[3], ValueError)
    assert [o for i, o in enumerate(outcomes) if i != 3] == [-i for i in range(8) if i != 3]


def test_max_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MicroBatcher(lambda b: b, max_size=0, executor=ThreadPoolExecutor(1))
