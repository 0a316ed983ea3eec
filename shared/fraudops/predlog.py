"""The prediction log: every prediction the service makes, and the labels that come back later.

Each prediction is one row (its ``transaction_id``, wall-clock time ``ts``, the 30 features, the
score, the decision, the threshold and model version that made it, the latency) in a SQLite file
(WAL mode, ``PRAGMA synchronous=NORMAL``). Labels arrive later, through :meth:`add_feedback` or
:meth:`add_feedback_many`, into a ``feedback`` table keyed by the same id;
:meth:`PredictionLog.window` joins the two for monitoring and retraining.

Stored by batch, indexed by id
    The writer stores each batch it commits as *one* row of the ``batches`` table, column by
    column (the features as an ``n x 30`` float64 block, scores, decisions, times, thresholds and
    latencies as arrays, ids and model versions as JSON lists), and one small row per prediction
    in ``predictions`` (``transaction_id`` -> batch and position), which is what feedback looks
    up and what makes ids unique. Measured on 2 cores (``benchmarks/results/predlog.md``): one
    SQLite row of 36 columns per prediction cost about 20 µs of service CPU per row (4 µs to
    convert, the rest SQLite's per-row insert and its index on a random text key), above the
    5 µs goal for a full batch; by batch, a row costs about 3 µs with the time-ordered ids
    the service generates (:func:`fraudops.serving.ids.uuid7_hex`) and about 6 µs with random
    ones (client-supplied, or UUID4: each lands on a random page of the id index, and a commit
    writes every page it touched). Reads decode whole batches with
    NumPy, so :meth:`window` is as fast as before, and a feature column is no longer a SQL
    column: read the log through this class (or ``window()`` into pandas), not with SQL.

Off the request path
    :meth:`PredictionLog.record` (dicts) and :meth:`PredictionLog.record_columns` (a whole scored
    batch as NumPy columns, the fast path of the service) only convert the records to columns and
    append them to an in-memory queue. One writer thread writes them, one transaction per batch
    of at most ``batch_size`` rows. It commits as soon as ``batch_size`` rows are waiting, or
    ``flush_interval`` seconds after the oldest waiting row arrived, whichever comes first.
    :meth:`flush` waits until every record accepted so far is committed; :meth:`close` flushes and
    stops the writer, and also runs at interpreter exit (``atexit``), so a graceful shutdown
    (BentoML's shutdown hook, ``SIGTERM`` turned into ``SystemExit``, the end of a script) loses
    nothing.

Backpressure: never drop, block briefly
    The queue holds at most ``max_queue`` records (100,000 by default). When it is full,
    :meth:`record` blocks until the writer has made room (normally milliseconds: the writer drains
    hundreds of thousands of records a second, ``benchmarks/results/predlog.md``, where a service
    scores a few thousand) and raises :class:`PredictionLogFull` after ``block_timeout`` seconds
    (the database is stuck). A record is never dropped silently.

What a hard crash can lose (the documented bound)
    A record is durable once its batch is committed. A hard crash (``SIGKILL``, the OOM killer)
    loses exactly the records accepted by :meth:`record` but not yet committed; ``stats()`` reports
    that number as ``pending``. While the writer keeps up with the traffic, a record waits at most
    ``flush_interval`` (0.2 s) plus the time of one commit (milliseconds), so the loss is the
    traffic of the last ~0.2 s (at 2,000 predictions/s the benchmark saw at most 416 to 460 records
    waiting), and at most ``2 * batch_size`` records (one batch being committed
    plus less than one batch waiting) when records arrive a few at a time; a single
    :meth:`record` call of more rows than ``batch_size`` can add its own size (such a call is
    committed as one batch, never split). Whatever the
    traffic, it never exceeds ``max_queue``. Committed rows survive: the file passes
    ``PRAGMA integrity_check`` and reopens (WAL recovery), which
    ``tests/service/test_predlog.py`` checks by killing a writing process. With
    ``synchronous=NORMAL``, an operating-system crash or power cut can also roll back the last
    commits since the WAL was last synced; the database stays consistent.

Duplicate ids
    The service generates unique ids, and ``transaction_id`` is the key feedback joins on, so the
    log keeps the *first* prediction of an id and ignores later ones; ``stats()["duplicates"]``
    counts them and each batch with duplicates logs a warning. Ignored duplicates count as
    written for :meth:`flush`.

Feedback
    :meth:`add_feedback` returns ``"created"`` for a first label, ``"unchanged"`` when the same label
    comes again (idempotent) and ``"updated"`` when it changes (the new label is kept, with
    ``updated_at``). An id that was never logged raises :class:`UnknownTransaction`, after pending
    predictions are flushed, so feedback sent right after a prediction finds it.
    :meth:`add_feedback_many` does the same for many labels in one transaction, in order (an id
    repeated in one call is created, then unchanged or updated), and reports an unknown id as
    ``None`` instead of raising.

Store URLs
    ``sqlite:///relative/path.sqlite`` (relative to the working directory when the log is
    created), ``sqlite:////absolute/path.sqlite``. Parent directories are created by
    :meth:`start` (or the first read), never at import or construction. ``postgresql://`` is reserved for a PostgreSQL store behind the
    same interface; it needs psycopg, which this project does not install, so it raises
    :class:`NotImplementedError` for now. A file written by an older version of this module
    (schema 1, one SQL row of 36 columns per prediction) is converted in place, in one
    transaction, the first time it is opened.

Example::

    log = PredictionLog("sqlite:///var/predictions.sqlite")
    log.start()
    log.record([{"transaction_id": "t1", "ts": time.time(), "features": row, "score": 0.93,
                 "is_fraud": True, "threshold": 0.5, "model_version": "3", "latency_ms": 4.1}])
    log.add_feedback("t1", True)        # "created"
    frame = log.window(last_n=10_000)   # FEATURES + score, decision, ..., label (Int64, nullable)
    log.close()
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from fraudops.schema import FEATURES

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///var/predictions.sqlite"
#: Bumped when the tables change; a newer file is refused rather than misread, an older one is
#: converted (:func:`_migrate_v1`).
SCHEMA_VERSION = 2
#: Seconds a connection waits for another writer (a second worker process) before giving up.
BUSY_TIMEOUT_S = 10.0
#: Page cache of each connection, KiB (SQLite's default is 2,000). The id index of a million
#: predictions is about 50 MB; with random ids (client-supplied, or UUID4) each insert lands on a
#: random page of it, and once the index outgrows the cache that costs a page read: measured,
#: 22 µs a row with the default against 4-5 µs with this cache (``benchmarks/predlog.py``). The
#: memory is taken as pages are used, not up front.
CACHE_KIB = 65_536
#: The keys of one record passed to :meth:`PredictionLog.record`.
RECORD_FIELDS = (
    "transaction_id",
    "ts",
    "features",
    "score",
    "is_fraud",
    "threshold",
    "model_version",
    "latency_ms",
)
#: Columns of :meth:`PredictionLog.window`, in order.
WINDOW_COLUMNS = (
    "transaction_id",
    "ts",
    *FEATURES,
    "score",
    "is_fraud",
    "threshold",
    "model_version",
    "latency_ms",
    "label",
)
_N_FEATURES = len(FEATURES)

# One row per committed batch: its predictions column by column, in the order they were
# recorded (arrays are little-endian float64, is_fraud uint8, ids and versions JSON lists).
# ``predictions`` maps each id to its batch and position: the key feedback looks up, and the
# UNIQUE constraint that keeps the first prediction of an id. ``feedback`` keeps the batch and
# position too, so a window joins labels by position without touching the id index.
_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY,  -- commit order: "the last n" means the last n logged
    n INTEGER NOT NULL,
    ts_min REAL,
    ts_max REAL,
    transaction_ids TEXT NOT NULL,
    ts BLOB NOT NULL,
    features BLOB NOT NULL,
    score BLOB NOT NULL,
    is_fraud BLOB NOT NULL,
    threshold BLOB NOT NULL,
    model_version TEXT NOT NULL,
    latency_ms BLOB NOT NULL  -- NaN where no latency was given
)""",
    "CREATE INDEX IF NOT EXISTS batches_ts ON batches (ts_max)",
    """
CREATE TABLE IF NOT EXISTS predictions (
    transaction_id TEXT PRIMARY KEY,
    batch INTEGER NOT NULL,
    pos INTEGER NOT NULL
) WITHOUT ROWID""",
    """
CREATE TABLE IF NOT EXISTS feedback (
    transaction_id TEXT PRIMARY KEY,
    batch INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    label INTEGER NOT NULL CHECK (label IN (0, 1)),
    received_at REAL NOT NULL,
    updated_at REAL  -- set when a later feedback changed the label
)""",
    "CREATE INDEX IF NOT EXISTS feedback_batch ON feedback (batch, pos)",
)
_INSERT_BATCH = (
    "INSERT INTO batches (n, ts_min, ts_max, transaction_ids, ts, features, score, is_fraud, "
    "threshold, model_version, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# One statement per batch, the ids expanded by SQLite (json_each), not bound one by one from
# Python. ``WHERE true`` is SQLite's required disambiguation of an upsert on a SELECT; ON CONFLICT
# names the one constraint a duplicate id breaks, so any other error still raises.
_INSERT_IDS = (
    "INSERT INTO predictions (transaction_id, batch, pos) SELECT value, ?, key FROM json_each(?) "
    "WHERE true ON CONFLICT (transaction_id) DO NOTHING"
)
_BATCH_COLUMNS = (
    "seq, transaction_ids, ts, features, score, is_fraud, threshold, model_version, latency_ms"
)


class PredictionLogError(RuntimeError):
    """The prediction log cannot do what was asked (not started, closed, writer failed)."""


class PredictionLogFull(PredictionLogError):
    """The queue stayed full for ``block_timeout`` seconds: the database is not keeping up."""


class UnknownTransaction(PredictionLogError, LookupError):
    """Feedback names a ``transaction_id`` that was never logged."""

    def __init__(self, transaction_id: str) -> None:
        super().__init__(f"transaction_id {transaction_id!r} was never logged")
        self.transaction_id = transaction_id


def sqlite_path(url: str) -> str:
    """The absolute file path of a ``sqlite:///`` URL (relative paths against the working dir).

    Raises:
        NotImplementedError: a PostgreSQL URL (needs psycopg, not installed in this project).
        ValueError: any other scheme, or an in-memory database (the writer thread and the readers
            use separate connections, which cannot share one in-memory database).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"prediction log URL {url!r}: expected sqlite:///PATH")
    scheme = scheme.lower()
    if scheme.split("+")[0] in ("postgresql", "postgres"):
        raise NotImplementedError(
            f"prediction log URL {url!r}: the {scheme}:// store is not implemented (it needs "
            "psycopg, which this project does not install); use sqlite:///PATH"
        )
    if scheme != "sqlite":
        raise ValueError(
            f"prediction log URL {url!r}: unsupported scheme {scheme!r}; use sqlite:///PATH"
        )
    if not rest.startswith("/"):
        raise ValueError(f"prediction log URL {url!r}: expected sqlite:///PATH (three slashes)")
    path = rest[1:]
    if path in ("", ":memory:"):
        raise ValueError(f"prediction log URL {url!r}: give a file path, not an in-memory database")
    return os.path.abspath(os.path.expanduser(path))


def to_row(record: Mapping[str, Any], index: int = 0) -> tuple[Any, ...]:
    """One record (see :data:`RECORD_FIELDS`) as a row of the ``predictions`` table.

    ``features`` is a mapping with every name of ``schema.FEATURES``, or the 30 values in that
    order (a list or a NumPy array). ``latency_ms`` may be ``None``.

    Raises:
        ValueError: a field is missing or has the wrong type; the message names it and ``index``.
    """
    try:
        tid = record["transaction_id"]
        if not isinstance(tid, str) or not tid:
            raise ValueError(f"transaction_id must be a non-empty string, got {tid!r}")
        version = record["model_version"]
        if version is None:
            raise ValueError("model_version is None")
        features = record["features"]
        if isinstance(features, Mapping):
            values = [float(features[name]) for name in FEATURES]
        else:
            values = np.asarray(features, dtype=np.float64).ravel().tolist()
            if len(values) != len(FEATURES):
                raise ValueError(f"features has {len(values)} values, expected {len(FEATURES)}")
        latency = record["latency_ms"]
        return (
            tid,
            float(record["ts"]),
            *values,
            float(record["score"]),
            1 if record["is_fraud"] else 0,
            float(record["threshold"]),
            str(version),
            None if latency is None else float(latency),
        )
    except KeyError as exc:
        raise ValueError(f"prediction record {index}: missing field {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"prediction record {index}: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Predictions as columns: what the queue holds and what one ``batches`` row stores."""

    ids: list[str]
    ts: np.ndarray  # float64
    features: np.ndarray  # (n, 30) float64, C order
    score: np.ndarray  # float64
    is_fraud: np.ndarray  # uint8
    threshold: np.ndarray  # float64
    model_version: list[str]
    latency_ms: np.ndarray  # float64, NaN for none

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[Any, ...]]) -> _Chunk:
        """Rows made by :func:`to_row` as columns."""
        tid, ts, *rest = zip(*rows, strict=True)
        features = np.array(rest[:_N_FEATURES], dtype=np.float64).T.copy()
        score, is_fraud, threshold, version, latency = rest[_N_FEATURES:]
        return cls(
            ids=list(tid),
            ts=np.array(ts, dtype=np.float64),
            features=features,
            score=np.array(score, dtype=np.float64),
            is_fraud=np.array(is_fraud, dtype=np.uint8),
            threshold=np.array(threshold, dtype=np.float64),
            model_version=list(version),
            latency_ms=np.array([np.nan if v is None else v for v in latency], dtype=np.float64),
        )

    def take(self, index: np.ndarray) -> _Chunk:
        """The rows at the positions ``index``."""
        ids = [self.ids[i] for i in index]
        versions = [self.model_version[i] for i in index]
        return _Chunk(
            ids,
            self.ts[index],
            self.features[index],
            self.score[index],
            self.is_fraud[index],
            self.threshold[index],
            versions,
            self.latency_ms[index],
        )

    @staticmethod
    def concat(chunks: Sequence[_Chunk]) -> _Chunk:
        if len(chunks) == 1:
            return chunks[0]
        return _Chunk(
            [i for c in chunks for i in c.ids],
            *(np.concatenate([getattr(c, f) for c in chunks]) for f in _ARRAYS[:5]),
            [v for c in chunks for v in c.model_version],
            np.concatenate([c.latency_ms for c in chunks]),
        )

    def params(self) -> tuple[Any, ...]:
        """The values of one ``batches`` row (see :data:`_INSERT_BATCH`)."""
        return (
            len(self),
            float(self.ts.min()),
            float(self.ts.max()),
            json.dumps(self.ids),
            _blob(self.ts),
            _blob(self.features),
            _blob(self.score),
            self.is_fraud.astype(np.uint8).tobytes(),
            _blob(self.threshold),
            json.dumps(self.model_version),
            _blob(self.latency_ms),
        )


