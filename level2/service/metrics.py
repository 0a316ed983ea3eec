"""The service's own Prometheus metrics, exposed beside BentoML's on ``GET /metrics``.

- ``fraudops_fraud_score`` (histogram, by model version): the score distribution; a shift is
  score drift, visible long before labels arrive.
- ``fraudops_predictions_total`` (counter, by model version and decision): the predicted fraud
  rate is ``rate(...{is_fraud="true"}) / rate(...)``.
- ``fraudops_feedback_total`` (counter, by label and outcome): labels received.
- ``fraudops_model_info`` (gauge, 1 for the version being served, 0 for one served before).
- ``fraudops_model_reloads_total`` (counter): champion swaps.
- ``fraudops_model_reload_failures_total`` (counter): loads of a new version that failed (the
  version before keeps serving; ``GET /readyz`` and the log say why).
- ``fraudops_prediction_log_pending`` (gauge, summed over workers): predictions answered but not
  yet written to the prediction log, i.e. what a crash would lose now; sampled every
  :data:`LOG_SAMPLE_SECONDS`. ``fraudops_prediction_log_failed_rows_total`` (counter): rows the
  log could not write.
- ``fraudops_scorer_fallback`` (gauge, by version): 1 when the version is served through its
  pipeline because its fast scorer was not derived or failed the parity gate, 0 when the fast
  path serves. ``fraudops_scorer_parity_max_diff`` (gauge, by version): the gate's largest
  probability difference.

``prometheus_client`` is imported on first use, never at import time: BentoML sets
``PROMETHEUS_MULTIPROC_DIR`` in each worker after importing the service module, and the client
decides at import whether to write multiprocess files. The metrics are created once per process
(Prometheus refuses two metrics with one name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

#: Score histogram buckets: fine near 0 (most transactions) and across usual thresholds.
#: Seconds between two samples of the prediction log's counters (a gauge cannot be read lazily
#: under BentoML's multiprocess metrics: each worker writes its value to a file).
LOG_SAMPLE_SECONDS = 5.0

SCORE_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    0.95,
    0.99,
    1.0,
)


@dataclass(frozen=True)
class ServiceMetrics:
    """Handles on the service's metrics (see the module docstring)."""

    score: Any
    predictions: Any
    feedback: Any
    model_info: Any
    reloads: Any
    scorer_fallback: Any
    parity_max_diff: Any
    reload_failures: Any
    log_pending: Any
    log_failed: Any
    #: The labelled series of each version, looked up once: three ``labels()`` calls per request
    #: were 4.5 % of a /predict's CPU (py-spy under wrk, 8 connections).
    _by_version: dict[str, tuple[Any, Any, Any]] = field(default_factory=dict, repr=False)
    #: The prediction log's ``failed`` count at the last sample (the counter takes differences).
    _log_failed_seen: list[int] = field(default_factory=lambda: [0], repr=False)

    def observe_batch(self, version: str, scores: np.ndarray, decisions: np.ndarray) -> None:
        """Record one scored batch."""
        series = self._by_version.get(version)
        if series is None:
            series = self._by_version[version] = (
                self.score.labels(model_version=version),
                self.predictions.labels(model_version=version, is_fraud="true"),
                self.predictions.labels(model_version=version, is_fraud="false"),
            )
        score, fraud, legit = series
        _observe_many(score, scores)
        n_fraud = int(np.count_nonzero(decisions))
        if n_fraud:
            fraud.inc(n_fraud)
        if len(decisions) - n_fraud:
            legit.inc(len(decisions) - n_fraud)

    def serving(self, alias: str, old: str | None, new: str) -> None:
        """Record that ``new`` replaced ``old`` as the version behind ``alias``."""
        if old is not None:
            self.model_info.labels(version=old, alias=alias).set(0)
            self.reloads.inc()
        self.model_info.labels(version=new, alias=alias).set(1)

    def prediction_log(self, stats: dict[str, Any]) -> None:
        """Record a sample of :meth:`fraudops.predlog.PredictionLog.stats`."""
        self.log_pending.set(stats["pending"])
        new_failures = stats["failed"] - self._log_failed_seen[0]
        if new_failures > 0:
            self.log_failed.inc(new_failures)
        self._log_failed_seen[0] = stats["failed"]

    def scorer(self, version: str, *, fallback: bool, max_abs_diff: float | None) -> None:
        """Record how ``version`` scores (fast path or pipeline) and its parity figure."""
        self.scorer_fallback.labels(version=version).set(1 if fallback else 0)
        if max_abs_diff is not None:
            self.parity_max_diff.labels(version=version).set(max_abs_diff)


def _observe_many(histogram: Any, values: np.ndarray) -> None:
    """``histogram.observe(v)`` for every value, in one pass per bucket instead of per value.

    prometheus_client has no bulk observe, and one call costs a few µs (a lock and, under
    BentoML's multiprocess mode, a write to a memory-mapped file): 10,000 calls per 10,000-row
    batch. The bucket counts are computed with NumPy and added once per bucket; the result is
    the same as observing each value (``le`` buckets: a value equal to a bound counts in it).
    Falls back to one call per value if the client's internals ever change shape.
    """
    buckets, total = getattr(histogram, "_buckets", None), getattr(histogram, "_sum", None)
    bounds = getattr(histogram, "_upper_bounds", None)
    few = len(values) <= 8  # one /predict: NumPy's fixed cost is more than a few observe()s
    if few or buckets is None or total is None or bounds is None or len(bounds) != len(buckets):
        for v in values.tolist():
            histogram.observe(v)
        return
    # searchsorted(side="left") gives the first bound >= value: the bucket observe() picks.
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    for bucket, n in zip(buckets, counts.tolist(), strict=False):
        if n:
            bucket.inc(n)
    total.inc(float(np.sum(values)))


@cache
def service_metrics() -> ServiceMetrics:
    """The process's metrics, created on first call."""
    from prometheus_client import Counter, Gauge, Histogram

    return ServiceMetrics(
        score=Histogram(
            "fraudops_fraud_score",
            "Fraud probability of scored transactions.",
            ["model_version"],
            buckets=SCORE_BUCKETS,
        ),
        predictions=Counter(
            "fraudops_predictions",
            "Transactions scored, by decision.",
            ["model_version", "is_fraud"],
        ),
        feedback=Counter(
            "fraudops_feedback",
            "Labels received on POST /feedback, by label and outcome.",
            ["is_fraud", "status"],
        ),
        # "livemax": across workers, a version is served if any live worker serves it.
        model_info=Gauge(
            "fraudops_model_info",
            "1 for the registry version being served.",
            ["version", "alias"],
            multiprocess_mode="livemax",
        ),
        reloads=Counter("fraudops_model_reloads", "Champion swaps without restart."),
        reload_failures=Counter(
            "fraudops_model_reload_failures",
            "Failed loads of a new version; the version before keeps serving.",
        ),
        log_pending=Gauge(
            "fraudops_prediction_log_pending",
            "Predictions answered but not yet written to the prediction log.",
            multiprocess_mode="livesum",
        ),
        log_failed=Counter(
            "fraudops_prediction_log_failed_rows",
            "Predictions the prediction log could not write (the error is logged).",
        ),
        scorer_fallback=Gauge(
            "fraudops_scorer_fallback",
            "1 when the version is served through its pipeline (no fast path, or parity failed).",
            ["version"],
            multiprocess_mode="livemax",
        ),
        parity_max_diff=Gauge(
            "fraudops_scorer_parity_max_diff",
            "Largest probability difference between the fast scorer and the pipeline.",
            ["version"],
            multiprocess_mode="livemax",
        ),
    )
