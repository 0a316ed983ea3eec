"""The serving benchmark's peer for BentoML's own adaptive batching (not a project service).

Issue #13 asks whether the service's own micro-batcher (:mod:`level2.service.batcher`) pays for
itself next to BentoML's adaptive batching. This service answers one transaction per request like
``POST /predict``, but through an ``@bentoml.api(batchable=True)`` method: BentoML gathers the
requests that arrive together and calls the method once per batch. Everything else is the
project's service itself: the scoring call, the prediction log and the metrics of
:class:`level2.service.service.FraudDetector` (its class, constructed here), so that the only
difference measured is who batches.

A batchable API takes a list, so a request sends ``[transaction]`` and gets ``[prediction]``.

Run by ``benchmarks/serving.py``: ``bentoml serve benchmarks.adaptive_peer:AdaptivePeer``, with
the same environment as the service (``FRAUDOPS_PREDICTION_LOG``, ``MLFLOW_TRACKING_URI``).
"""

from __future__ import annotations

import time

import bentoml
from fraudops.serving.schemas import Prediction, Transaction

from level2.service.service import UNTRACED_ROUTES, FraudDetector

#: BentoML's adaptive batching: at most this many requests per call; a request that its latency
#: model expects to wait longer than this is refused with 503 (the benchmark's errors column).
MAX_BATCH_SIZE = 128
MAX_LATENCY_MS = 20


@bentoml.service(
    name="adaptive_peer",
    workers=1,
    traffic={"timeout": 60},
    logging={"access": {"enabled": False}},
    tracing={"excluded_urls": list(UNTRACED_ROUTES)},
)
class AdaptivePeer:
    """``/predict`` batched by BentoML around the project service's own scoring call."""

    def __init__(self) -> None:
        self.service = FraudDetector.inner()  # the settings come from the environment

    @bentoml.api(
        route="/predict",
        batchable=True,
        max_batch_size=MAX_BATCH_SIZE,
        max_latency_ms=MAX_LATENCY_MS,
    )
    def predict(self, transactions: list[Transaction]) -> list[Prediction]:
        """Score the transactions BentoML batched together (a worker thread)."""
        received = time.perf_counter()
        # The micro-batcher's own batch call: the same scoring, log and metrics per batch.
        return self.service._score_pending([(tx, received) for tx in transactions])

    async def __is_ready__(self) -> bool:
        return self.service.watcher.current is not None

    @bentoml.on_shutdown
    def close(self) -> None:
        self.service.close()
