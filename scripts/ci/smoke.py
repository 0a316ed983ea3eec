"""Serve a built Bento on this machine and check it as a client would.

    python scripts/ci/smoke.py --bento fraud_detector:TAG --port 3100 --name smoke
        [--expect-version V] [--load-requests N --concurrency C --p95-ms MS --max-error-rate R]

Starts ``fraudops serve --bento TAG`` (``bentoml serve``) against the registry of
``$FRAUDOPS_STATE_DIR``, with its own prediction log (``<state>/<name>-predictions.sqlite``, so
smoke and load traffic never mixes with production's), then:

1. waits for ``GET /readyz`` (the champion loaded);
2. ``GET /model``: the version served is ``--expect-version`` when given, and it scores through
   its fast scorer, which passed the parity gate (``scorer``: path, largest difference from the
   pipeline on the reference rows; a version served through its pipeline fails the smoke test);
3. ``POST /predict`` with a valid transaction: 200, a probability in [0, 1], a model version;
   ``POST /predict_batch`` with the same rows as records and as columns: identical predictions;
4. ``POST /predict`` with a bad request (a string where a number belongs, a field missing): 4xx,
   and the service is still ready afterwards;
5. with ``--load-requests``: a short, bounded load test (loopback only) against latency (p95) and
   error-rate targets.

The service is stopped at the end whatever happens. Exit 0 when every check passes. The results
go to stdout, ``$GITHUB_STEP_SUMMARY`` and ``--report`` (JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from fraudops.schema import FEATURES


class CheckFailed(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)
    print(f"  ok: {message}", flush=True)


def transactions(n: int, seed: int = 11) -> list[dict[str, Any]]:
    """``n`` generated transactions as request bodies (no ids: the service makes them)."""
    from fraudops.data import generate

    df = generate(rows=max(n, 100), seed=seed, fraud_rate=0.02).drop(columns=["Class"])
    return [{k: float(v) for k, v in row.items()} for row in df.head(n).to_dict("records")]


def start(args: argparse.Namespace, state: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "FRAUDOPS_PREDICTION_LOG": f"sqlite:///{state / f'{args.name}-predictions.sqlite'}",
        "FRAUDOPS_ACCESS_LOG": "false",
        "BENTOML_DO_NOT_TRACK": "true",
    }
    log = open(state / f"{args.name}-service.log", "w")  # noqa: SIM115 (closed with the process)
    cmd = ["fraudops", "serve", "--bento", args.bento, "--port", str(args.port)]
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_ready(client: httpx.Client, proc: subprocess.Popen, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise CheckFailed(
                f"the service exited with status {proc.returncode} before it was ready"
            )
        try:
            if client.get("/readyz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise CheckFailed(f"/readyz not 200 within {timeout:.0f}s")


async def load(base: str, rows: list[dict[str, Any]], concurrency: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    queue = list(rows)
    deadline = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while queue and time.monotonic() < deadline:
            row = queue.pop()
            t0 = time.perf_counter()
            try:
                r = await client.post("/predict", json=row, timeout=10)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - t0) * 1000)
            errors += not ok

    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=base) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "errors": errors,
        "error_rate": errors / n if n else 1.0,
        "p50_ms": latencies[n // 2] if n else None,
        "p95_ms": latencies[min(n - 1, int(n * 0.95))] if n else None,
        "throughput_rps": n / elapsed if elapsed else 0.0,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    state = Path(os.environ.get("FRAUDOPS_STATE_DIR", "var")).resolve()
    state.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{args.port}"
    result: dict[str, Any] = {"bento": args.bento, "url": base, "name": args.name}
    rows = transactions(max(args.load_requests, 1))
    proc = start(args, state)
    try:
        with httpx.Client(base_url=base) as client:
            result["ready_after_s"] = round(wait_ready(client, proc, args.ready_timeout), 1)
            check(True, f"/readyz 200 after {result['ready_after_s']}s")
            info = client.get("/model", timeout=10).json()
            result["model_version"] = str(info.get("version"))
            check(bool(info.get("version")), f"/model serves version {info.get('version')}")
            if args.expect_version:
                check(
                    str(info.get("version")) == str(args.expect_version),
                    f"served version is the expected @champion v{args.expect_version}",
                )
            scorer = info.get("scorer") or {}
            parity = scorer.get("parity") or {}
            result["scorer"] = scorer
            check(
                scorer.get("path", "pipeline") != "pipeline" and parity.get("ok") is True,
                f"scores through {scorer.get('path')}: parity gate passed, largest difference "
                f"{parity.get('max_abs_diff')} on {parity.get('rows')} rows "
                f"(tolerance {parity.get('tolerance')}; fallback: {scorer.get('fallback_reason')})",
            )
            r = client.post("/predict", json=rows[0], timeout=30)
            check(r.status_code == 200, f"/predict on a valid transaction -> {r.status_code}")
            body = r.json()
            check(
                0.0 <= body["fraud_probability"] <= 1.0 and body["model_version"],
                f"fraud_probability {body['fraud_probability']:.4f} from v{body['model_version']}",
            )
            some = transactions(20, seed=12)
            as_records = client.post("/predict_batch", json={"transactions": some}, timeout=30)
            columns = {f: [row[f] for row in some] for f in FEATURES}
            ids = [f"{args.name}-columns-{i}" for i in range(len(some))]
            as_columns = client.post(
                "/predict_batch", json={"columns": columns, "transaction_ids": ids}, timeout=30
            )
            check(
                as_records.status_code == as_columns.status_code == 200
                and [p["fraud_probability"] for p in as_records.json()["predictions"]]
                == [p["fraud_probability"] for p in as_columns.json()["predictions"]],
                f"/predict_batch: {len(some)} rows as records and as columns score identically",
            )
            bad = {**rows[0], "V1": "not a number"}
            bad.pop("Amount")
            r = client.post("/predict", json=bad, timeout=30)
            check(400 <= r.status_code < 500, f"/predict on a bad request -> {r.status_code} (4xx)")
            check(client.get("/readyz", timeout=5).status_code == 200, "still ready afterwards")
        if args.load_requests:
            stats = asyncio.run(load(base, rows, args.concurrency, args.load_seconds))
            result["load"] = stats
            print(f"  load: {json.dumps(stats)}", flush=True)
            check(
                stats["requests"] >= min(50, args.load_requests),
                f"{stats['requests']} requests sent",
            )
            check(
                stats["error_rate"] <= args.max_error_rate,
                f"error rate {stats['error_rate']:.2%} <= {args.max_error_rate:.2%}",
            )
            check(
                stats["p95_ms"] <= args.p95_ms,
                f"p95 latency {stats['p95_ms']:.1f} ms <= {args.p95_ms:.0f} ms",
            )
        result["passed"] = True
    except (CheckFailed, httpx.HTTPError, KeyError, ValueError) as exc:
        result["passed"] = False
        result["error"] = str(exc)
        print(f"  FAILED: {exc}", flush=True)
        tail = (state / f"{args.name}-service.log").read_text().splitlines()[-30:]
        print("  service log (last lines):\n    " + "\n    ".join(tail), flush=True)
    finally:
        stop(proc)
    return result


def write_summary(result: dict[str, Any]) -> None:
    lines = [
        f"### {result['name']}: {'passed' if result['passed'] else 'FAILED'}",
        "",
        f"Bento `{result['bento']}` served v{result.get('model_version')} at {result['url']}",
    ]
    if "load" in result:
        s = result["load"]
        lines += [
            "",
            "| requests | errors | p50 ms | p95 ms | req/s |",
            "|---|---|---|---|---|",
            f"| {s['requests']} | {s['errors']} | {s['p50_ms']:.1f} | {s['p95_ms']:.1f} "
            f"| {s['throughput_rps']:.0f} |",
        ]
    if not result["passed"]:
        lines += ["", f"error: {result.get('error')}"]
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a") as fh:
            fh.write("\n".join(lines) + "\n\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bento", required=True)
    p.add_argument("--port", type=int, default=3100)
    p.add_argument("--name", default="smoke", help="names the log files (smoke, staging...)")
    p.add_argument("--expect-version")
    p.add_argument("--ready-timeout", type=float, default=180)
    p.add_argument("--load-requests", type=int, default=0)
    p.add_argument("--load-seconds", type=float, default=30, help="upper bound on the load test")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--p95-ms", type=float, default=250)
    p.add_argument("--max-error-rate", type=float, default=0.01)
    p.add_argument("--report", help="write the result as JSON here")
    args = p.parse_args(argv)
    result = run(args)
    write_summary(result)
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(result, indent=2))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
