"""The service's own Prometheus metrics, exposed beside BentoML's on ``GET /metrics``.

- ``fraudops_fraud_score`` (histogram, by model version): the score distribution; a shift is
  score drift, visible long before labels arrive.
- ``fraudops_predictions_total`` (counter, by model version and decision): the predicted fraud
  rate is ``rate(...{is_fraud="true"}) / rate(...)``.
- ``fraudops_feedback_total`` (counter, by label and outcome): labels received.
- ``fraudops_model_info`` (gauge, 1 for the version being served, 0 for one served before).
- ``fraudops_model_reloads_total`` (counter): champion swaps.

``prometheus_client`` is imported on first use, never at import time: BentoML sets
``PROMETHEUS_MULTIPROC_DIR`` in each worker after importing the service module, and the client
decides at import whether to write multiprocess files. The metrics are created once per process
(Prometheus refuses two metrics with one name).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

#: Score histogram buckets: fine near 0 (most transactions) and across usual thresholds.
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

    def observe_batch(self, version: str, scores: np.ndarray, decisions: np.ndarray) -> None:
        """Record one scored batch."""
        histogram = self.score.labels(model_version=version)
        for s in scores.tolist():
            histogram.observe(s)
        n_fraud = int(np.count_nonzero(decisions))
        if n_fraud:
            self.predictions.labels(model_version=version, is_fraud="true").inc(n_fraud)
        if len(decisions) - n_fraud:
            self.predictions.labels(model_version=version, is_fraud="false").inc(
                len(decisions) - n_fraud
            )

    def serving(self, alias: str, old: str | None, new: str) -> None:
        """Record that ``new`` replaced ``old`` as the version behind ``alias``."""
        if old is not None:
            self.model_info.labels(version=old, alias=alias).set(0)
            self.reloads.inc()
        self.model_info.labels(version=new, alias=alias).set(1)


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
    )
