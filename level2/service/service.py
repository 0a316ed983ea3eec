"""The fraud-scoring service (Level 2): one BentoML 1.4 class-based service, ``fraud_detector``.

Endpoints:

- ``POST /predict``: one transaction -> ``{transaction_id, fraud_probability, is_fraud, threshold,
  model_version}``; an id is generated when absent (a time-ordered UUIDv7,
  :mod:`fraudops.serving.ids`, which keeps the prediction log's id index cheap). With the fast scorer (below) it is
  scored on the event loop itself, in about 30 µs; a version served through its pipeline (3-36 ms
  a row) is scored in a worker thread, in adaptive micro-batches (:mod:`level2.service.batcher`).
- ``POST /predict_batch``: 1..``FRAUDOPS_MAX_BATCH`` transactions as records,
  ``{"transactions": [...]}``, or as columns, ``{"columns": {"Time": [...], ...},
  "transaction_ids": [...]}`` -> ``{"predictions": [...]}`` in request order, all scored by one
  model version.
- ``POST /feedback``: ``{transaction_id, is_fraud}`` records the true label of a logged prediction;
  404 for an id never scored; sending the same label twice changes nothing.
- ``POST /feedback_batch``: ``{"feedback": [{transaction_id, is_fraud}, ...]}`` records many labels
  in one transaction of the log; each id gets its own status, ``not_found`` for an id never scored
  (the others are recorded).
- ``GET /model``: the version being served, its threshold and its offline metrics (its run's).
- ``POST /admin/reload``: look up the champion now (``Authorization: Bearer $FRAUDOPS_ADMIN_TOKEN``;
  401 without the header, 403 with a wrong token or when no token is configured).
- Built in: ``/metrics`` (Prometheus; BentoML's plus ``fraudops_*``, see
  :mod:`level2.service.metrics`), ``/healthz`` (alive), ``/readyz`` (200 only once a model is
  loaded), ``/docs`` (OpenAPI).

Requests that do not fit the schemas (:mod:`fraudops.serving.schemas`) get a 400 whose ``detail``
lists each problem with its ``loc`` (the field) and ``msg`` (the reason); bodies over the size limit
get 413, and a ``Content-Type`` other than JSON gets 415 (:mod:`level2.service.http`). The service keeps serving either way.

Every prediction is recorded in the prediction log (:class:`fraudops.predlog.PredictionLog`): the
request only enqueues the rows; a writer thread stores them in batches, and the log is flushed when
the service shuts down.

The model comes only from the registry: at start-up and then every ``FRAUDOPS_RELOAD_INTERVAL``
seconds the service asks which version holds ``@champion``; a new one is loaded in the background
and swapped in atomically (:mod:`level2.service.champion`). No endpoint takes a path or a pickle,
and the Bento holds code, not a model: a Bento built last month serves today's champion.

Configuration (environment variables; defaults work offline):

==============================  ================================================================
``FRAUDOPS_STATE_DIR``          state directory (``var``): registry and prediction log defaults
``MLFLOW_TRACKING_URI``         registry (``sqlite:///<state dir>/mlflow.db``)
``FRAUDOPS_PREDICTION_LOG``     prediction log URL (``sqlite:///<state dir>/predictions.sqlite``)
``FRAUDOPS_MODEL_ALIAS``        registry alias served (``champion``)
``FRAUDOPS_RELOAD_INTERVAL``    seconds between registry look-ups (``10``; ``0``: only on
                                ``POST /admin/reload``)
``FRAUDOPS_MAX_BATCH``          largest ``/predict_batch`` request (``10000``)
``FRAUDOPS_BATCHING``           micro-batching of ``/predict``: ``auto`` (only while the pipeline
                                serves), ``on`` or ``off``
``FRAUDOPS_MICROBATCH_SIZE``    largest micro-batch (``128``)
``FRAUDOPS_FAST_SCORER``        derive the fast scorer (``1``; ``0`` always serves the pipeline)
``FRAUDOPS_MAX_BODY_BYTES``     request body limit (2 KiB per transaction of the largest batch
                                plus 64 KiB: about 20 MB)
``FRAUDOPS_ADMIN_TOKEN``        token of ``POST /admin/reload`` (unset: the endpoint is disabled)
``FRAUDOPS_WORKERS``            worker processes (``1``; each loads the model and polls). One
                                per core is BentoML's advice for CPU-bound work: at 8
                                connections on 2 cores, ``2`` answered 2,003 requests/s with
                                p99 11.6 ms, against 1,050 and 17.7 ms with one event loop
                                (``python -m benchmarks serving``, generator figure 2.0 s)
``FRAUDOPS_SCORING_THREADS``    OpenMP/BLAS threads per worker (``1``, see below)
``FRAUDOPS_ACCESS_LOG``         BentoML's per-request access log (``0``; ``1`` turns it on). Off
                                by default: the prediction log already keeps every scored
                                request (id, time, latency, version), and the access line cost
                                17 % of the service's CPU per ``/predict`` (0.96 -> 0.80 ms,
                                measured with wrk, generator figure 1.7 s)
``FRAUDOPS_TRACE_SCORING``      OpenTelemetry spans for the scoring and feedback routes (``0``;
                                ``1`` traces them). BentoML makes a span for every request even
                                with no exporter configured (its default): on ``/predict`` that
                                cost 0.91 -> 1.30 ms of CPU per request and 1,097 -> 769
                                requests/s at one connection (the "traced" row of
                                ``python -m benchmarks serving``, generator figure 2.0 s). Set
                                it when a ``tracing`` exporter is configured in BentoML's
                                config; other routes are always traced
==============================  ================================================================

The model comes as an MLflow-registered scikit-learn pipeline, the one source of truth. When a
version is loaded, :mod:`fraudops.serving.scorer` derives a fast scorer from it (NumPy features,
then LightGBM's booster, which also scores HistGradientBoosting's trees rewritten for it,
Treelite's GTIL or one dot product), and uses it only if it gives the
pipeline's probabilities on fixed reference rows (the parity gate); otherwise the pipeline serves
and ``GET /model`` says why (``scorer``), as does the ``fraudops_scorer_fallback`` metric.

Why one scoring thread by default: HistGradientBoosting (and BLAS) score with OpenMP threads,
which synchronise at every call (200 times per call for 200 trees). On a small machine shared with
the HTTP event loop, the prediction-log writer and other processes, those threads wait for cores:
measured here with both cores busy, one row took 2.4 s with 2 OpenMP threads and 6 ms with 1.
OpenMP's thread count is a per-thread setting, so each scoring thread sets it for itself
(:meth:`FraudDetector._limit_scoring_threads`); a limit set once at start-up would not reach them.
(LightGBM models carry their own ``n_jobs`` and are not affected by this setting.)

The HTTP-level settings (``FRAUDOPS_MAX_BATCH``, ``FRAUDOPS_MAX_BODY_BYTES``, ``FRAUDOPS_WORKERS``,
``FRAUDOPS_ACCESS_LOG``, ``FRAUDOPS_TRACE_SCORING``) are read when this module is imported; the
others when the service starts.

Run it with ``fraudops serve`` or ``bentoml serve level2.service.service:FraudDetector``; build it
with ``bentoml build -f level2/bentofile.yaml .``.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain

import bentoml
import numpy as np
import orjson
from fraudops.predlog import PredictionLog, UnknownTransaction
from fraudops.schema import FEATURES
from fraudops.serving.ids import uuid7_hex
from fraudops.serving.schemas import (
    BatchResponse,
    Feedback,
    FeedbackBatchResult,
    FeedbackItemResult,
    FeedbackResult,
    ModelInfo,
    Prediction,
    Transaction,
    batch_request_model,
    columnar_rows,
    feedback_batch_model,
)
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from threadpoolctl import threadpool_limits

from level2.service.batcher import MicroBatcher
from level2.service.champion import ChampionWatcher, ModelNotReady, ServingModel
from level2.service.contract import OpenAPIDocument, openapi_document
from level2.service.http import BodySizeLimit, JsonOnly, error_response, replace_bentoml_timeout
from level2.service.metrics import LOG_SAMPLE_SECONDS, service_metrics
from level2.service.settings import Settings

log = logging.getLogger(__name__)

#: Read at import: BentoML needs the workers, the batch schema and the middleware up front.
SETTINGS = Settings.from_env()

N_FEATURES = len(FEATURES)

#: Routes left out of OpenTelemetry tracing unless FRAUDOPS_TRACE_SCORING=1 (regexes matched
#: against the request URL, as BentoML's ``tracing.excluded_urls``).
UNTRACED_ROUTES = ("/predict$", "/predict_batch$", "/feedback$", "/feedback_batch$")

#: A single transaction waiting in the micro-batcher, with the time its request arrived.
Pending = tuple[Transaction, float]


def _matrix(transactions: Iterable[Transaction]) -> np.ndarray:
    """The ``(n, 30)`` feature matrix of validated transactions, in FEATURES order."""
    flat = np.fromiter(chain.from_iterable(tx.features() for tx in transactions), np.float64)
    return flat.reshape(-1, N_FEATURES)


def batch_body(
    ids: list[str], scores: list[float], decisions: list[bool], threshold: float, version: str
) -> bytes:
    """The JSON body of a ``/predict_batch`` answer (the shape of :class:`BatchResponse`).

    Built with orjson from plain values: 10,000 pydantic Predictions and their
    ``model_dump_json`` cost more than the scoring itself.
    """
    return orjson.dumps(
        {
            "predictions": [
                {
                    "transaction_id": tid,
                    "fraud_probability": score,
                    "is_fraud": decision,
                    "threshold": threshold,
                    "model_version": version,
                }
                for tid, score, decision in zip(ids, scores, decisions, strict=True)
            ]
        }
    )


class ReloadResult(BaseModel):
    """What ``POST /admin/reload`` did."""

    changed: bool
    version: str | None
    error: str | None = None


async def _model_view(_: Request) -> Response:
    # GET routes cannot be BentoML APIs (those are POST), hence a small mounted Starlette app.
    service = bentoml.get_current_service()
    try:
        info = service.model_info()
    except ModelNotReady as exc:
        return error_response(503, str(exc))
    return JSONResponse(info.model_dump())


_model_app = Starlette(routes=[Route("/model", _model_view, methods=["GET"])])


@bentoml.asgi_app(_model_app, path="/", name="model-info")
@bentoml.service(
    name="fraud_detector",
    workers=SETTINGS.workers,
    traffic={"timeout": 60},
    logging={"access": {"enabled": SETTINGS.access_log}},
    # A default: a BentoML configuration file that sets tracing.excluded_urls replaces it.
    tracing={} if SETTINGS.trace_scoring else {"excluded_urls": list(UNTRACED_ROUTES)},
    labels={"project": "fraudops", "level": "2"},
)
class FraudDetector:
    """Scores card transactions with the registry's ``@champion`` (see the module docstring)."""

    def __init__(self, settings: Settings | None = None) -> None:
        # BentoML constructs the service with no argument; tests may pass their own settings.
        self.settings = settings or SETTINGS
        self.metrics = service_metrics()
        # BLAS limits are process-wide; OpenMP's are per thread, set by each scoring thread
        # (_limit_scoring_threads). Undone in close() for in-process use.
        self._thread_limits = threadpool_limits(limits=self.settings.scoring_threads)
        self._thread_state = threading.local()
        self.predictions = PredictionLog(self.settings.prediction_log)
        self.predictions.start()
        # Threads for what may not run on the event loop: a pipeline's single rows, batches
        # (so that a 10,000-row batch never queues single requests behind it) and log I/O.
        self._single_pool = ThreadPoolExecutor(1, thread_name_prefix="fraudops-score")
        self._batch_pool = ThreadPoolExecutor(1, thread_name_prefix="fraudops-batch")
        self._batcher: MicroBatcher[Pending, Prediction] = MicroBatcher(
            self._score_pending, max_size=self.settings.microbatch_size, executor=self._single_pool
        )
        self.watcher = ChampionWatcher(
            self.settings.model_alias,
            interval=self.settings.reload_interval,
            on_swap=self._swapped,
            on_failure=lambda _exc: self.metrics.reload_failures.inc(),
            fast_scorer=self.settings.fast_scorer,
        )
        # The first load happens before the server accepts requests, so /readyz is true as soon
        # as the port opens when a champion exists; if none does yet, polling keeps looking.
        self.watcher.refresh()
        self.watcher.start()
        # The prediction log's backlog and failures as metrics, sampled off the request path.
        self._sampling = threading.Event()
        self._sampler = threading.Thread(
            target=self._sample_log, name="fraudops-log-metrics", daemon=True
        )
        self._sampler.start()
        # Everything loaded so far (BentoML, MLflow, pandas, scikit-learn, the model: some 400,000
        # objects) lives as long as the process. Left to the collector, each full collection
        # walks all of them, measured at 260 ms: a pause that lands on whichever requests are in
        # flight, i.e. the p99. Frozen, collections only walk what requests create.
        gc.collect()
        gc.freeze()

    def _sample_log(self) -> None:
        while not self._sampling.wait(LOG_SAMPLE_SECONDS):
            self.metrics.prediction_log(self.predictions.stats())

    # -- scoring ---------------------------------------------------------------------------

    def _score(
        self,
        model: ServingModel,
        rows: np.ndarray,
        ids: list[str | None],
        received: float | np.ndarray,
    ) -> tuple[list[str], list[float], list[bool]]:
        """Score ``rows`` with ``model``, log them and count them; ids, scores, decisions.

        Everything per row is done in bulk: the prediction log takes the batch as columns
        (:meth:`PredictionLog.record_columns`), the metrics take it as arrays, and scores and
        decisions become Python values once per batch.
        """
        self._limit_scoring_threads(model.version)
        scores = model.score(rows)
        decisions = scores >= model.threshold
        if None in ids:
            fresh = iter(uuid7_hex(ids.count(None)))
            ids = [tid if tid is not None else next(fresh) for tid in ids]
        latency_ms = (time.perf_counter() - received) * 1000.0
        self.predictions.record_columns(
            ids,
            ts=time.time(),
            features=rows,
            scores=scores,
            is_fraud=decisions,
            threshold=model.threshold,
            model_version=model.version,
            latency_ms=latency_ms,
        )
        self.metrics.observe_batch(model.version, scores, decisions)
        return ids, scores.tolist(), decisions.tolist()  # type: ignore[return-value]

    def _score_pending(self, pending: Sequence[Pending]) -> list[Prediction]:
        """Score micro-batched transactions with the current model (a worker thread)."""
        model = self.watcher.require()  # one snapshot for the whole batch: one version
        received = np.fromiter((t for _, t in pending), np.float64, count=len(pending))
        ids, scores, decisions = self._score(
            model,
            _matrix(tx for tx, _ in pending),
            [tx.transaction_id for tx, _ in pending],
            received,
        )
        return [
            Prediction.model_construct(
                transaction_id=tid,
                fraud_probability=score,
                is_fraud=decision,
                threshold=model.threshold,
                model_version=model.version,
            )
            for tid, score, decision in zip(ids, scores, decisions, strict=True)
        ]

    def _score_batch(self, rows: np.ndarray, ids: list[str | None], received: float) -> Response:
        """Score a whole ``/predict_batch`` (a worker thread) into its JSON response."""
        model = self.watcher.require()
        ids, scores, decisions = self._score(model, rows, ids, received)
        return Response(
            batch_body(ids, scores, decisions, model.threshold, model.version),
            media_type="application/json",
        )

    def _limit_scoring_threads(self, version: str) -> None:
        """Cap OpenMP threads in the calling scoring thread (see "one scoring thread" above).

        OpenMP's thread count is a per-thread setting (``omp_set_num_threads`` changes the
        calling thread's), so a limit set at start-up never reaches the scoring threads; and the
        OpenMP runtime may only be loaded with the model. So each scoring thread sets it for
        itself, again whenever a new version is served (it may bring its own runtime).
        Measured before this was done: 2 OpenMP threads made one row take 2.4 s instead of 6 ms
        while other processes kept both cores busy.
        """
        if getattr(self._thread_state, "limited_for", None) != version:
            threadpool_limits(limits=self.settings.scoring_threads, user_api="openmp")
            self._thread_state.limited_for = version

    def _swapped(self, old: ServingModel | None, new: ServingModel) -> None:
        self.metrics.serving(self.settings.model_alias, old.version if old else None, new.version)
        scorer = new.info.scorer
        parity = scorer.parity if scorer is not None else None
        self.metrics.scorer(
            new.version,
            fallback=not new.fast,
            max_abs_diff=parity.get("max_abs_diff") if parity else None,
        )

    def _micro_batch(self, model: ServingModel) -> bool:
        mode = self.settings.batching
        return mode == "on" or (mode == "auto" and not model.fast)

    # -- API -------------------------------------------------------------------------------

    @bentoml.api(route="/predict", output_spec=Prediction)
    async def predict(self, transaction: Transaction, /) -> Prediction | Response:
        """Score one transaction."""
        received = time.perf_counter()
        try:
            model = self.watcher.require()
            if self._micro_batch(model):
                return await self._batcher.submit((transaction, received))
            if not model.fast:
                loop = asyncio.get_running_loop()
                (prediction,) = await loop.run_in_executor(
                    self._single_pool, self._score_pending, [(transaction, received)]
                )
                return prediction
        except ModelNotReady as exc:
            return error_response(503, str(exc))
        # The fast path, on the event loop: about 30 µs of scoring is cheaper than the hand-off
        # to a thread and back (see benchmarks/results/serving.md).
        (tid,), (score,), (decision,) = self._score(
            model, _matrix((transaction,)), [transaction.transaction_id], received
        )
        return Prediction.model_construct(
            transaction_id=tid,
            fraud_probability=score,
            is_fraud=decision,
            threshold=model.threshold,
            model_version=model.version,
        )

    @bentoml.api(
        route="/predict_batch",
        input_spec=batch_request_model(SETTINGS.max_batch),
        output_spec=BatchResponse,
    )
    async def predict_batch(
        self,
        transactions: list[Transaction] | None = None,
        columns: dict[str, list[float]] | None = None,
        transaction_ids: list[str] | None = None,
    ) -> BatchResponse | Response:
        """Score up to ``FRAUDOPS_MAX_BATCH`` transactions in one call, all with one version."""
        received = time.perf_counter()
        if columns is not None:
            # Raises pydantic's ValidationError naming field and row: BentoML answers 400.
            rows = columnar_rows(columns, transaction_ids, max_size=self.settings.max_batch)
            ids: list[str | None] = (
                list(transaction_ids) if transaction_ids is not None else [None] * len(rows)
            )
        else:
            assert transactions is not None  # BatchRequest guarantees one of the two bodies
            rows = _matrix(transactions)
            ids = [tx.transaction_id for tx in transactions]
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._batch_pool, self._score_batch, rows, ids, received
            )
        except ModelNotReady as exc:
            return error_response(503, str(exc))

    @bentoml.api(route="/feedback", output_spec=FeedbackResult)
    async def feedback(self, feedback: Feedback, /) -> FeedbackResult | Response:
        """Record the true label of a transaction scored earlier."""
        loop = asyncio.get_running_loop()
        try:
            status = await loop.run_in_executor(
                None, self.predictions.add_feedback, feedback.transaction_id, feedback.is_fraud
            )
        except UnknownTransaction:
            return error_response(
                404,
                f"transaction_id {feedback.transaction_id!r}: no prediction with this id was "
                "logged, so there is nothing to attach the label to",
                field="transaction_id",
            )
        self.metrics.feedback.labels(is_fraud=str(feedback.is_fraud).lower(), status=status).inc()
        return FeedbackResult(
            transaction_id=feedback.transaction_id, is_fraud=feedback.is_fraud, status=status
        )

    @bentoml.api(
        route="/feedback_batch",
        input_spec=feedback_batch_model(SETTINGS.max_batch),
        output_spec=FeedbackBatchResult,
    )
    async def feedback_batch(self, feedback: list[Feedback]) -> FeedbackBatchResult:
        """Record many labels in one call; unknown ids are reported per id as ``not_found``."""
        ids = [f.transaction_id for f in feedback]
        labels = [f.is_fraud for f in feedback]
        statuses = await asyncio.get_running_loop().run_in_executor(
            None, self.predictions.add_feedback_many, ids, labels
        )
        counts = dict.fromkeys(("created", "unchanged", "updated", "not_found"), 0)
        results = []
        for tid, label, status in zip(ids, labels, statuses, strict=True):
            status = status or "not_found"
            counts[status] += 1
            results.append(
                FeedbackItemResult.model_construct(
                    transaction_id=tid, is_fraud=label, status=status
                )
            )
        for (label, status), n in Counter(zip(labels, statuses, strict=True)).items():
            if status is not None:
                self.metrics.feedback.labels(is_fraud=str(label).lower(), status=status).inc(n)
        return FeedbackBatchResult(results=results, counts=counts)

    @bentoml.api(route="/admin/reload", output_spec=ReloadResult)
    async def admin_reload(self, ctx: bentoml.Context) -> ReloadResult | Response:
        """Look up the champion now instead of at the next poll (token required)."""
        denied = self._deny_admin(ctx.request.headers.get("authorization"))
        if denied is not None:
            # BentoML gives an API with a context the context's status, whatever it returns.
            ctx.response.status_code = denied.status_code
            return denied
        changed = await asyncio.get_running_loop().run_in_executor(None, self.watcher.refresh)
        current = self.watcher.current
        return ReloadResult(
            changed=changed,
            version=current.version if current else None,
            error=self.watcher.last_error,
        )

    def _deny_admin(self, authorization: str | None) -> Response | None:
        token = self.settings.admin_token
        if token is None:
            return error_response(
                403, "admin endpoints are disabled: set FRAUDOPS_ADMIN_TOKEN to enable them"
            )
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            response = error_response(401, "missing 'Authorization: Bearer <token>' header")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        # Constant-time comparison: the time taken must not reveal how much of the token matched.
        if not hmac.compare_digest(given.strip().encode(), token.encode()):
            return error_response(403, "invalid admin token")
        return None

    # -- state -----------------------------------------------------------------------------

    def model_info(self) -> ModelInfo:
        """The version being served (``GET /model``).

        Raises:
            ModelNotReady: no model is loaded yet.
        """
        return self.watcher.require().info

    async def __is_ready__(self) -> bool:
        # /readyz: ready once a model is loaded (BentoML answers 503 before that).
        return self.watcher.current is not None

    @bentoml.on_shutdown
    def close(self) -> None:
        """Stop polling, finish scoring and flush the prediction log (idempotent)."""
        self.watcher.stop()
        self._sampling.set()
        self._single_pool.shutdown(wait=True)
        self._batch_pool.shutdown(wait=True)
        self.predictions.close()
        self.metrics.prediction_log(self.predictions.stats())
        self._thread_limits.restore_original_limits()
        log.info("prediction log flushed and closed")


# traffic.timeout through a middleware that cancels its timer (level2/service/http.py: BentoML's
# keeps one alive per request for the whole timeout, and collecting them paused the loop 34 ms).
replace_bentoml_timeout()
FraudDetector.add_asgi_middleware(JsonOnly)
FraudDetector.add_asgi_middleware(
    BodySizeLimit, max_bytes=SETTINGS.max_body_bytes, setting="FRAUDOPS_MAX_BODY_BYTES"
)
# GET /docs.json: BentoML's document completed with what the service really answers (contract.py).
FraudDetector.add_asgi_middleware(
    OpenAPIDocument,
    build=lambda: openapi_document(
        FraudDetector.openapi_spec.asdict(), max_batch=SETTINGS.max_batch
    ),
)
