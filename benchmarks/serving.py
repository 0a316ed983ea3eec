"""Serving benchmark: the BentoML service against its floor and against ``mlflow models serve``.

One run, one load generator, one model, side by side:

- **floor**: ``predict_proba`` on one transaction in process (what any server adds cost to);
- **bentoml batching on** / **off**: ``fraudops serve`` (``FRAUDOPS_BATCHING=1|0``) with
  validation, the prediction log and the Prometheus metrics all on, one worker;
- **mlflow serve**: ``mlflow models serve -m models:/fraud-detector@champion --env-manager local``
  (one uvicorn worker), the same registry version.

The load generator is one asyncio ``httpx`` client in this process with N closed-loop clients
(each sends its next transaction when the previous answer arrives), measuring latency
p50/p95/p99 and throughput at 1, 8 and 32 clients; then the batch endpoint's transactions per
second. The model is the Level 1 custom trainer's kind (HistGradientBoosting, class weights,
200 iterations) trained on full-size synthetic data (284,807 rows) and promoted in a scratch
registry, so the benchmark never touches ``var/``.

The load generator shares the machine's two cores with the server: every figure includes that
contention (the client's own CPU per request shows up as server latency when both compete).

Run: ``python -m benchmarks serving`` (about 10 minutes); ``FRAUDOPS_BENCH_SECONDS`` sets the
seconds measured per cell (default 10).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from benchmarks._results import table, write

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = (1, 8, 32)
BATCH_SIZES = (1_000, 10_000)
SECONDS = float(os.environ.get("FRAUDOPS_BENCH_SECONDS", "10"))
WARMUP_SECONDS = 2.0
READY_TIMEOUT = 300.0


# -- the machine ---------------------------------------------------------------------------------


class OtherLoad:
    """CPU time that processes outside this benchmark used while it ran.

    The load average counts the benchmark's own server and client too; this does not. It is the
    machine's busy CPU time minus this process's and its (reaped) children's, whose workers are
    counted when the servers exit. Start it before any server starts; read it after all stopped.
    """

    def __init__(self) -> None:
        self._start = (self._busy(), self._ours(), time.monotonic())

    @staticmethod
    def _busy() -> float:
        import psutil

        t = psutil.cpu_times()
        return t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0)

    @staticmethod
    def _ours() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def figures(self) -> dict[str, float]:
        busy, ours, start = self._start
        wall = time.monotonic() - start
        other = max(0.0, (self._busy() - busy) - (self._ours() - ours))
        return {"wall_s": wall, "other_cpu_s": other, "other_cores": other / wall}


# -- the model ---------------------------------------------------------------------------------


def train_champion(rows: int | None = None) -> dict[str, Any]:
    """Train on synthetic data (full size by default), register, promote; return what was
    registered. Scoring cost depends on the model (200 trees of 15 leaves), not on ``rows``."""
    import mlflow
    from fraudops import registry, tracking
    from fraudops.data import generate
    from fraudops.models import make_model
    from fraudops.schema import FEATURES, FULL_ROWS
    from fraudops.split import time_split, xy
    from fraudops.thresholds import choose_threshold

    start = time.perf_counter()
    split = time_split(generate(rows=rows or FULL_ROWS, seed=0))
    X, y = xy(split.train)
    model = make_model("hist_gb", "class_weight", seed=0).fit(X, y)
    Xv, yv = xy(split.valid)
    threshold = choose_threshold(yv, model.predict_proba(Xv)[:, 1], strategy="min_precision")
    tracking.setup("benchmark-serving")
    with mlflow.start_run():
        info = tracking.log_model(model, X_example=X)
    version = registry.register(info.model_uri, tags={"threshold": threshold})
    registry.promote(version, reason="serving benchmark")
    return {
        "version": version,
        "threshold": threshold,
        "train_rows": len(X),
        "seconds": time.perf_counter() - start,
        "X": split.test[list(FEATURES)],
    }


# -- the load generator --------------------------------------------------------------------------


def _percentiles(latencies_s: list[float]) -> dict[str, float]:
    ms = np.asarray(latencies_s) * 1000.0
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


async def closed_loop(
    url: str,
    payloads: Sequence[bytes] | Callable[[int], bytes],
    clients: int,
    seconds: float,
    ok: Callable[[httpx.Response], bool],
    *,
    warmup: float = WARMUP_SECONDS,
    successes: list[int] | None = None,
) -> dict[str, Any]:
    """``clients`` concurrent closed-loop clients for ``seconds`` after ``warmup`` seconds.

    Args:
        payloads: request bodies, cycled; or ``payloads(i)``, the body of the ``i``-th request
            (numbered across all clients and the warm-up, so ids built from ``i`` are unique).
        successes: if given, the numbers ``i`` of the measured requests that succeeded are
            appended (the reliability benchmark checks each of them was logged).

    A client whose connection fails stops (the crash benchmarks kill the server under load);
    its failure counts as an error.
    """
    latencies: list[float] = []
    errors = transport_errors = 0
    first_error: str | None = None
    numbers = count()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"content-type": "application/json"}
    body = payloads if callable(payloads) else lambda i: payloads[i % len(payloads)]
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:

        async def client(until: float, record: bool) -> None:
            nonlocal errors, transport_errors, first_error
            while time.perf_counter() < until:
                i = next(numbers)
                t0 = time.perf_counter()
                try:
                    answer = await http.post(url, content=body(i), headers=headers)
                except httpx.TransportError as exc:
                    errors += record
                    transport_errors += record
                    first_error = first_error or repr(exc)
                    return
                elapsed = time.perf_counter() - t0
                if not record:
                    continue
                if ok(answer):
                    latencies.append(elapsed)
                    if successes is not None:
                        successes.append(i)
                else:
                    errors += 1
                    first_error = first_error or f"{answer.status_code} {answer.text[:300]}"

        if warmup > 0:
            warm_until = time.perf_counter() + warmup
            await asyncio.gather(*(client(warm_until, False) for _ in range(clients)))
        start = time.perf_counter()
        await asyncio.gather(*(client(start + seconds, True) for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return {
        "clients": clients,
        "seconds": elapsed,
        "requests": len(latencies),
        "errors": errors,
        "transport_errors": transport_errors,
        "first_error": first_error,
        "throughput_rps": len(latencies) / elapsed,
        **_percentiles(latencies or [float("nan")]),
    }


def _batch_rate(url: str, payload: bytes, rows: int, ok: Callable[[httpx.Response], bool]) -> dict:
    """Transactions per second of one client posting ``rows``-row batches back to back."""
    with httpx.Client(timeout=300) as http:
        headers = {"content-type": "application/json"}
        for _ in range(2):  # warm-up
            http.post(url, content=payload, headers=headers)
        calls, errors, start = 0, 0, time.perf_counter()
        latencies = []
        while calls < 3 or time.perf_counter() - start < SECONDS:
            t0 = time.perf_counter()
            answer = http.post(url, content=payload, headers=headers)
            latencies.append(time.perf_counter() - t0)
            calls += 1
            errors += not ok(answer)
        elapsed = time.perf_counter() - start
    return {
        "batch_rows": rows,
        "calls": calls,
        "errors": errors,
        "tx_per_s": rows * calls / elapsed,
        "median_call_ms": float(np.median(latencies) * 1000),
    }


# -- servers ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_tree(pid: int) -> int:
    """``SIGKILL`` a process and all its descendants at once; returns how many were killed.

    Not ``killpg``: BentoML's process manager (circus) starts each worker in a session of its
    own, so killing the server's process group leaves the worker, the process that holds the
    prediction log, running as an orphan. A crash of the worker is what this must simulate.
    """
    import psutil

    root = psutil.Process(pid)
    processes = [*root.children(recursive=True), root]
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(processes, timeout=10)
    return len(processes)


class Server:
    """A server process in its own process group, ready once ``ready_path`` answers 200."""

    def __init__(self, cmd: list[str], env: dict[str, str], port: int, ready_path: str, log: Path):
        self.url = f"http://127.0.0.1:{port}"
        self._log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{cmd[:4]} exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + ready_path, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(
            f"{cmd[:4]} not ready after {READY_TIMEOUT}s:\n{log.read_text()[-3000:]}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                kill_tree(self.process.pid)


def _bentoml(env: dict[str, str], batching: bool, log: Path) -> Server:
    port = _free_port()
    cmd = [sys.executable, "-m", "fraudops.cli", "serve", "--port", str(port)]
    env = {**env, "FRAUDOPS_BATCHING": "1" if batching else "0"}
    return Server(cmd, env, port, "/readyz", log)


def _mlflow(env: dict[str, str], log: Path) -> Server:
    port = _free_port()
    cmd = [
        str(Path(sys.executable).parent / "mlflow"),
        "models", "serve", "-m", "models:/fraud-detector@champion",
        "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    # mlflow starts `uvicorn` by name: the virtualenv's bin/ must be on PATH.
    env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
    # One OpenMP/BLAS thread, as the BentoML service scores (FRAUDOPS_SCORING_THREADS=1): the
    # comparison is between serving stacks, not thread settings.
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return Server(cmd, env, port, "/ping", log)


# -- payloads --------------------------------------------------------------------------------------


def _records(X: pd.DataFrame) -> list[dict[str, float]]:
    from fraudops.schema import FEATURES

    return [dict(zip(FEATURES, map(float, row), strict=True)) for row in X.to_numpy()]


def _mlflow_body(rows: list[dict[str, float]]) -> bytes:
    from fraudops.schema import FEATURES

    data = [[r[f] for f in FEATURES] for r in rows]
    return json.dumps({"dataframe_split": {"columns": list(FEATURES), "data": data}}).encode()


def _floor(model: Any, X: pd.DataFrame) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """In-process predict_proba: one transaction at a time, and whole batches (one OpenMP
    thread, as the service scores)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _floor_measure(model, X)