_ARRAYS = ("ts", "features", "score", "is_fraud", "threshold")


def _blob(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype="<f8").tobytes()


def _decode(row: tuple[Any, ...]) -> tuple[int, dict[str, Any]]:
    """A ``batches`` row (:data:`_BATCH_COLUMNS`) as its sequence number and window columns."""
    seq, ids, ts, features, score, is_fraud, threshold, versions, latency = row
    matrix = np.frombuffer(features, dtype="<f8").reshape(-1, _N_FEATURES)
    columns: dict[str, Any] = {"transaction_id": json.loads(ids), "ts": np.frombuffer(ts, "<f8")}
    columns.update(zip(FEATURES, matrix.T, strict=True))
    columns.update(
        score=np.frombuffer(score, "<f8"),
        is_fraud=np.frombuffer(is_fraud, np.uint8).astype(bool),
        threshold=np.frombuffer(threshold, "<f8"),
        model_version=json.loads(versions),
        latency_ms=np.frombuffer(latency, "<f8"),
    )
    return seq, columns


def _copy(values: Any, dtype: type) -> np.ndarray:
    # ndarray.copy() is several times cheaper than np.array(values, dtype) for a one-row call.
    if isinstance(values, np.ndarray) and values.dtype == dtype:
        return values.copy()
    return np.array(values, dtype=dtype)


