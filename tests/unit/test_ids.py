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


def test_one_at_a_time_ids_are_valid_and_share_the_order_of_bulk_ids() -> None:
    # A one-row /predict takes the integer path, a batch the NumPy one: one sequence for both.
    ids: list[str] = []
    for i in range(3_000):
        ids += uuid7_hex(1) if i % 4 else uuid7_hex(7)
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    for text in ids[::97]:
        parsed = uuid.UUID(hex=text)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and text == parsed.hex


def test_a_full_counter_carries_into_the_millisecond_on_both_paths(monkeypatch) -> None:
    import fraudops.serving.ids as ids_module

    ahead = time.time_ns() // 1_000_000 + 1_000  # the clock cannot reset the counter meanwhile
    monkeypatch.setattr(ids_module, "_last", [ahead, (1 << 26) - 1])
    last_of_ms, first_of_next = uuid7_hex(1)[0], uuid7_hex(1)[0]
    assert uuid.UUID(hex=last_of_ms).int >> 80 == ahead
    assert uuid.UUID(hex=first_of_next).int >> 80 == ahead + 1
    assert last_of_ms < first_of_next < uuid7_hex(3)[0]