def _floor_measure(model: Any, X: pd.DataFrame) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows = [X.iloc[[i]] for i in range(min(len(X), 500))]
    for r in rows[:20]:
        model.predict_proba(r)
    latencies = []
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < SECONDS:
        t0 = time.perf_counter()
        model.predict_proba(rows[i % len(rows)])
        latencies.append(time.perf_counter() - t0)
        i += 1
    single = {
        "clients": 1,
        "requests": len(latencies),
        "errors": 0,
        "throughput_rps": len(latencies) / (time.perf_counter() - start),
        **_percentiles(latencies),
    }
    batches = []
    for size in BATCH_SIZES:
        frame = X.iloc[:size]
        t0, calls = time.perf_counter(), 0
        while calls < 3 or time.perf_counter() - t0 < 3:
            model.predict_proba(frame)
            calls += 1
        batches.append({"batch_rows": size, "tx_per_s": size * calls / (time.perf_counter() - t0)})
    return single, batches


def use_state(state: Path) -> None:
    """Point MLflow, BentoML and the service at the scratch state folder ``state``, offline."""
    os.environ.update(
        FRAUDOPS_STATE_DIR=str(state),
        MLFLOW_TRACKING_URI=f"sqlite:///{state / 'mlflow.db'}",
        BENTOML_HOME=str(state / "bentoml"),
        BENTOML_DO_NOT_TRACK="true",
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
    )


