"""``fraudops dashboard``: serve the monitoring dashboard with ``evidently ui``, offline.

The Evidently workspace that ``fraudops monitor`` fills (``--workspace``, default
``$FRAUDOPS_EVIDENTLY_WORKSPACE``, else ``<state dir>/evidently``) has one project,
``fraudops monitoring``, whose dashboard plots every monitoring run over time: the decision and
the model version, the share of drifted features and the score distance, live recall, precision
and average precision against the champion's offline figures, label counts, p99 latency, and
the drift of each feature. Each run's snapshot opens from the project's report list, with
Evidently's tests (pass or fail against params.yaml's monitor thresholds).

The command creates the project and its dashboard if no monitoring run has yet, prints the
dashboard's address, and runs ``evidently ui`` until interrupted (Ctrl-C). A remote workspace
(a URL) is already served: open it there.
"""

from __future__ import annotations

import argparse
import signal
import time

from fraudops.cli import CommandError

DEFAULT_PORT = 8000
#: Seconds ``evidently ui`` may take to answer (it starts in a few seconds on 2 cores).
READY_TIMEOUT = 60.0


def run(args: argparse.Namespace) -> int:
    from fraudops import monitoring_workspace as mw

    target = args.workspace or mw.default_target()
    if mw.is_remote(target):
        raise CommandError(
            f"the workspace is the Evidently UI at {target}: open it there, nothing to serve"
        )
    if not mw.port_free(args.host, args.port):
        raise CommandError(f"port {args.port} on {args.host} is in use: choose another with --port")
    try:
        path = mw.check_local(target)
        workspace = mw.open_workspace(str(path))
        project = mw.project(workspace)
        process = mw.start_ui(path, args.host, args.port)
    except mw.WorkspaceError as exc:
        raise CommandError(str(exc)) from exc
    url = f"http://{args.host}:{args.port}"
    # The UI runs in a session of its own: on SIGTERM too, stop it here (the finally below).
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        if not wait_ready(url, process):
            raise CommandError(
                f"evidently ui did not answer on {url} within {READY_TIMEOUT:.0f} s "
                f"(exit status {process.poll()})"
            )
        print(f"Evidently UI: {url}/projects/{project.id}  (workspace {path}; Ctrl-C stops it)")
        print(f"runs in the project: {len(workspace.list_runs(project.id))}", flush=True)
        return process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except Exception:
                process.kill()


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def wait_ready(url: str, process, timeout: float = READY_TIMEOUT) -> bool:
    """Wait until ``evidently ui`` lists projects at ``url`` (``False``: it exited or timed out)."""
    import logging

    import httpx

    logging.getLogger("httpx").setLevel(logging.WARNING)  # not one INFO line per poll
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(f"{url}/api/projects", timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fraudops dashboard`` to the command line."""
    p = subparsers.add_parser(
        "dashboard",
        help="serve the monitoring dashboard (Evidently UI) over every monitoring run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--workspace",
        help="the Evidently workspace folder (default: $FRAUDOPS_EVIDENTLY_WORKSPACE, "
        "else <state dir>/evidently)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (%(default)s)")
    p.set_defaults(func=run)
