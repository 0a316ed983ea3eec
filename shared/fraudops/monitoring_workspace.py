"""The Evidently workspace of the monitoring runs, its project dashboard, and ``evidently ui``.

Every ``fraudops monitor`` run adds its snapshot (:mod:`fraudops.monitoring_snapshot`) to one
project, ``fraudops monitoring``, of a workspace: a folder, ``<state dir>/evidently`` by default
(``$FRAUDOPS_EVIDENTLY_WORKSPACE`` or ``--workspace`` name another), or a running Evidently UI
when that setting is an ``http(s)://`` URL (Evidently's ``RemoteWorkspace``; its write secret in
``$FRAUDOPS_EVIDENTLY_SECRET``). The project's dashboard plots the runs over time: drift share,
score distance, live recall, precision and AP against the champion's offline figures, label
counts, p99 latency, the decision and the model version. ``fraudops dashboard`` serves a local
workspace with ``evidently ui``.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fraudops.monitoring import DRIFT_COLUMNS

WORKSPACE_ENV = "FRAUDOPS_EVIDENTLY_WORKSPACE"
SECRET_ENV = "FRAUDOPS_EVIDENTLY_SECRET"
PROJECT_NAME = "fraudops monitoring"
PROJECT_DESCRIPTION = (
    "One snapshot per `fraudops monitor` run: drift against the champion's training data, live "
    "quality on the labeled predictions, latency, and the retraining decision."
)
_LOCK = ".fraudops.lock"


class WorkspaceError(Exception):
    """The workspace setting cannot be used (a file where a folder should be, a bad URL...)."""


def default_target() -> str:
    """``$FRAUDOPS_EVIDENTLY_WORKSPACE``, else ``<state dir>/evidently``."""
    from fraudops import tracking

    return os.environ.get(WORKSPACE_ENV) or str(tracking.state_dir() / "evidently")


def is_remote(target: str) -> bool:
    """Whether ``target`` names a running Evidently UI rather than a folder."""
    return target.split("://", 1)[0].lower() in ("http", "https") and "://" in target


def check_local(target: str) -> Path:
    """The folder of a local workspace, resolved; a clear error when it cannot be one.

    Raises:
        WorkspaceError: the path exists and is not a folder.
    """
    path = Path(target).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise WorkspaceError(f"Evidently workspace {path} is a file, not a folder")
    return path


def open_workspace(target: str) -> Any:
    """A local ``Workspace`` (the folder is created) or a ``RemoteWorkspace`` for a URL.

    Raises:
        WorkspaceError: a local path that is a file, or a URL where no Evidently UI answers.
    """
    if is_remote(target):
        from evidently.ui.workspace import RemoteWorkspace

        try:
            return RemoteWorkspace(target, secret=os.environ.get(SECRET_ENV))
        except Exception as exc:  # requests' errors, or ValueError when it is not Evidently
            raise WorkspaceError(f"no Evidently UI answers at {target}: {exc}") from exc
    from evidently.ui.workspace import Workspace

    path = check_local(target)
    path.mkdir(parents=True, exist_ok=True)
    return Workspace(str(path))


@contextmanager
def _locked(workspace: Any) -> Iterator[None]:
    """Hold a file lock on a local workspace (two monitor runs must not both create the
    project); a remote workspace is the server's to serialise."""
    path = getattr(workspace, "path", None)
    if path is None:
        yield
        return
    with open(Path(path) / _LOCK, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def panels() -> list[Any]:
    """The dashboard's panels, in order (each a ``DashboardPanelPlot``).

    Each value is a metric of the run snapshots: Evidently's own (``ValueDrift``, ``Recall``,
    ``Precision``, ``QuantileValue``) or one of the run's figures, stored as ``MeanValue`` of a
    one-row column (:func:`fraudops.monitoring_snapshot.figures`).
    """
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import bar_plot_panel, counter_panel, line_plot_panel

    def figure(column: str, legend: str) -> PanelMetric:
        return PanelMetric(legend=legend, metric="MeanValue", metric_labels={"column": column})

    return [
        # Not the decision itself: Evidently 0.7.23's counter shows a 0 as "no value" (seen in
        # headless Chromium on the demo's dashboard), which would read as a missing run. The
        # decision is the bar panel below (a bar per retrain) and each report's tag.
        counter_panel(
            "Live recall in the last window",
            [PanelMetric(legend="recall", metric="Recall")],
            size="half",
        ),
        counter_panel(
            "Model version served in the last window",
            [figure("model_version", "version")],
            size="half",
        ),
        bar_plot_panel("Decision (1 = retrain)", [figure("retrain", "retrain")], size="half"),
        line_plot_panel("Model version", [figure("model_version", "model version")], size="half"),
        line_plot_panel(
            "Share of drifted features",
            [figure("drift_share", "drift share")],
            description="Wasserstein distance (normed) over the threshold; the dataset drifts "
            "at monitor.drift_share",
            size="half",
        ),
        line_plot_panel(
            "Score distance",
            [
                PanelMetric(
                    legend="score distance", metric="ValueDrift", metric_labels={"column": "score"}
                )
            ],
            description="Wasserstein distance (normed) of the fraud scores to the reference",
            size="half",
        ),
        line_plot_panel(
            "Live recall against the champion's offline recall",
            [
                PanelMetric(legend="live recall", metric="Recall"),
                figure("champion_recall", "champion offline"),
                figure("recall_bound", "retrain below"),
            ],
            size="half",
        ),
        line_plot_panel(
            "Live precision against the champion's offline precision",
            [
                PanelMetric(legend="live precision", metric="Precision"),
                figure("champion_precision", "champion offline"),
            ],
            size="half",
        ),
        line_plot_panel(
            "Live average precision against the champion's offline AP",
            [
                figure("live_average_precision", "live AP"),
                figure("champion_average_precision", "champion offline"),
                figure("average_precision_bound", "retrain below"),
            ],
            size="half",
        ),
        bar_plot_panel(
            "Labels in the window",
            [figure("n_labels", "labels"), figure("n_fraud_labels", "frauds")],
            size="half",
        ),
        line_plot_panel(
            "Latency p99 (ms)",
            [
                PanelMetric(
                    legend="p99",
                    metric="QuantileValue",
                    metric_labels={"column": "latency_ms", "quantile": "0.99"},
                )
            ],
            size="half",
        ),
        line_plot_panel(
            "Drift per feature",
            [
                PanelMetric(legend=c, metric="ValueDrift", metric_labels={"column": c})
                for c in DRIFT_COLUMNS
            ],
            size="full",
        ),
    ]


def project(workspace: Any) -> Any:
    """The ``fraudops monitoring`` project, created with its dashboard when missing.

    A project found without some of the dashboard's panels (made by an older fraudops, or
    edited by hand) gets the missing ones; panels a person added are kept.
    """
    from evidently.sdk.models import DashboardModel, DashboardTabModel, ProjectModel

    with _locked(workspace):
        found = workspace.search_project(PROJECT_NAME)
        if found:
            proj = found[0]
        else:
            proj = workspace.add_project(
                ProjectModel(name=PROJECT_NAME, description=PROJECT_DESCRIPTION)
            )
        board = workspace.get_dashboard(proj.id)
        have = {p.title for p in board.panels}
        missing = [p for p in panels() if p.title not in have]
        if missing:
            tabs = board.tabs or [DashboardTabModel(title="Monitoring", panels=[])]
            tabs[0].panels.extend(p.id for p in missing)
            workspace.save_dashboard(
                proj.id, DashboardModel(tabs=tabs, panels=[*board.panels, *missing])
            )
    return proj


def add_snapshot(target: str, snapshot: Any) -> dict[str, str]:
    """Add a run's snapshot to the workspace's project.

    Args:
        target: a workspace folder or an Evidently UI URL (:func:`default_target`).
        snapshot: the run's ``Snapshot`` (:func:`fraudops.monitoring_snapshot.build`).

    Returns:
        ``workspace``, ``project_id`` and ``snapshot_id``.
    """
    workspace = open_workspace(target)
    proj = project(workspace)
    ref = workspace.add_run(proj.id, snapshot, include_data=False)
    return {"workspace": target, "project_id": str(proj.id), "snapshot_id": str(ref.id)}


def port_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now (the UI would fail later, less clearly)."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def ui_command(path: Path, host: str, port: int) -> list[str]:
    """The ``evidently ui`` command line serving the workspace folder ``path``."""
    evidently = Path(sys.executable).with_name("evidently")
    program: Sequence[str] = (
        [str(evidently)] if evidently.is_file() else [sys.executable, "-m", "evidently"]
    )
    return [*program, "ui", "--workspace", str(path), "--host", host, "--port", str(port)]


def start_ui(path: Path, host: str, port: int, **popen: Any) -> subprocess.Popen:
    """Start ``evidently ui`` on a local workspace in its own process group (offline: no
    telemetry, ``DO_NOT_TRACK``).

    Raises:
        WorkspaceError: the port is taken.
    """
    if not port_free(host, port):
        raise WorkspaceError(f"port {port} on {host} is in use: choose another with --port")
    env = {**os.environ, "DO_NOT_TRACK": "1", **popen.pop("env", {})}
    return subprocess.Popen(ui_command(path, host, port), env=env, start_new_session=True, **popen)