# -- the run ------------------------------------------------------------------------------------------


def run(state: Path) -> dict[str, Any]:
    """Train, then measure every server; returns the figures."""
    from fraudops import registry

    use_state(state)
    load_before = os.getloadavg()[0]
    other = OtherLoad()
    print("training the champion on full-size data...", flush=True)
    champion = train_champion()
    X = champion.pop("X").reset_index(drop=True)
    print(f"  version {champion['version']} in {champion['seconds']:.0f}s", flush=True)
    records = _records(X.head(2000))
    env = {**os.environ, "FRAUDOPS_PREDICTION_LOG": f"sqlite:///{state / 'predictions.sqlite'}"}

    latency: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    single, floor_batches = _floor(registry.load_model(champion["version"]), X)
    latency.append({"server": "in-process predict_proba (floor)", **single})
    batch += [{"server": "in-process predict_proba (floor)", **b} for b in floor_batches]
    print(f"  floor: {single['p50_ms']:.2f} ms per transaction", flush=True)

    bento_single = [json.dumps(r).encode() for r in records]
    mlflow_single = [_mlflow_body([r]) for r in records]
    bento_ok = lambda a: a.status_code == 200  # noqa: E731
    mlflow_ok = lambda a: a.status_code == 200  # noqa: E731
    configs = [
        ("bentoml, batching on", lambda: _bentoml(env, True, state / "bento-on.log"), "/predict",
         bento_single, bento_ok, True),
        ("bentoml, batching off", lambda: _bentoml(env, False, state / "bento-off.log"), "/predict",
         bento_single, bento_ok, False),
        ("mlflow models serve", lambda: _mlflow(env, state / "mlflow.log"), "/invocations",
         mlflow_single, mlflow_ok, True),
    ]  # fmt: skip
    for name, start, path, payloads, ok, with_batches in configs:
        print(f"{name}: starting...", flush=True)
        server = start()
        try:
            for clients in CLIENTS:
                cell = asyncio.run(closed_loop(server.url + path, payloads, clients, SECONDS, ok))
                latency.append({"server": name, **cell})
                print(
                    f"  {clients:>2} clients: {cell['throughput_rps']:7.0f} req/s  "
                    f"p50 {cell['p50_ms']:6.1f}  p95 {cell['p95_ms']:6.1f}  "
                    f"p99 {cell['p99_ms']:6.1f} ms  errors {cell['errors']}",
                    flush=True,
                )
            if with_batches:
                for size in BATCH_SIZES:
                    rows = [records[i % len(records)] for i in range(size)]
                    if path == "/predict":
                        url, body = (
                            server.url + "/predict_batch",
                            json.dumps({"transactions": rows}).encode(),
                        )
                    else:
                        url, body = server.url + path, _mlflow_body(rows)
                    cell = _batch_rate(url, body, size, ok)
                    batch.append({"server": name, **cell})
                    print(f"  batch of {size}: {cell['tx_per_s']:,.0f} tx/s", flush=True)
        finally:
            server.stop()
    return {
        "champion": champion,
        "latency": latency,
        "batch": batch,
        "seconds_per_cell": SECONDS,
        # Other work on the machine competes for the same 2 cores: keep the evidence.
        "load_average_1min": {"start": load_before, "end": os.getloadavg()[0]},
        "other_processes": other.figures(),
    }


