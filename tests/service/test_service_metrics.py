"""The service's bulk histogram update gives exactly what one ``observe`` per value gives."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from level2.service.metrics import SCORE_BUCKETS, _observe_many


def samples(histogram: Histogram) -> dict[tuple, float]:
    (metric,) = histogram.collect()
    # Without "_created": the time each histogram was made.
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for s in metric.samples
        if not s.name.endswith("_created")
    }


def pair() -> tuple[Histogram, Histogram]:
    return tuple(
        Histogram("score", "s", buckets=SCORE_BUCKETS, registry=CollectorRegistry())
        for _ in range(2)
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(SCORE_BUCKETS), st.floats(0.0, 1.0)), min_size=0, max_size=300
    )
)
def test_bulk_observe_equals_one_observe_per_value(values: list[float]) -> None:
    bulk, one_by_one = pair()
    _observe_many(bulk, np.asarray(values, dtype=float))
    for v in values:
        one_by_one.observe(v)
    got, expected = samples(bulk), samples(one_by_one)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if key[0].endswith("_sum"):  # summed in another order
            assert abs(got[key] - value) <= 1e-9 * max(1.0, abs(value))
        else:  # every bucket count and the total count exactly
            assert got[key] == value, key


def test_prediction_log_samples_become_a_backlog_gauge_and_a_failure_counter() -> None:
    """What FraudopsPredictionLogBacklog and ...WriteFailures (level2/prometheus) read."""
    from prometheus_client import Counter, Gauge

    from level2.service.metrics import ServiceMetrics

    registry = CollectorRegistry()
    unused = {f.name: None for f in fields(ServiceMetrics) if not f.name.startswith("_")}
    metrics = ServiceMetrics(
        **{
            **unused,
            "log_pending": Gauge("pending", "p", registry=registry),
            "log_failed": Counter("failed", "f", registry=registry),
        }
    )
    seen = []
    for pending, failed in [(0, 0), (120, 0), (60_000, 3), (10, 3), (0, 7)]:
        metrics.prediction_log({"pending": pending, "failed": failed})
        seen.append(
            (registry.get_sample_value("pending"), registry.get_sample_value("failed_total"))
        )
    # The gauge is the backlog now; the counter adds only rows that failed since the last sample.
    assert seen == [(0, 0), (120, 0), (60_000, 3), (10, 3), (0, 7)]