@dataclass(frozen=True, slots=True)
class _Columns:
    """A checked :meth:`PredictionLog.record_columns` call, queued as given.

    Turned into a :class:`_Chunk` by the writer (:meth:`chunk`), off the request path: the
    NumPy set-up of a chunk costs about 20 µs, which a one-row ``/predict`` would pay per request.
    """

    ids: list[str]
    ts: float
    features: np.ndarray
    scores: np.ndarray
    is_fraud: np.ndarray
    threshold: float
    model_version: str
    latency_ms: float | np.ndarray | None

    def __len__(self) -> int:
        return len(self.ids)

    def chunk(self) -> _Chunk:
        n = len(self.ids)
        latency = self.latency_ms
        if latency is None or np.ndim(latency) == 0:
            latency = np.full(n, np.nan if latency is None else float(latency))
        return _Chunk(
            self.ids,
            np.full(n, self.ts),
            np.ascontiguousarray(self.features),
            self.scores,
            self.is_fraud.astype(np.uint8),
            np.full(n, self.threshold),
            [self.model_version] * n,
            latency,
        )


def check_columns(
    transaction_ids: Sequence[str],
    *,
    ts: float,
    features: np.ndarray,
    scores: np.ndarray,
    is_fraud: np.ndarray,
    threshold: float,
    model_version: str,
    latency_ms: float | np.ndarray | None,
) -> _Columns:
    """A scored batch, given as columns, checked as :func:`to_row` checks one record.

    The columnar twin of :func:`to_row`: no Python code runs per row except one pass over the
    ids, and the arrays are copied (a caller may reuse its buffers after the call).

    Args:
        transaction_ids: one non-empty string per row.
        ts: the wall-clock time of the whole batch (unix seconds).
        features: shape ``(n, 30)``, columns in ``schema.FEATURES`` order.
        scores: ``n`` fraud probabilities.
        is_fraud: ``n`` decisions (booleans).
        threshold: the threshold that made the decisions.
        model_version: the version that scored the batch.
        latency_ms: one latency for every row, ``n`` latencies, or ``None``.

    Raises:
        ValueError: a column has the wrong length, shape or type; the message names it.
    """
    ids = list(transaction_ids)
    n = len(ids)
    if not all(type(tid) is str and tid for tid in ids):
        bad = next(t for t in ids if not (type(t) is str and t))
        raise ValueError(f"transaction_ids: every id must be a non-empty string, got {bad!r}")
    if model_version is None:
        raise ValueError("model_version is None")
    matrix = _copy(features, np.float64)
    if matrix.shape != (n, _N_FEATURES):
        raise ValueError(f"features has shape {matrix.shape}, expected ({n}, {_N_FEATURES})")

    def column(name: str, values: Any, dtype: type) -> np.ndarray:
        array = _copy(values, dtype).ravel()
        if len(array) != n:
            raise ValueError(f"{name} has {len(array)} values for {n} transaction ids")
        return array

    latency: float | np.ndarray | None = latency_ms
    if isinstance(latency, int | float):
        latency = float(latency)
    elif latency is not None:
        latency = column("latency_ms", latency, np.float64) if np.ndim(latency) else float(latency)
    return _Columns(
        ids,
        float(ts),
        matrix,
        column("scores", scores, np.float64),
        column("is_fraud", is_fraud, np.bool_),
        float(threshold),
        str(model_version),
        latency,
    )


