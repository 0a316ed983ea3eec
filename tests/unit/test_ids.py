"""Service-generated transaction ids: valid UUIDv7s, unique, increasing, carrying their time."""

from __future__ import annotations

import time
import uuid

from fraudops.serving.ids import uuid7_hex


def test_ids_are_uuid7_hex_and_carry_the_time_they_were_made() -> None:
    before = time.time_ns() // 1_000_000
    ids = uuid7_hex(5)
    after = time.time_ns() // 1_000_000
    for text in ids:
        parsed = uuid.UUID(hex=text)
        assert len(text) == 32 and text == parsed.hex
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert before <= parsed.int >> 80 <= after + 1


def test_ids_increase_strictly_within_and_across_calls() -> None:
    batches = [uuid7_hex(10_000) for _ in range(3)] + [uuid7_hex(1), uuid7_hex(0)]
    ids = [text for batch in batches for text in batch]
    assert len(ids) == 30_001 and len(set(ids)) == len(ids)
    assert ids == sorted(ids)  # same millisecond or not: the counter keeps the order