def _ratio(latency: list[dict[str, Any]], name: str, other: str, clients: int) -> float:
    def rps(server: str) -> float:
        return next(
            r["throughput_rps"]
            for r in latency
            if r["server"] == server and r["clients"] == clients
        )

    return rps(name) / rps(other)


def report(figures: dict[str, Any]) -> str:
    latency, batch, champion = figures["latency"], figures["batch"], figures["champion"]
    on_vs_mlflow = _ratio(latency, "bentoml, batching on", "mlflow models serve", 8)
    off_vs_mlflow = _ratio(latency, "bentoml, batching off", "mlflow models serve", 8)
    p99_8 = next(
        r["p99_ms"] for r in latency if r["server"] == "bentoml, batching on" and r["clients"] == 8
    )
    best_batch = max(r["tx_per_s"] for r in batch if r["server"] == "bentoml, batching on")
    figures["goals"] = {
        "p99_ms_at_8_clients": p99_8,
        "throughput_vs_mlflow_at_8_clients": on_vs_mlflow,
        "batch_endpoint_tx_per_s": best_batch,
    }
    return f"""# Serving benchmark

Model: registry version {champion["version"]} (HistGradientBoosting, class weights), trained on
{champion["train_rows"]:,} rows of full-size synthetic data; threshold {champion["threshold"]:.4f}.
One asyncio httpx load generator, closed-loop clients, {figures["seconds_per_cell"]:.0f} s per cell
after a {WARMUP_SECONDS:.0f} s warm-up; generator and server share the machine's 2 cores.
BentoML runs with validation, the prediction log (SQLite WAL) and its metrics on, one worker,
one OpenMP thread; `mlflow models serve` runs one uvicorn worker (`--env-manager local`), also
with one OpenMP thread. 1-minute load average: {figures["load_average_1min"]["start"]:.1f} at the
start, {figures["load_average_1min"]["end"]:.1f} at the end (this benchmark's server and client
count in it). Processes outside the benchmark used {figures["other_processes"]["other_cores"]:.2f}
of a core on average over the {figures["other_processes"]["wall_s"]:.0f} s run (of 2 cores): the
larger that is, the more pessimistic every figure.

## Single transactions (POST /predict, one transaction per request)

{table(latency, ["server", "clients", "throughput_rps", "p50_ms", "p95_ms", "p99_ms", "requests", "errors"], ".1f")}

## Batches (one client, back-to-back calls)

{table(batch, ["server", "batch_rows", "tx_per_s", "median_call_ms", "calls", "errors"], ".0f")}

## Against the goals

| goal | target | measured |
|---|---|---|
| BentoML p99 at 8 clients (batching on) | <= 20 ms | {p99_8:.1f} ms |
| throughput vs `mlflow models serve` at 8 clients (batching on) | >= 3x | {on_vs_mlflow:.1f}x (batching off: {off_vs_mlflow:.1f}x) |
| batch endpoint | >= 20,000 tx/s | {best_batch:,.0f} tx/s |
"""


def run_and_write(name: str, run_in: Callable[[Path], dict], report_of: Callable) -> None:
    """Run a benchmark in a scratch state directory under ``var/`` (registry, logs, BentoML
    home; deleted afterwards, environment restored), then write and print its report."""
    base = ROOT / "var"
    base.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-", dir=base) as tmp:
        saved = dict(os.environ)
        try:
            figures = run_in(Path(tmp))
        finally:
            os.environ.clear()
            os.environ.update(saved)
    markdown = report_of(figures)
    path = write(name, figures, markdown)
    print(markdown)
    print(f"written to {path}")


def main() -> None:
    run_and_write("serving", run, report)


if __name__ == "__main__":
    main()