def _close_at_exit(ref: weakref.ReferenceType[PredictionLog]) -> None:
    # A weak reference, so the hook does not keep a forgotten log alive until exit.
    instance = ref()
    if instance is not None:
        try:
            instance.close()
        except Exception:  # noqa: BLE001 - at exit, report and let the other hooks run
            log.exception("closing the prediction log at exit failed")


class PredictionLog:
    """Predictions and their feedback in SQLite, written by one batching thread.

    Args:
        url: ``sqlite:///PATH`` (see :func:`sqlite_path`).
        batch_size: most rows per transaction; a full batch is written at once.
        flush_interval: most seconds a record waits in memory before its batch is written.
        max_queue: most records waiting in memory; :meth:`record` blocks beyond it.
        block_timeout: seconds :meth:`record` blocks on a full queue before raising
            :class:`PredictionLogFull`.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        max_queue: int = 100_000,
        block_timeout: float = 30.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be > 0 seconds, got {flush_interval}")
        if max_queue < batch_size:
            raise ValueError(f"max_queue ({max_queue}) must be >= batch_size ({batch_size})")
        self.url = url
        self.path = sqlite_path(url)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.block_timeout = block_timeout

        # One condition guards the queue and the counters; producers, the writer and flush()
        # all wait on it.
        self._cond = threading.Condition()
        # (arrival, rows): _Columns from record_columns, or to_row() tuples from record()
        self._queue: deque[tuple[float, Any]] = deque()
        self._queued = 0  # rows in the queue
        self._enqueued = 0  # rows accepted by record() since start
        self._done = 0  # rows the writer finished with: inserted, duplicate or failed
        self._flush_target = 0  # flush() wants rows up to this count written now
        self._stats = {"written": 0, "duplicates": 0, "failed": 0, "batches": 0, "blocked": 0}
        self._last_error: str | None = None
        self._writer_crash: BaseException | None = None
        self._stopping = False
        self._closed = False
        self._thread: threading.Thread | None = None

        self._open_lock = threading.Lock()
        self._opened = False
        self._readers: list[sqlite3.Connection] = []  # idle reader connections
        self._exit_hook = functools.partial(_close_at_exit, weakref.ref(self))

    def __repr__(self) -> str:
        return f"PredictionLog({self.url!r}, batch_size={self.batch_size}, flush_interval={self.flush_interval})"

    def __enter__(self) -> PredictionLog:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> PredictionLog:
        """Create the file (and its parent directories) if needed and start the writer thread.

        Idempotent while open. Returns the log itself, so ``log = PredictionLog(url).start()``.

        Raises:
            PredictionLogError: the log was closed (create a new one).
        """
        with self._cond:
            if self._closed:
                raise PredictionLogError(f"{self!r} is closed; create a new PredictionLog")
            if self._thread is not None:
                return self
            self._open()
            self._thread = threading.Thread(
                target=self._run, name="fraudops-predlog-writer", daemon=True
            )
            # Daemon, because Python joins non-daemon threads *before* atexit hooks run, and the
            # atexit hook is what stops this one; the hook flushes before the thread dies.
            self._thread.start()
        atexit.register(self._exit_hook)
        return self

    def close(self, timeout: float | None = None) -> None:
        """Flush everything recorded, stop the writer and release the connections (idempotent).

        Reads (:meth:`count`, :meth:`window`, ...) keep working afterwards; :meth:`record` does
        not.

        Raises:
            TimeoutError: the records were not all written within ``timeout`` seconds.
        """
        with self._cond:
            if self._closed:
                return
            self._closed = True  # record() refuses from now on, so the flush below is final
        atexit.unregister(self._exit_hook)
        try:
            self.flush(timeout)
        finally:
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            if self._thread is not None:
                self._thread.join(timeout)
            with self._open_lock:
                readers, self._readers = self._readers, []
            for conn in readers:
                conn.close()

    # -- writing ---------------------------------------------------------------------------

    def record(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Queue predictions for the writer; returns at once unless the queue is full.

        Args:
            records: dicts with the keys of :data:`RECORD_FIELDS` (see :func:`to_row`).

        Raises:
            ValueError: a record is malformed (nothing of this call is queued).
            PredictionLogFull: the queue stayed full for ``block_timeout`` seconds.
            PredictionLogError: the log is not started, is closed, or its writer failed.
        """
        if isinstance(records, Mapping):
            raise TypeError("record() takes a list of records; wrap a single record in a list")
        # Converted here, on the caller's thread, so a bad record fails the call that made it
        # instead of a batch in the writer.
        # The rows are turned into columns by the writer, off the request path (that costs tens
        # of µs of NumPy set-up per call, ten times what a single-record call costs otherwise).
        rows = [to_row(r, i) for i, r in enumerate(records)]
        if rows:
            self._enqueue(rows)

    def record_columns(
        self,
        transaction_ids: Sequence[str],
        *,
        ts: float,
        features: np.ndarray,
        scores: np.ndarray,
        is_fraud: np.ndarray,
        threshold: float,
        model_version: str,
        latency_ms: float | np.ndarray | None,
    ) -> None:
        """Queue a whole scored batch, given as columns: the bulk form of :meth:`record`.

        Same rows, same guarantees, without a dict per prediction (see
        :func:`check_columns` for the arguments).

        Raises:
            ValueError: a column has the wrong length or type (nothing is queued).
            PredictionLogFull, PredictionLogError: as :meth:`record`.
        """
        columns = check_columns(
            transaction_ids,
            ts=ts,
            features=features,
            scores=scores,
            is_fraud=is_fraud,
            threshold=threshold,
            model_version=model_version,
            latency_ms=latency_ms,
        )
        if len(columns):
            self._enqueue(columns)

    def _enqueue(self, chunk: _Columns | list[tuple[Any, ...]]) -> None:
        """Append checked rows (columns, or rows of :func:`to_row`) to the writer's queue,
        blocking while it is full."""
        n = len(chunk)
        with self._cond:
            self._check_writable()
            if self._queued and self._queued + n > self.max_queue:
                self._wait_for_room(n)
            was_empty = not self._queued
            self._queue.append((time.monotonic(), chunk))
            self._queued += n
            self._enqueued += n
            # Wake the writer only when it has something new to do: start the flush_interval
            # clock, or write a full batch. Not on every call: that is the request path.
            if was_empty or self._queued >= self.batch_size:
                self._cond.notify_all()

    def _wait_for_room(self, n: int) -> None:
        # Called holding the condition. An oversize call is let in once the queue is empty.
        self._stats["blocked"] += 1
        deadline = time.monotonic() + self.block_timeout
        while self._queued and self._queued + n > self.max_queue:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PredictionLogFull(
                    f"prediction log queue full ({self._queued:,} of {self.max_queue:,} records) for "
                    f"{self.block_timeout} s; last writer error: {self._last_error}"
                )
            self._cond.wait(remaining)
            self._check_writable()

    def _check_writable(self) -> None:
        if self._closed:
            raise PredictionLogError(f"{self!r} is closed; records can no longer be added")
        if self._thread is None:
            raise PredictionLogError(f"{self!r} is not started; call start() first")
        if self._writer_crash is not None:
            raise PredictionLogError(f"the writer thread failed: {self._writer_crash!r}")

    def flush(self, timeout: float | None = None) -> None:
        """Block until every record accepted so far is committed to the database.

        Raises:
            TimeoutError: not everything was written within ``timeout`` seconds.
            PredictionLogError: records are pending but the writer is not running.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._enqueued
            if self._done >= target:
                return
            self._flush_target = max(self._flush_target, target)
            self._cond.notify_all()
            while self._done < target:
                if self._writer_crash is not None:
                    raise PredictionLogError(
                        f"{target - self._done:,} records not written: the writer thread failed: "
                        f"{self._writer_crash!r}"
                    )
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(
                        f"{target - self._done:,} records still not written after {timeout} s; "
                        f"last writer error: {self._last_error}"
                    )
                self._cond.wait(remaining)

    def stats(self) -> dict[str, Any]:
        """Counters since :meth:`start`: ``enqueued``, ``pending`` (what a crash would lose now),
        ``written``, ``duplicates``, ``failed``, ``batches``, ``blocked`` (calls that waited for
        room) and ``last_error``."""
        with self._cond:
            return {
                "enqueued": self._enqueued,
                "pending": self._enqueued - self._done,
                **self._stats,
                "last_error": self._last_error,
            }

    def _run(self) -> None:
        try:
            conn = self._connect()
            try:
                while True:
                    with self._cond:
                        wait = self._time_to_write()
                        while wait != 0.0:
                            self._cond.wait(wait)
                            wait = self._time_to_write()
                        if not self._queued:  # stopping, and nothing left
                            return
                        batch = self._take(self.batch_size)
                        self._cond.notify_all()  # room for producers waiting on a full queue
                    self._write(conn, self._columns(batch))
            finally:
                conn.close()
        except BaseException as exc:
            with self._cond:
                self._writer_crash = exc
                self._cond.notify_all()
            raise

    def _time_to_write(self) -> float | None:
        """0.0 when the writer should write (or exit) now, else how long to wait (None: forever)."""
        if not self._queued:
            return 0.0 if self._stopping else None
        if (
            self._stopping
            or self._queued >= self.batch_size
            or self._flush_target > self._enqueued - self._queued  # rows taken so far
        ):
            return 0.0
        return max(0.0, self._queue[0][0] + self.flush_interval - time.monotonic())

    def _take(self, limit: int) -> list[_Columns | list[tuple[Any, ...]]]:
        """Whole queued calls, oldest first, up to ``limit`` rows (or one larger call).

        A call is never split: the rows of one :meth:`record_columns` call (10,000 for a full
        ``/predict_batch``) are committed as one batch, which is what keeps a row at a few µs
        (a commit writes every page it touched, and a 500-row slice of random ids touches about
        500 pages of the id index: 11 µs a row at 2,000 rows a batch, 6 µs at 10,000, measured
        in ``benchmarks/predlog.py``).
        """
        pieces: list[_Columns | list[tuple[Any, ...]]] = []
        taken = 0
        while self._queue and taken < limit:
            chunk = self._queue[0][1]
            if pieces and taken + len(chunk) > limit:
                break
            self._queue.popleft()
            pieces.append(chunk)
            taken += len(chunk)
        self._queued -= taken
        return pieces

    @staticmethod
    def _columns(pieces: list[_Columns | list[tuple[Any, ...]]]) -> _Chunk:
        """What :meth:`_take` took, as one chunk (consecutive rows converted together)."""
        chunks: list[_Chunk] = []
        rows: list[tuple[Any, ...]] = []
        for piece in pieces:
            if isinstance(piece, _Columns):
                if rows:
                    chunks.append(_Chunk.from_rows(rows))
                    rows = []
                chunks.append(piece.chunk())
            else:
                rows.extend(piece)
        if rows:
            chunks.append(_Chunk.from_rows(rows))
        return _Chunk.concat(chunks)

    def _write(self, conn: sqlite3.Connection, chunk: _Chunk) -> None:
        """Store one batch in one transaction; retry while the database is busy or unavailable."""
        delay = 0.05
        while True:
            try:
                with _transaction(conn):
                    inserted = _insert(conn, chunk)
                break
            except sqlite3.OperationalError as exc:
                # Locked by another process, disk full, I/O error: keep the rows and retry; the
                # queue fills meanwhile and record() blocks, then raises: nothing is dropped.
                self._set_error(exc)
                log.warning(
                    "prediction log: writing %d rows failed (%s); retrying", len(chunk), exc
                )
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            except (sqlite3.Error, ValueError) as exc:
                # Not expected (to_row makes every row storable); retrying would fail forever.
                self._set_error(exc)
                log.error("prediction log: %d rows could not be written: %s", len(chunk), exc)
                self._finish(len(chunk), failed=len(chunk))
                return
        duplicates = len(chunk) - inserted
        if duplicates:
            log.warning("prediction log: %d duplicate transaction ids ignored", duplicates)
        self._finish(inserted, duplicates=duplicates)

    def _finish(self, written: int, *, duplicates: int = 0, failed: int = 0) -> None:
        with self._cond:
            self._stats["written"] += written
            self._stats["duplicates"] += duplicates
            self._stats["failed"] += failed
            self._stats["batches"] += 1
            self._done += written + duplicates + failed
            self._cond.notify_all()

    def _set_error(self, exc: BaseException) -> None:
        with self._cond:
            self._last_error = repr(exc)

    # -- feedback --------------------------------------------------------------------------

    def add_feedback(self, transaction_id: str, is_fraud: bool) -> str:
        """Store the true label of a logged prediction.

        Returns:
            ``"created"`` (first label), ``"unchanged"`` (same label again) or ``"updated"``
            (a different label replaced the old one; ``updated_at`` records when).

        Raises:
            UnknownTransaction: no prediction with this id, even after flushing pending records.
            ValueError: ``is_fraud`` is not a boolean (or 0/1).
        """
        (status,) = self.add_feedback_many([transaction_id], [is_fraud])
        if status is None:
            raise UnknownTransaction(transaction_id)
        return status

    def add_feedback_many(
        self, transaction_ids: Sequence[str], labels: Sequence[bool]
    ) -> list[str | None]:
        """Store many labels in one transaction, as :meth:`add_feedback` one after another would.

        Returns:
            One status per id, in order: ``"created"``, ``"unchanged"``, ``"updated"``, or
            ``None`` for an id that was never logged (after flushing pending records). An id
            given twice is created by the first and unchanged or updated by the second.

        Raises:
            ValueError: the lengths differ, or a label is not a boolean (or 0/1); nothing is
                stored.
        """
        ids = list(transaction_ids)
        if len(ids) != len(labels):
            raise ValueError(f"{len(ids)} transaction ids but {len(labels)} labels")
        for tid, label in zip(ids, labels, strict=True):
            if label not in (True, False):
                raise ValueError(f"is_fraud must be a boolean, got {label!r} for {tid!r}")
        values = [int(label) for label in labels]
        statuses = self._store_feedback(ids, values)
        missing = [i for i, status in enumerate(statuses) if status is None]
        if missing:
            # The predictions may still be in the queue: feedback right after scoring must work.
            self.flush()
            again = self._store_feedback([ids[i] for i in missing], [values[i] for i in missing])
            for i, status in zip(missing, again, strict=True):
                statuses[i] = status
        return statuses

    def _store_feedback(self, ids: list[str], labels: list[int]) -> list[str | None]:
        now = time.time()
        distinct = json.dumps(list(dict.fromkeys(ids)))
        with self._reader() as conn, _transaction(conn):
            where = dict(
                (tid, (batch, pos))
                for tid, batch, pos in conn.execute(
                    "SELECT p.transaction_id, p.batch, p.pos FROM json_each(?) j "
                    "JOIN predictions p ON p.transaction_id = j.value",
                    (distinct,),
                )
            )
            stored = dict(
                conn.execute(
                    "SELECT f.transaction_id, f.label FROM json_each(?) j "
                    "JOIN feedback f ON f.transaction_id = j.value",
                    (distinct,),
                )
            )
            statuses: list[str | None] = []
            final: dict[str, tuple[int, bool]] = {}  # id -> (label, changed an earlier label)
            for tid, label in zip(ids, labels, strict=True):
                if tid not in where:
                    statuses.append(None)
                    continue
                old = final[tid][0] if tid in final else stored.get(tid)
                if old is None:
                    statuses.append("created")
                    final[tid] = (label, False)
                elif old == label:
                    statuses.append("unchanged")
                else:
                    statuses.append("updated")
                    final[tid] = (label, True)
            conn.executemany(
                "INSERT INTO feedback (transaction_id, batch, pos, label, received_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (transaction_id) DO UPDATE SET "
                "label = excluded.label, updated_at = excluded.updated_at",
                [
                    (tid, *where[tid], label, now, now if changed else None)
                    for tid, (label, changed) in final.items()
                ],
            )
        return statuses

    # -- reading ---------------------------------------------------------------------------

    def count(self) -> int:
        """Rows in the log, including every record this instance accepted (it flushes first)."""
        self.flush()
        with self._reader() as conn:
            return conn.execute("SELECT count(*) FROM predictions").fetchone()[0]

    def window(
        self, last_n: int | None = None, since: float | datetime | None = None
    ) -> pd.DataFrame:
        """Logged predictions joined with their labels, oldest first (flushes first).

        Args:
            last_n: only the last ``last_n`` rows logged (after the ``since`` filter).
            since: only rows with ``ts >= since`` (unix seconds, or an aware ``datetime``).

        Returns:
            The columns of :data:`WINDOW_COLUMNS`: ``transaction_id``, ``ts``, the features,
            ``score``, ``is_fraud`` (bool), ``threshold``, ``model_version``, ``latency_ms`` and
            ``label`` (nullable ``Int64``: ``<NA>`` until feedback arrives).
        """
        return self._select(last_n, since, labeled_only=False)

    def labeled(
        self, last_n: int | None = None, since: float | datetime | None = None
    ) -> pd.DataFrame:
        """Like :meth:`window`, only rows that have a label (``last_n`` counts labeled rows)."""
        return self._select(last_n, since, labeled_only=True)

    def _select(
        self, last_n: int | None, since: float | datetime | None, *, labeled_only: bool
    ) -> pd.DataFrame:
        if last_n is not None and (
            isinstance(last_n, bool) or not isinstance(last_n, int | np.integer) or last_n < 0
        ):
            raise ValueError(f"last_n must be a non-negative integer, got {last_n!r}")
        if isinstance(since, datetime):
            since = since.timestamp()
        lower = -np.inf if since is None else float(since)
        self.flush()
        pieces: list[pd.DataFrame] = []
        kept = 0
        with self._reader() as conn:
            # Newest batch first, stopping once last_n rows are in hand; a labeled window only
            # reads the batches that have labels.
            only = "AND seq IN (SELECT DISTINCT batch FROM feedback)" if labeled_only else ""
            batches = conn.execute(
                f"SELECT {_BATCH_COLUMNS} FROM batches WHERE ts_max >= ? {only} ORDER BY seq DESC",
                (lower,),
            )
            for row in batches:
                if last_n is not None and kept >= last_n:
                    break
                seq, columns = _decode(row)
                label = np.full(len(columns["ts"]), -1, dtype=np.int64)
                for pos, value in conn.execute(
                    "SELECT pos, label FROM feedback WHERE batch = ?", (seq,)
                ):
                    label[pos] = value
                frame = pd.DataFrame(columns)
                frame["label"] = pd.array(np.where(label < 0, None, label), dtype="Int64")
                keep = columns["ts"] >= lower
                if labeled_only:
                    keep &= label >= 0
                if not keep.all():
                    frame = frame[keep]
                pieces.append(frame)
                kept += len(frame)
        if not pieces:
            return _empty_window()
        frame = pd.concat(pieces[::-1], ignore_index=True)
        if last_n is not None:
            frame = frame.iloc[len(frame) - min(last_n, len(frame)) :].reset_index(drop=True)
        return frame.astype(_WINDOW_DTYPES)

    def check_integrity(self) -> dict[str, Any]:
        """Check the database file as it is on disk (no flush).

        Returns:
            ``ok`` (True when SQLite's ``integrity_check`` passes, the batches hold as many rows
            as the id index, and no feedback row lacks its prediction), ``integrity_check``
            (``"ok"`` or SQLite's messages), ``journal_mode``, ``predictions`` and ``feedback``
            (row counts), ``rows_in_batches``, ``orphan_feedback``, and this instance's
            ``pending``, ``duplicates`` and ``failed`` counters.
        """
        with self._reader() as conn:
            messages = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
            predictions = conn.execute("SELECT count(*) FROM predictions").fetchone()[0]
            in_batches = conn.execute("SELECT coalesce(sum(n), 0) FROM batches").fetchone()[0]
            feedback = conn.execute("SELECT count(*) FROM feedback").fetchone()[0]
            orphans = conn.execute(
                "SELECT count(*) FROM feedback f LEFT JOIN predictions p "
                "ON p.transaction_id = f.transaction_id WHERE p.batch IS NULL"
            ).fetchone()[0]
        stats = self.stats()
        integrity = "ok" if messages == ["ok"] else messages
        return {
            "ok": integrity == "ok" and orphans == 0 and in_batches == predictions,
            "integrity_check": integrity,
            "journal_mode": journal,
            "predictions": predictions,
            "rows_in_batches": in_batches,
            "feedback": feedback,
            "orphan_feedback": orphans,
            "pending": stats["pending"],
            "duplicates": stats["duplicates"],
            "failed": stats["failed"],
        }

    # -- connections -----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are explicit (see _transaction); the connection is
        # handed between threads, never used by two at once.
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        return conn

    def _open(self) -> None:
        """Create the directory, the file and the tables once (start() or the first read)."""
        with self._open_lock:
            if self._opened:
                return
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            conn = self._connect()
            try:
                mode = _use_wal(conn)
                if mode.lower() != "wal":
                    log.warning("%s: WAL mode unavailable (journal_mode=%s)", self.path, mode)
                # An existing, current file is opened without writing anything, so a second
                # process (or a locked file) does not wait here.
                if _schema_version(conn, self.path) < SCHEMA_VERSION:
                    with _transaction(conn):
                        version = _schema_version(conn, self.path)  # lost a race?
                        if version == 1:
                            _migrate_v1(conn, self.path, self.batch_size)
                        elif version < SCHEMA_VERSION:
                            for statement in _SCHEMA:
                                conn.execute(statement)
                        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            finally:
                conn.close()
            self._opened = True

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A connection for the calling thread, from a small pool (the writer has its own)."""
        self._open()
        with self._open_lock:
            conn = self._readers.pop() if self._readers else None
        if conn is None:
            conn = self._connect()
        try:
            yield conn
        finally:
            with self._open_lock:
                keep = not self._closed
                if keep:
                    self._readers.append(conn)
            if not keep:
                conn.close()


def _schema_version(conn: sqlite3.Connection, path: str) -> int:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise PredictionLogError(
            f"{path}: prediction log schema version {version} is newer than this code's "
            f"{SCHEMA_VERSION}; upgrade fraudops"
        )
    return version


def _insert(conn: sqlite3.Connection, chunk: _Chunk) -> int:
    """Store ``chunk`` as one batch (inside the caller's transaction); the rows inserted.

    Ids already logged, or repeated inside the chunk, keep their first prediction: the batch is
    then stored without those rows, so every stored row has its id in ``predictions``.
    """
    seq = conn.execute(_INSERT_BATCH, chunk.params()).lastrowid
    ids = json.dumps(chunk.ids)
    inserted = conn.execute(_INSERT_IDS, (seq, ids)).rowcount
    if inserted == len(chunk):
        return inserted
    # Rare (the service makes unique ids): redo this batch without its duplicate rows.
    conn.execute(
        "DELETE FROM predictions WHERE transaction_id IN (SELECT value FROM json_each(?)) "
        "AND batch = ?",
        (ids, seq),
    )
    conn.execute("DELETE FROM batches WHERE seq = ?", (seq,))
    known = {tid for (tid,) in conn.execute(
        "SELECT p.transaction_id FROM json_each(?) j JOIN predictions p "
        "ON p.transaction_id = j.value", (ids,)
    )}  # fmt: skip
    keep: list[int] = []
    for i, tid in enumerate(chunk.ids):
        if tid not in known:
            known.add(tid)
            keep.append(i)
    if not keep:
        return 0
    kept = chunk.take(np.asarray(keep))
    seq = conn.execute(_INSERT_BATCH, kept.params()).lastrowid
    return conn.execute(_INSERT_IDS, (seq, json.dumps(kept.ids))).rowcount


_WINDOW_DTYPES: dict[str, Any] = {
    **{c: "float64" for c in ("ts", *FEATURES, "score", "threshold", "latency_ms")},
    "transaction_id": object,
    "is_fraud": bool,
    "model_version": object,
    "label": "Int64",
}


def _empty_window() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_WINDOW_DTYPES[c]) for c in WINDOW_COLUMNS})


