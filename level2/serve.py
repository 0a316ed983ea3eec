"""``fraudops serve``: start the Level 2 scoring service (a thin wrapper of ``bentoml serve``).

By default it serves the source (``level2.service.service:FraudDetector``, from the project root
whatever the current directory); ``--bento TAG`` serves a built Bento instead
(``fraud_detector:latest`` after ``bentoml build -f level2/bentofile.yaml .``). Either way the
model is the registry's ``@champion``, fetched at start-up.

The wrapper pins down what ``bentoml serve`` alone leaves to the caller: the state directory is
made absolute (a Bento runs from inside its own folder, where a relative ``var`` would point
elsewhere), usage tracking is off, and OpenMP's threads sleep when idle (the service's workers
share the cores with everything else on the machine; :data:`fraudops.OMP_WAIT_POLICY` says why
and keeps a value the caller set). It then *replaces* itself with ``bentoml serve`` (exec), so
Ctrl-C and SIGTERM reach BentoML directly and the prediction log is flushed on the way out.

Two servers on one machine need two ``BENTOML_HOME`` directories: BentoML empties
``$BENTOML_HOME/prometheus_multiproc_dir`` whenever a server starts, which would wipe the other
server's metrics.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import fraudops
from fraudops import tracking

ROOT = Path(__file__).resolve().parents[1]
SERVICE = "level2.service.service:FraudDetector"


def command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The ``bentoml serve`` command line and environment for the parsed ``args``."""
    cmd = [sys.executable, "-m", "bentoml", "serve"]
    if args.bento:
        cmd.append(args.bento)
    else:
        cmd += [SERVICE, "--working-dir", str(ROOT)]
    cmd += ["--host", args.host, "--port", str(args.port)]
    env = dict(os.environ)
    env.setdefault("BENTOML_DO_NOT_TRACK", "true")
    env.setdefault("OMP_WAIT_POLICY", fraudops.OMP_WAIT_POLICY)
    env["FRAUDOPS_STATE_DIR"] = str(tracking.state_dir())
    env["MLFLOW_TRACKING_URI"] = tracking.tracking_uri()
    if args.no_batching:
        env["FRAUDOPS_BATCHING"] = "0"
    if args.reload_interval is not None:
        env["FRAUDOPS_RELOAD_INTERVAL"] = str(args.reload_interval)
    if args.workers is not None:
        env["FRAUDOPS_WORKERS"] = str(args.workers)
    return cmd, env


def run(args: argparse.Namespace) -> int:
    """Exec ``bentoml serve``; does not return."""
    cmd, env = command(args)
    print("$ " + " ".join(cmd), flush=True)
    os.execve(sys.executable, cmd, env)
    return 0  # pragma: no cover (exec does not return)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` command."""
    p = subparsers.add_parser(
        "serve",
        help="serve @champion over HTTP (BentoML)",
        description=(
            "Serve the registry's @champion over HTTP with BentoML (wraps 'bentoml serve'). "
            "Endpoints: POST /predict, /predict_batch, /feedback; GET /model, /metrics, "
            "/healthz, /readyz. Other settings come from FRAUDOPS_* environment variables "
            "(see level2/service/service.py)."
        ),
    )
    p.add_argument("--port", type=int, default=3000, help="port to listen on (default: 3000)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1; 0.0.0.0 for all)"
    )
    p.add_argument(
        "--bento", metavar="TAG", help="serve a built Bento (e.g. fraud_detector:latest)"
    )
    p.add_argument(
        "--no-batching", action="store_true", help="score each /predict alone (FRAUDOPS_BATCHING=0)"
    )
    p.add_argument(
        "--reload-interval",
        type=float,
        metavar="SECONDS",
        help="seconds between registry look-ups for a new champion (FRAUDOPS_RELOAD_INTERVAL)",
    )
    p.add_argument("--workers", type=int, help="worker processes (FRAUDOPS_WORKERS, default 1)")
    p.set_defaults(func=run)
