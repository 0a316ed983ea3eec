"""``fraudops simulate``: production traffic against the running service, with delayed labels.

Replays generated transactions whose ``Time`` continues after the training data, at a given rate
and concurrency, through ``POST /predict`` one at a time, or with ``--batch-size N`` through
``POST /predict_batch`` N at a time as columns (the cheap bulk body). After ``--drift-at``
transactions a drift scenario switches on (``covariate``: legitimate traffic changes; ``concept``:
a new fraud pattern). True labels come back after ``--label-delay`` seconds for a fraction of the
transactions, as chargebacks would: all labels due at one moment go in one
``POST /feedback_batch`` (up to :data:`FEEDBACK_BATCH` per call).

Everything sent and received is saved (``--out``, Parquet), so a run can be compared with what
the service logged: one row per transaction with its id, features, true class, the score and
model version that came back, the HTTP status, the latency and whether its label was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudops.schema import DAY_SECONDS, FEATURES, SCENARIOS, TARGET

if TYPE_CHECKING:
    import pandas as pd

#: Production traffic starts after the two days of training data.
DEFAULT_START = 2 * DAY_SECONDS
#: Largest ``/feedback_batch`` call (the service's default largest batch is 10,000).
FEEDBACK_BATCH = 1_000


@dataclass(frozen=True)
class TrafficPlan:
    """What to send. ``drift_at`` is the index of the first drifted transaction."""

    rows: int
    scenario: str = "none"
    drift_at: int | None = None
    fraud_rate: float = 492 / 284_807
    start_time: float = DEFAULT_START
    seed: int = 1


def make_stream(plan: TrafficPlan) -> pd.DataFrame:
    """The transactions to replay, in time order, with ids and a ``drifted`` flag.

    Before ``drift_at`` the traffic looks like the training data; from there on it follows
    ``plan.scenario``. The two parts are generated with different seeds and the second
    continues the first one's clock.
    """
    import pandas as pd
    from fraudops.data import generate

    if plan.scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS}, got {plan.scenario!r}")
    cut = plan.rows if plan.scenario == "none" or plan.drift_at is None else plan.drift_at
    cut = max(0, min(cut, plan.rows))
    parts = []
    if cut:
        before = generate(cut, plan.seed, fraud_rate=plan.fraud_rate, start_time=plan.start_time)
        before["drifted"] = False
        parts.append(before)
    if plan.rows - cut:
        start = float(parts[0]["Time"].max()) + 1.0 if parts else plan.start_time
        after = generate(
            plan.rows - cut,
            plan.seed + 1,
            fraud_rate=plan.fraud_rate,
            scenario=plan.scenario,
            start_time=start,
        )
        after["drifted"] = True
        parts.append(after)
    stream = pd.concat(parts, ignore_index=True)
    stream.insert(0, "transaction_id", [f"sim-{plan.seed}-{i:07d}" for i in range(len(stream))])
    return stream


async def _replay(
    url: str,
    stream: pd.DataFrame,
    *,
    rate: float | None,
    concurrency: int,
    batch_size: int,
    label_delay: float,
    label_fraction: float,
    seed: int,
    progress: bool,
) -> pd.DataFrame:
    import httpx
    import numpy as np
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    labeled = rng.random(len(stream)) < label_fraction
    # One dict per transaction only where each is sent alone (POST /predict).
    payloads = stream[["transaction_id", *FEATURES]].to_dict("records") if batch_size == 1 else []
    ids = stream["transaction_id"].tolist()
    feature_columns = {f: stream[f].to_numpy() for f in FEATURES}
    classes = stream[TARGET].to_numpy()
    n = len(stream)
    status = np.zeros(n, dtype=int)
    score = np.full(n, np.nan)
    decision = np.zeros(n, dtype=bool)
    version = np.empty(n, dtype=object)
    latency_ms = np.full(n, np.nan)
    feedback_status = np.zeros(n, dtype=int)
    due: list[tuple[float, int]] = []  # (time the label arrives, row): a min-heap
    start = time.perf_counter()
    bar = tqdm(total=n, unit="tx", disable=not progress, desc="simulate", mininterval=2.0)
    chunks = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60.0, limits=limits) as client:
        queue: asyncio.Queue[list[int]] = asyncio.Queue()
        for chunk in chunks:
            queue.put_nowait(chunk)

        def received(i: int, code: int, body: dict[str, Any] | None, ms: float) -> None:
            status[i] = code
            latency_ms[i] = ms
            if body is not None:
                score[i] = body["fraud_probability"]
                decision[i] = body["is_fraud"]
                version[i] = body["model_version"]
                if labeled[i]:
                    heapq.heappush(due, (time.perf_counter() + label_delay, i))

        async def send(chunk: list[int]) -> None:
            if rate:  # open-loop pacing: transaction i is due at i / rate seconds
                delay = start + chunk[0] / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            t0 = time.perf_counter()
            try:
                if batch_size == 1:
                    r = await client.post("/predict", json=payloads[chunk[0]])
                    bodies = [r.json()] if r.status_code == 200 else None
                else:
                    lo, hi = chunk[0], chunk[-1] + 1  # chunks are consecutive rows
                    body = {
                        "columns": {f: v[lo:hi].tolist() for f, v in feature_columns.items()},
                        "transaction_ids": ids[lo:hi],
                    }
                    r = await client.post("/predict_batch", json=body)
                    bodies = r.json()["predictions"] if r.status_code == 200 else None
                code = r.status_code
            except httpx.HTTPError:
                code, bodies = -1, None
            ms = (time.perf_counter() - t0) * 1000
            for k, i in enumerate(chunk):
                received(i, code, None if bodies is None else bodies[k], ms)
            bar.update(len(chunk))

        async def label(rows: list[int]) -> None:
            body = {
                "feedback": [{"transaction_id": ids[i], "is_fraud": bool(classes[i])} for i in rows]
            }
            try:
                r = await client.post("/feedback_batch", json=body)
            except httpx.HTTPError:
                feedback_status[rows] = -1
                return
            if r.status_code != 200:
                feedback_status[rows] = r.status_code
                return
            for i, result in zip(rows, r.json()["results"], strict=True):
                # An unknown id is the per-id form of /feedback's 404.
                feedback_status[i] = 404 if result["status"] == "not_found" else 200

        async def label_ready() -> None:
            """Send the labels that are due, in bulk."""
            while due and due[0][0] <= time.perf_counter():
                ready = []
                while due and due[0][0] <= time.perf_counter() and len(ready) < FEEDBACK_BATCH:
                    ready.append(heapq.heappop(due)[1])
                await label(ready)

        async def worker() -> None:
            while True:
                try:
                    chunk = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await send(chunk)
                await label_ready()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        # The labels still in flight arrive after their delay, as chargebacks would.
        while due:
            await asyncio.sleep(max(0.0, due[0][0] - time.perf_counter()))
            await label_ready()
    bar.close()

    out = stream.copy()
    out["status"] = status
    out["score"] = score
    out["is_fraud"] = decision
    out["model_version"] = version
    out["latency_ms"] = latency_ms
    out["label_sent"] = feedback_status == 200
    out["feedback_status"] = feedback_status
    return out


def simulate(
    url: str,
    plan: TrafficPlan,
    *,
    rate: float | None = None,
    concurrency: int = 8,
    batch_size: int = 1,
    label_delay: float = 1.0,
    label_fraction: float = 1.0,
    progress: bool = True,
) -> pd.DataFrame:
    """Send ``plan``'s traffic to the service at ``url`` and return what happened, row by row.

    Args:
        url: the service's base URL, e.g. ``http://127.0.0.1:3000``.
        plan: the transactions to send.
        rate: transactions per second (``None``: as fast as ``concurrency`` allows).
        concurrency: requests in flight at once (predictions and labels alike).
        batch_size: transactions per request; 1 uses ``POST /predict``, more use
            ``POST /predict_batch`` as columns (a payment processor forwarding its queue).
        label_delay: seconds from a prediction to its label.
        label_fraction: share of transactions whose label ever comes back.
        progress: show a progress bar.

    Returns:
        The stream with, per transaction, ``status`` (HTTP status, -1 for a connection
        error), ``score``, ``is_fraud`` (the service's decision), ``model_version``,
        ``latency_ms`` (of its request), ``label_sent`` and ``feedback_status``.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not 0.0 <= label_fraction <= 1.0:
        raise ValueError(f"label_fraction must be in [0, 1], got {label_fraction}")
    stream = make_stream(plan)
    return asyncio.run(
        _replay(
            url.rstrip("/"),
            stream,
            rate=rate,
            concurrency=concurrency,
            batch_size=batch_size,
            label_delay=label_delay,
            label_fraction=label_fraction,
            seed=plan.seed,
            progress=progress,
        )
    )


def score_offline(
    stream: pd.DataFrame, model: Any, threshold: float, *, version: str = "offline"
) -> pd.DataFrame:
    """What the prediction log would hold had ``model`` served ``stream``, with every label back.

    For benchmarks and tests of the monitor that need many windows fast: the same columns as
    :meth:`fraudops.predlog.PredictionLog.window`, scored in-process instead of over HTTP.
    """
    scores = model.predict_proba(stream[list(FEATURES)])[:, 1]
    out = stream[["transaction_id", *FEATURES]].copy()
    out.insert(1, "ts", out["Time"].astype(float))
    out["score"] = scores
    out["is_fraud"] = scores >= threshold
    out["threshold"] = threshold
    out["model_version"] = version
    out["latency_ms"] = 1.0
    out["label"] = stream[TARGET].astype("Int64").to_numpy()
    return out


def recall(sent: pd.DataFrame) -> float | None:
    """The service's recall on these transactions (``None`` without a fraud among them)."""
    ok = sent[sent["status"] == 200]
    frauds = ok[ok[TARGET] == 1]
    return None if frauds.empty else float(frauds["is_fraud"].mean())


def describe(sent: pd.DataFrame) -> dict[str, Any]:
    """Counts and recall of what a simulation sent, before and after the drift point."""
    ok = sent["status"] == 200
    out: dict[str, Any] = {
        "sent": len(sent),
        "ok": int(ok.sum()),
        "errors": int((~ok).sum()),
        "labels_sent": int(sent["label_sent"].sum()),
        "p50_ms": float(sent["latency_ms"].median()),
        "p99_ms": float(sent["latency_ms"].quantile(0.99)),
        "versions": sorted(sent.loc[ok, "model_version"].dropna().unique().tolist()),
        "recall_before_drift": recall(sent[~sent["drifted"]]),
        "recall_after_drift": recall(sent[sent["drifted"]]),
    }
    return out


def _cmd(args: argparse.Namespace) -> int:
    import logging

    # httpx logs every request at INFO: thousands of lines that drown the progress bar.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    plan = TrafficPlan(
        rows=args.rows,
        scenario=args.scenario,
        drift_at=args.drift_at,
        fraud_rate=args.fraud_rate,
        start_time=args.start_time,
        seed=args.seed,
    )
    started = time.perf_counter()
    sent = simulate(
        args.url,
        plan,
        rate=args.rate,
        concurrency=args.concurrency,
        batch_size=args.batch_size,
        label_delay=args.label_delay,
        label_fraction=args.label_fraction,
    )
    from fraudops.data import save

    stats = describe(sent)
    print(
        f"sent {stats['sent']:,} in {time.perf_counter() - started:.1f}s: {stats['ok']:,} ok, "
        f"{stats['errors']:,} errors, {stats['labels_sent']:,} labels; "
        f"p50 {stats['p50_ms']:.1f} ms, p99 {stats['p99_ms']:.1f} ms; "
        f"model versions {', '.join(stats['versions']) or '-'}"
    )
    for part in ("before", "after"):
        value = stats[f"recall_{part}_drift"]
        if value is not None:
            print(f"recall {part} the drift point: {value:.3f}")
    if args.out:
        save(sent, Path(args.out))
        print(f"saved what was sent to {args.out}")
    return 0 if stats["errors"] == 0 else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fraudops simulate`` to the command line."""
    p = subparsers.add_parser(
        "simulate",
        help="replay generated traffic against the service, with drift and delayed labels",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--url", required=True, help="service base URL, e.g. http://127.0.0.1:3000")
    p.add_argument("--rows", type=int, required=True, help="transactions to send")
    p.add_argument(
        "--rate", type=float, help="transactions per second (default: as fast as possible)"
    )
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight (default: 8)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="transactions per request: 1 = POST /predict, more = POST /predict_batch with a "
        "columnar body (default: 1)",
    )
    p.add_argument("--scenario", choices=SCENARIOS, default="none", help="drift after --drift-at")
    p.add_argument("--drift-at", type=int, help="index of the first drifted transaction")
    p.add_argument("--label-delay", type=float, default=1.0, help="seconds until a label arrives")
    p.add_argument("--label-fraction", type=float, default=1.0, help="share of labels that arrive")
    p.add_argument("--fraud-rate", type=float, default=492 / 284_807)
    p.add_argument("--start-time", type=float, default=DEFAULT_START, help="first Time value")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", help="save what was sent (.parquet or .csv)")
    p.set_defaults(func=_cmd)