def _migrate_v1(conn: sqlite3.Connection, path: str, batch_size: int) -> None:
    """Convert a schema-1 file (one SQL row of 36 columns per prediction) in place.

    Runs inside the caller's transaction, so a failure leaves the file as it was. Rows keep their
    order, and labels their ``received_at`` and ``updated_at``.
    """
    count = conn.execute("SELECT count(*) FROM predictions").fetchone()[0]
    log.warning("%s: converting %d logged predictions to prediction log schema 2", path, count)
    conn.execute("ALTER TABLE predictions RENAME TO predictions_v1")
    conn.execute("ALTER TABLE feedback RENAME TO feedback_v1")
    conn.execute("DROP INDEX IF EXISTS predictions_ts")
    for statement in _SCHEMA:
        conn.execute(statement)
    columns = ", ".join(f'"{c}"' for c in WINDOW_COLUMNS[:-1])
    rows = conn.execute(f"SELECT {columns} FROM predictions_v1 ORDER BY seq")
    while batch := rows.fetchmany(max(batch_size, 1_000)):
        _insert(conn, _Chunk.from_rows(batch))
    conn.execute(
        "INSERT INTO feedback (transaction_id, batch, pos, label, received_at, updated_at) "
        "SELECT f.transaction_id, p.batch, p.pos, f.label, f.received_at, f.updated_at "
        "FROM feedback_v1 f JOIN predictions p ON p.transaction_id = f.transaction_id"
    )
    conn.execute("DROP TABLE feedback_v1")
    conn.execute("DROP TABLE predictions_v1")


def _use_wal(conn: sqlite3.Connection) -> str:
    """Put the database in WAL mode (persistent, so once per file); the journal mode it is in.

    The switch needs a lock that SQLite's busy timeout does not wait for: service workers that
    start together on one new file (``FRAUDOPS_WORKERS=2``) got "database is locked" here, and
    the worker stopped. So a locked switch is retried, for up to the busy timeout; usually the
    other process has switched the file meanwhile.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode.lower() == "wal":
                return mode
            return conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on error.

    IMMEDIATE takes the write lock up front, so the busy timeout applies; a read transaction that
    later tries to write can fail at once in WAL mode when another connection wrote meanwhile.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
