"""The prediction log: every prediction the service makes, and the labels that come back later.

Each prediction is one row (its ``transaction_id``, wall-clock time ``ts``, the 30 features, the
score, the decision, the threshold and model version that made it, the latency) in a SQLite file
(WAL mode, ``PRAGMA synchronous=NORMAL``). Labels arrive later, through :meth:`add_feedback`, into
a ``feedback`` table keyed by the same id; :meth:`PredictionLog.window` joins the two for
monitoring and retraining.

Off the request path
    :meth:`PredictionLog.record` (dicts) and :meth:`PredictionLog.record_columns` (a whole scored
    batch as NumPy columns, the fast path of the service) only convert the records to rows and
    append them to an in-memory queue. One writer thread inserts them with ``executemany``, one transaction per batch
    of at most ``batch_size`` rows. It commits as soon as ``batch_size`` rows are waiting, or
    ``flush_interval`` seconds after the oldest waiting row arrived, whichever comes first.
    :meth:`flush` waits until every record accepted so far is committed; :meth:`close` flushes and
    stops the writer, and also runs at interpreter exit (``atexit``), so a graceful shutdown
    (BentoML's shutdown hook, ``SIGTERM`` turned into ``SystemExit``, the end of a script) loses
    nothing.

Backpressure: never drop, block briefly
    The queue holds at most ``max_queue`` records (100,000 by default). When it is full,
    :meth:`record` blocks until the writer has made room (normally milliseconds: the writer drains
    45,000 to 130,000 records a second on a 2-core laptop, ``benchmarks/results/predlog.md``,
    where a service scores a few thousand) and raises :class:`PredictionLogFull` after
    ``block_timeout`` seconds (the database is stuck). A record is never dropped silently.

What a hard crash can lose (the documented bound)
    A record is durable once its batch is committed. A hard crash (``SIGKILL``, the OOM killer)
    loses exactly the records accepted by :meth:`record` but not yet committed; ``stats()`` reports
    that number as ``pending``. While the writer keeps up with the traffic, a record waits at most
    ``flush_interval`` (0.2 s) plus the time of one commit (milliseconds), so the loss is the
    traffic of the last ~0.2 s (at 2,000 predictions/s the benchmark saw at most 416 records
    waiting), and at most ``2 * batch_size`` records (one batch being committed
    plus less than one batch waiting) when records arrive a few at a time; a single
    :meth:`record` call of more rows than ``batch_size`` can add its own size. Whatever the
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

Store URLs
    ``sqlite:///relative/path.sqlite`` (relative to the working directory when the log is
    created), ``sqlite:////absolute/path.sqlite``. Parent directories are created by
    :meth:`start` (or the first read), never at import or construction. ``postgresql://`` is reserved for a PostgreSQL store behind the
    same interface; it needs psycopg, which this project does not install, so it raises
    :class:`NotImplementedError` for now.

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
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd

from fraudops.schema import FEATURES

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///var/predictions.sqlite"
#: Bumped when the tables change; a newer file is refused rather than misread.
SCHEMA_VERSION = 1
#: Seconds a connection waits for another writer (a second worker process) before giving up.
BUSY_TIMEOUT_S = 10.0
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
_ROW_COLUMNS = WINDOW_COLUMNS[:-1]
_SQL_COLUMNS = ", ".join(f'"{c}"' for c in _ROW_COLUMNS)
_FEATURE_DDL = ",\n    ".join(f'"{c}" REAL' for c in FEATURES)

# Only ``transaction_id`` and ``model_version`` are NOT NULL, and record() guarantees both: a
# NaN feature or score becomes NULL (read back as NaN) instead of a constraint error that would
# make the writer fail a whole batch.
_SCHEMA = (
    f"""
CREATE TABLE IF NOT EXISTS predictions (
    seq INTEGER PRIMARY KEY,  -- insertion order: "the last n" means the last n logged
    transaction_id TEXT NOT NULL UNIQUE,
    ts REAL,
    {_FEATURE_DDL},
    score REAL,
    is_fraud INTEGER,
    threshold REAL,
    model_version TEXT NOT NULL,
    latency_ms REAL
)""",
    "CREATE INDEX IF NOT EXISTS predictions_ts ON predictions (ts)",
    """
