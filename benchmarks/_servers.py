"""What the serving benchmarks share: a scratch registry, servers on free ports, load generators.

Used by :mod:`benchmarks.serving` (throughput and latency against peers) and
:mod:`benchmarks.reliability` (sustained load, crashes); :func:`kill_tree` also by the tests.
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

from benchmarks._results import write

ROOT = Path(__file__).resolve().parents[1]
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


def train_champion(
    rows: int | None = None, estimator: str = "hist_gb", *, promote: bool = True
) -> dict[str, Any]:
    """Train on synthetic data (full size by default), register, promote; return what was
    registered. Scoring cost depends on the model (200 trees of 15 leaves), not on ``rows``.

    Args:
        rows: rows generated (284,807 when None).
        estimator: the model factory's estimator (class weights, its default parameters).
        promote: move ``@champion`` to the new version.
    """
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
    model = make_model(estimator, "class_weight", seed=0).fit(X, y)
    Xv, yv = xy(split.valid)
    threshold = choose_threshold(yv, model.predict_proba(Xv)[:, 1], strategy="min_precision")
    tracking.setup("benchmark-serving")
    with mlflow.start_run():
        info = tracking.log_model(model, X_example=X)
    version = registry.register(info.model_uri, tags={"threshold": threshold})
    if promote:
        registry.promote(version, reason="serving benchmark")
    return {
        "estimator": estimator,
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


# -- servers ------------------------------------------------------------------------------------


def free_port() -> int:
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


def bentoml_server(env: dict[str, str], log: Path, **settings: str) -> Server:
    """``fraudops serve`` on a free port with ``settings`` (e.g. ``FRAUDOPS_BATCHING="on"``)."""
    port = free_port()
    cmd = [sys.executable, "-m", "fraudops.cli", "serve", "--port", str(port)]
    return Server(cmd, {**env, **settings}, port, "/readyz", log)


def mlflow_server(env: dict[str, str], log: Path) -> Server:
    port = free_port()
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


def records(X: pd.DataFrame) -> list[dict[str, float]]:
    from fraudops.schema import FEATURES

    return [dict(zip(FEATURES, map(float, row), strict=True)) for row in X.to_numpy()]


def mlflow_body(rows: list[dict[str, float]]) -> bytes:
    from fraudops.schema import FEATURES

    data = [[r[f] for f in FEATURES] for r in rows]
    return json.dumps({"dataframe_split": {"columns": list(FEATURES), "data": data}}).encode()


def use_state(state: Path) -> None:
    """Point MLflow, BentoML and the service at the scratch state folder ``state``, offline."""
    os.environ.update(
        FRAUDOPS_STATE_DIR=str(state),
        MLFLOW_TRACKING_URI=f"sqlite:///{state / 'mlflow.db'}",
        BENTOML_HOME=str(state / "bentoml"),
        BENTOML_DO_NOT_TRACK="true",
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
    )


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