CREATE TABLE IF NOT EXISTS feedback (
    transaction_id TEXT PRIMARY KEY,
    label INTEGER NOT NULL CHECK (label IN (0, 1)),
    received_at REAL NOT NULL,
    updated_at REAL  -- set when a later feedback changed the label
)""",
)
# ON CONFLICT names the one constraint a duplicate id breaks: the first prediction is kept, and any
# other error still raises instead of being ignored.
_INSERT = (
    f"INSERT INTO predictions ({_SQL_COLUMNS}) VALUES ({', '.join('?' * len(_ROW_COLUMNS))}) "
    "ON CONFLICT (transaction_id) DO NOTHING"
)
_SELECT = ", ".join(f'p."{c}"' for c in _ROW_COLUMNS) + ", f.label"


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


def columns_to_rows(
    transaction_ids: Sequence[str],
    *,
    ts: float,
    features: np.ndarray,
    scores: np.ndarray,
    is_fraud: np.ndarray,
    threshold: float,
    model_version: str,
    latency_ms: float | np.ndarray | None,
) -> list[tuple[Any, ...]]:
    """A scored batch, given as columns, as rows of the ``predictions`` table.

    The columnar twin of :func:`to_row`, with the same rules: the per-row work is done by NumPy
    (one ``tolist`` per column) and ``zip``, never by Python code per row, so converting a
    10,000-row batch costs milliseconds instead of the ~100 ms of building and converting 10,000
    dicts, which sat on the request path of ``/predict_batch``.

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
    n = len(transaction_ids)
    if not all(type(tid) is str and tid for tid in transaction_ids):
        bad = next(t for t in transaction_ids if not (type(t) is str and t))
        raise ValueError(f"transaction_ids: every id must be a non-empty string, got {bad!r}")
    if model_version is None:
        raise ValueError("model_version is None")
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.shape != (n, len(FEATURES)):
        raise ValueError(f"features has shape {matrix.shape}, expected ({n}, {len(FEATURES)})")

    def column(name: str, values: Any, dtype: type) -> list[Any]:
        array = np.asarray(values, dtype=dtype).ravel()
        if len(array) != n:
            raise ValueError(f"{name} has {len(array)} values for {n} transaction ids")
        return array.tolist()

    if latency_ms is None or np.ndim(latency_ms) == 0:
        latencies: Any = repeat(None if latency_ms is None else float(latency_ms), n)
    else:
        latencies = column("latency_ms", latency_ms, np.float64)
    return list(
        zip(
            transaction_ids,
            repeat(float(ts), n),
            *matrix.T.tolist(),
            column("scores", scores, np.float64),
            column("is_fraud", is_fraud, np.int64),
            repeat(float(threshold), n),
            repeat(str(model_version), n),
            latencies,
            strict=True,
        )
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
        self._queue: deque[tuple[float, list[tuple[Any, ...]]]] = deque()  # (arrival, rows)
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
        self._enqueue([to_row(r, i) for i, r in enumerate(records)])

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

        Same rows, same guarantees, without a dict per prediction: a 10,000-row batch is
        converted by NumPy and ``zip`` in a few milliseconds, where :meth:`record` spends a
        hundred (see :func:`columns_to_rows`).

        Raises:
            ValueError: a column has the wrong length or type (nothing is queued).
            PredictionLogFull, PredictionLogError: as :meth:`record`.
        """
        self._enqueue(
            columns_to_rows(
                transaction_ids,
                ts=ts,
                features=features,
                scores=scores,
                is_fraud=is_fraud,
                threshold=threshold,
                model_version=model_version,
                latency_ms=latency_ms,
            )
        )

    def _enqueue(self, rows: list[tuple[Any, ...]]) -> None:
        """Append converted rows to the writer's queue (blocking while it is full)."""
        if not rows:
            return
        n = len(rows)
        with self._cond:
            self._check_writable()
            if self._queued and self._queued + n > self.max_queue:
                self._wait_for_room(n)
            was_empty = not self._queued
            self._queue.append((time.monotonic(), rows))
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
                    self._write(conn, batch)
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

    def _take(self, limit: int) -> list[tuple[Any, ...]]:
        batch: list[tuple[Any, ...]] = []
        while self._queue and len(batch) < limit:
            arrived, rows = self._queue[0]
            room = limit - len(batch)
            if len(rows) <= room:
                self._queue.popleft()
                batch.extend(rows)
            else:
                batch.extend(rows[:room])
                self._queue[0] = (arrived, rows[room:])
        self._queued -= len(batch)
        return batch

    def _write(self, conn: sqlite3.Connection, batch: list[tuple[Any, ...]]) -> None:
        """Insert one batch in one transaction; retry while the database is busy or unavailable."""
        delay = 0.05
        while True:
            try:
                with _transaction(conn):
                    inserted = conn.executemany(_INSERT, batch).rowcount
                break
            except sqlite3.OperationalError as exc:
                # Locked by another process, disk full, I/O error: keep the rows and retry; the
                # queue fills meanwhile and record() blocks, then raises: nothing is dropped.
                self._set_error(exc)
                log.warning(
                    "prediction log: writing %d rows failed (%s); retrying", len(batch), exc
                )
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            except sqlite3.Error as exc:
                # Not expected (to_row makes every row bindable); retrying would fail forever.
                self._set_error(exc)
                log.error("prediction log: %d rows could not be written: %s", len(batch), exc)
                self._finish(len(batch), failed=len(batch))
                return
        duplicates = len(batch) - inserted
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
        if is_fraud not in (True, False):
            raise ValueError(f"is_fraud must be a boolean, got {is_fraud!r}")
        label = int(is_fraud)
        status = self._store_feedback(transaction_id, label)
        if status is None:
            # The prediction may still be in the queue: feedback right after scoring must work.
            self.flush()
            status = self._store_feedback(transaction_id, label)
        if status is None:
            raise UnknownTransaction(transaction_id)
        return status

    def _store_feedback(self, transaction_id: str, label: int) -> str | None:
        now = time.time()
        with self._reader() as conn, _transaction(conn):
            if (
                conn.execute(
                    "SELECT 1 FROM predictions WHERE transaction_id = ?", (transaction_id,)
                ).fetchone()
                is None
            ):
                return None
            old = conn.execute(
                "SELECT label FROM feedback WHERE transaction_id = ?", (transaction_id,)
            ).fetchone()
            if old is None:
                conn.execute(
                    "INSERT INTO feedback (transaction_id, label, received_at) VALUES (?, ?, ?)",
                    (transaction_id, label, now),
                )
                return "created"
            if old[0] == label:
                return "unchanged"
            conn.execute(
                "UPDATE feedback SET label = ?, updated_at = ? WHERE transaction_id = ?",
                (label, now, transaction_id),
            )
            return "updated"

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
        join = "JOIN" if labeled_only else "LEFT JOIN"
        where, params = "", []
        if since is not None:
            where = "WHERE p.ts >= ?"
            params.append(float(since))
        # The newest last_n rows, by insertion order, returned oldest first.
        sql = (
            f"SELECT {_SELECT}, p.seq FROM predictions p {join} feedback f "
            f"ON f.transaction_id = p.transaction_id {where} ORDER BY p.seq DESC"
        )
        if last_n is not None:
            sql += " LIMIT ?"
            params.append(int(last_n))
        self.flush()
        with self._reader() as conn:
            rows = conn.execute(f"SELECT * FROM ({sql}) ORDER BY seq", params).fetchall()
        frame = pd.DataFrame.from_records(rows, columns=[*WINDOW_COLUMNS, "seq"])
        frame = frame.drop(columns="seq")
        dtypes: dict[str, Any] = {c: "float64" for c in ("ts", *FEATURES, "score", "threshold")}
        dtypes.update(
            transaction_id=object,
            is_fraud=bool,
            model_version=object,
            latency_ms="float64",
            label="Int64",
        )
        return frame.astype(dtypes)

    def check_integrity(self) -> dict[str, Any]:
        """Check the database file as it is on disk (no flush).

        Returns:
            ``ok`` (True when SQLite's ``integrity_check`` passes and no feedback row lacks its
            prediction), ``integrity_check`` (``"ok"`` or SQLite's messages), ``journal_mode``,
            ``predictions`` and ``feedback`` (row counts), ``orphan_feedback``, and this
            instance's ``pending``, ``duplicates`` and ``failed`` counters.
        """
        with self._reader() as conn:
            messages = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
            predictions = conn.execute("SELECT count(*) FROM predictions").fetchone()[0]
            feedback = conn.execute("SELECT count(*) FROM feedback").fetchone()[0]
            orphans = conn.execute(
                "SELECT count(*) FROM feedback f LEFT JOIN predictions p "
                "ON p.transaction_id = f.transaction_id WHERE p.seq IS NULL"
            ).fetchone()[0]
        stats = self.stats()
        integrity = "ok" if messages == ["ok"] else messages
        return {
            "ok": integrity == "ok" and orphans == 0,
            "integrity_check": integrity,
            "journal_mode": journal,
            "predictions": predictions,
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
        return conn

    def _open(self) -> None:
        """Create the directory, the file and the tables once (start() or the first read)."""
        with self._open_lock:
            if self._opened:
                return
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            conn = self._connect()
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                    if mode.lower() != "wal":
                        log.warning("%s: WAL mode unavailable (journal_mode=%s)", self.path, mode)
                # An existing, current file is opened without writing anything, so a second
                # process (or a locked file) does not wait here.
                if _schema_version(conn, self.path) < SCHEMA_VERSION:
                    with _transaction(conn):
                        if _schema_version(conn, self.path) < SCHEMA_VERSION:  # lost a race?
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
