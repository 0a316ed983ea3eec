"""The monitoring dashboard: ``fraudops monitor`` fills a real Evidently workspace and MLflow, and
a real ``evidently ui`` serves the project, its panels reading the run's figures.

One monitor run on a concept-drifted window (the champion's live recall drops: retrain), against
the session's registry of small models (``tests/served.py``); the command runs in-process
(``fraudops.cli.main``), the UI in its own process on a free port, stopped with its children
however the module ends.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
from fraudops import cli, monitoring_mlflow, monitoring_workspace, registry, tracking
from fraudops.commands.dashboard import wait_ready
from fraudops.predlog import PredictionLog
from fraudops.schema import FEATURES

from benchmarks._servers import kill_tree
from level2.simulate import TrafficPlan, make_stream, score_offline
from tests.served import free_port

PARAMS = """monitor:
  window: 2000
  reference_rows: 3000
  min_window: 1000
  min_labels: 300
  min_fraud_labels: 10
"""
#: The champion's offline figures, as the promotion gate would have tagged them.
OFFLINE = {"recall": 0.9, "precision": 0.5, "average_precision": 0.8}


@pytest.fixture(scope="module")
def champion(state_dir: Path, models) -> str:
    """The session's champion, with the gate's offline figures on it for this module."""
    client = tracking.connect()
    tags = {f"gate.challenger.{k}": str(v) for k, v in OFFLINE.items()}
    for key, value in tags.items():
        client.set_model_version_tag(registry.MODEL_NAME, models.champion, key, value)
    yield models.champion
    for key in tags:
        client.delete_model_version_tag(registry.MODEL_NAME, models.champion, key)


@pytest.fixture(scope="module")
def files(tmp_path_factory, small_data, champion) -> dict[str, Path]:
    """A prediction log holding a concept-drifted window the champion scored (70 % labeled), the
    reference data, and a params file with a small window."""
    root = tmp_path_factory.mktemp("dashboard")
    model = registry.load_model(champion)
    threshold = float(registry.version_info(champion)["tags"]["threshold"])
    plan = TrafficPlan(rows=2_000, scenario="concept", drift_at=0, fraud_rate=0.01, seed=41)
    scored = score_offline(make_stream(plan), model, threshold, version=champion)
    url = f"sqlite:///{root / 'predictions.sqlite'}"
    with PredictionLog(url) as log:
        log.record_columns(
            scored["transaction_id"].tolist(),
            ts=1.7e9,
            features=scored[list(FEATURES)].to_numpy(),
            scores=scored["score"].to_numpy(),
            is_fraud=scored["is_fraud"].to_numpy(),
            threshold=threshold,
            model_version=champion,
            latency_ms=np.random.default_rng(0).gamma(2.0, 1.5, len(scored)),
        )
        labeled = scored.iloc[: int(len(scored) * 0.7)]
        log.add_feedback_many(labeled["transaction_id"].tolist(), labeled["label"].astype(bool))
    small_data.to_parquet(root / "train.parquet")
    (root / "params.yaml").write_text(PARAMS)
    return {"root": root, "log": Path(url), "log_url": url}


def monitor(files, *extra: str) -> int:
    root = files["root"]
    return cli.main(
        [
            "monitor",
            "--log-url",
            files["log_url"],
            "--reference",
            str(root / "train.parquet"),
            "--params",
            str(root / "params.yaml"),
            "--quiet",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def ui_process(tmp_path_factory):
    """``evidently ui`` on an empty workspace folder, on a free port, started first so that it
    loads (about 9 s on 2 cores) while the registry and the window are built; stopped with its
    children however the module ends."""
    root = tmp_path_factory.mktemp("ui")
    port = free_port()
    with open(root / "ui.log", "wb") as out:
        process = monitoring_workspace.start_ui(
            root / "workspace", "127.0.0.1", port, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield {"url": f"http://127.0.0.1:{port}", "process": process, "root": root}
    finally:
        kill_tree(process.pid)


@pytest.fixture(scope="module")
def ui(ui_process) -> str:
    """The UI's address, once it answers."""
    log = ui_process["root"] / "ui.log"
    assert wait_ready(ui_process["url"], ui_process["process"]), log.read_text(errors="replace")
    return ui_process["url"]


@pytest.fixture(scope="module")
def run(ui_process, files, ui) -> dict:
    """One monitor run publishing to the UI (a remote workspace, by URL): its exit status,
    summary and published ids, and the UI's workspace folder."""
    root = files["root"]
    status = monitor(files, "--out", str(root / "runs"), "--workspace", ui)
    (folder,) = (root / "runs").glob("2*")
    summary = json.loads((folder / "summary.json").read_text())
    published = json.loads((folder / "published.json").read_text())
    workspace = ui_process["root"] / "workspace"
    return {"status": status, "summary": summary, "published": published, "workspace": workspace}


def test_a_monitor_run_adds_one_snapshot_with_the_runs_figures_and_tests(run):
    from evidently.ui.workspace import Workspace

    summary, published = run["summary"], run["published"]
    assert run["status"] == 3 and summary["retrain"], summary["reasons"]
    assert "error" not in published["evidently"], published
    ws = Workspace(str(run["workspace"]))
    (project,) = ws.search_project(monitoring_workspace.PROJECT_NAME)
    assert [str(s) for s in ws.list_runs(project.id)] == [published["evidently"]["snapshot_id"]]
    snapshot = ws.get_run(project.id, published["evidently"]["snapshot_id"])
    assert snapshot.tags == ["retrain"] and snapshot.metadata["decision"] == "retrain"

    def value(metric: str, **labels) -> float:
        (found,) = [
            r.value
            for r in snapshot.metric_results.values()
            if r.metric_value_location.metric.params["type"] == f"evidently:metric_v2:{metric}"
            and all(
                str(r.metric_value_location.metric.params.get(k)) == v for k, v in labels.items()
            )
        ]
        return found

    perf, drift = summary["performance"], summary["drift"]
    assert value("Recall") == pytest.approx(perf["recall"])
    assert value("Precision") == pytest.approx(perf["precision"])
    assert value("MeanValue", column="drift_share") == pytest.approx(drift["drift_share"])
    assert value("ValueDrift", column="score") == pytest.approx(drift["score_distance"])
    assert value("ValueDrift", column="V14") == pytest.approx(drift["features"]["V14"])
    assert value("QuantileValue", column="latency_ms", quantile="0.99") == pytest.approx(
        summary["latency"]["p99_ms"]
    )
    # Evidently's tests carry the project's thresholds: the recall test fails as the decision
    # did, the retrain test fails, and every feature's drift test agrees with the summary.
    statuses = {}
    for result in snapshot.metric_results.values():
        for test in result.tests:
            statuses.setdefault(test.name, []).append(test.status.value)
    live_recall_bound = OFFLINE["recall"] - 0.15
    assert perf["recall"] < live_recall_bound
    failed = [
        t for r in snapshot.metric_results.values() for t in r.tests if t.status.value == "FAIL"
    ]
    drifted_failures = [
        t
        for r in snapshot.metric_results.values()
        if r.metric_value_location.metric.params["type"].endswith("ValueDrift")
        and r.metric_value_location.metric.params["column"] in drift["drifted_features"]
        for t in r.tests
        if t.status.value == "FAIL"
    ]
    assert len(drifted_failures) == len(drift["drifted_features"])
    assert len(failed) >= 2 + len(drift["drifted_features"]), statuses


def test_a_local_workspace_gets_the_snapshot_and_the_dashboard(run, tmp_path):
    """The default kind of workspace, a folder: the run's snapshot (as the UI stored it) added
    there makes the project, its dashboard and one run; a second add finds them."""
    from evidently.core.report import Snapshot
    from evidently.ui.workspace import Workspace

    (stored,) = run["workspace"].glob("*/snapshots/*.json")
    ids = monitoring_workspace.add_snapshot(str(tmp_path / "ws"), Snapshot.load(stored))
    ws = Workspace(str(tmp_path / "ws"))
    (project,) = ws.search_project(monitoring_workspace.PROJECT_NAME)
    assert [str(s) for s in ws.list_runs(project.id)] == [ids["snapshot_id"]]
    titles = [p.title for p in ws.get_dashboard(project.id).panels]
    assert titles == [p.title for p in monitoring_workspace.panels()]
    monitoring_workspace.add_snapshot(str(tmp_path / "ws"), Snapshot.load(stored))
    assert len(ws.search_project(monitoring_workspace.PROJECT_NAME)) == 1  # found, not re-made
    assert len(ws.get_dashboard(project.id).panels) == len(titles)
    assert len(ws.list_runs(project.id)) == 2


def test_evidently_ui_serves_the_project_and_its_panels_read_the_runs_figures(run, ui):
    summary = run["summary"]
    projects = httpx.get(f"{ui}/api/projects", timeout=10).json()
    (project,) = [p for p in projects if p["name"] == monitoring_workspace.PROJECT_NAME]
    board = httpx.get(f"{ui}/api/v2/dashboards/{project['id']}", timeout=10).json()
    panels = {p["title"]: p for p in board["panels"]}
    assert list(panels) == [p.title for p in monitoring_workspace.panels()]

    def series(title: str) -> dict[str, float]:
        """Legend -> the run's value, as the UI's panel asks the server for it."""
        values = panels[title]["values"]
        body = {
            "series_filter": [
                {
                    "tags": v["tags"],
                    "metadata": v["metadata"],
                    "metric": v["metric"],
                    "metric_labels": v["metric_labels"],
                }
                for v in values
            ]
        }
        r = httpx.post(
            f"{ui}/api/v2/snapshots/{project['id']}/data_series_batch", json=body, timeout=10
        )
        r.raise_for_status()
        out = {}
        for s in r.json()["series"]:
            (value,) = s["values"]  # one run, one point
            out[values[s["filter_index"]]["legend"]] = value
        return out

    perf, drift, offline = summary["performance"], summary["drift"], summary["champion_offline"]
    assert series("Live recall in the last window") == {"recall": pytest.approx(perf["recall"])}
    assert series("Share of drifted features") == {"drift share": drift["drift_share"]}
    assert series("Score distance") == {"score distance": pytest.approx(drift["score_distance"])}
    assert series("Live recall against the champion's offline recall") == {
        "live recall": pytest.approx(perf["recall"]),
        "champion offline": offline["recall"],
        "retrain below": pytest.approx(offline["recall"] - 0.15),
    }
    assert series("Live precision against the champion's offline precision") == {
        "live precision": pytest.approx(perf["precision"]),
        "champion offline": offline["precision"],
    }
    assert series("Live average precision against the champion's offline AP")["live AP"] == (
        pytest.approx(perf["average_precision"])
    )
    assert series("Labels in the window") == {
        "labels": perf["n_labels"],
        "frauds": perf["n_fraud_labels"],
    }
    assert series("Latency p99 (ms)") == {"p99": pytest.approx(summary["latency"]["p99_ms"])}
    assert series("Decision (1 = retrain)") == {"retrain": 1.0}
    assert series("Model version") == {"model version": float(summary["model_version"])}
    assert len(series("Drift per feature")) == len(drift["features"])


def test_the_monitoring_run_is_in_mlflow_linked_to_the_champion(run, champion):
    summary, published = run["summary"], run["published"]["mlflow"]
    client = tracking.connect()
    mlrun = client.get_run(published["run_id"])
    experiment = client.get_experiment(mlrun.info.experiment_id)
    assert experiment.name == monitoring_mlflow.EXPERIMENT
    assert mlrun.data.tags["model_version"] == champion
    assert mlrun.data.tags["decision"] == "retrain"
    version = client.get_model_version(registry.MODEL_NAME, champion)
    # The logged model behind the version (MLflow 3's SQLite store names it in ``source``).
    model_id = version.model_id or version.source.removeprefix("models:/")
    assert model_id.startswith("m-") and mlrun.data.tags["model_id"] == model_id
    metrics = mlrun.data.metrics
    perf = summary["performance"]
    assert metrics["live_recall"] == pytest.approx(perf["recall"])
    assert metrics["live_average_precision"] == pytest.approx(perf["average_precision"])
    assert metrics["champion_recall"] == OFFLINE["recall"]
    assert metrics["n_labels"] == perf["n_labels"] and metrics["retrain"] == 1.0
    # MLflow 3: the live figures are on the champion's logged model too.
    model_metrics = {m.key: m.value for m in client.get_logged_model(model_id).metrics}
    assert model_metrics["live_recall"] == pytest.approx(perf["recall"])


def test_publishing_failures_do_not_lose_the_decision(files, champion, capsys):
    """Nothing listens at the workspace URL, and the MLflow experiment is deleted: both fail,
    are named, and the decision, its files and its exit status are all still there. (A window
    under monitor.min_window: no drift test, the cheapest run that decides.)"""
    root = files["root"]
    client = tracking.connect()
    experiment = client.get_experiment_by_name(monitoring_mlflow.EXPERIMENT)
    client.delete_experiment(experiment.experiment_id)
    try:
        dead = f"http://127.0.0.1:{free_port()}"
        status = monitor(
            files, "--out", str(root / "failing"), "--workspace", dead, "--window", "500"
        )
    finally:
        client.restore_experiment(experiment.experiment_id)
    err = capsys.readouterr().err
    assert status == 0
    (folder,) = (root / "failing").glob("2*")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["retrain"] is False and "window too small" in summary["reasons"][0]
    assert len((root / "failing" / "history.jsonl").read_text().splitlines()) == 1
    assert (folder / "report.html").is_file()
    published = json.loads((folder / "published.json").read_text())
    assert dead in published["evidently"]["error"]
    assert "deleted" in published["mlflow"]["error"]
    assert "publishing to evidently failed" in err and "publishing to mlflow failed" in err


def test_bad_settings_are_named(files, tmp_path, capsys):
    not_a_folder = tmp_path / "workspace.txt"
    not_a_folder.write_text("")
    assert monitor(files, "--out", str(tmp_path / "runs"), "--workspace", str(not_a_folder)) == 1
    assert f"{not_a_folder} is a file, not a folder" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # rejected before anything ran
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        status = cli.main(["dashboard", "--workspace", str(tmp_path / "ws"), "--port", str(port)])
    assert status == 1 and f"port {port} on 127.0.0.1 is in use" in capsys.readouterr().err


@pytest.mark.slow
def test_the_dashboard_page_renders_in_a_browser_without_errors(run, ui):
    """The project page a person opens (``fraudops dashboard`` prints its address), in a real
    headless Chromium: no console or page error, nothing fetched from the network, the panels
    drawn; a screenshot goes to var/screenshots/."""
    from tests.browser import SCREENSHOTS, Browser

    project_id = run["published"]["evidently"]["project_id"]
    with Browser() as browser:
        seen = browser.check(
            f"{ui}/projects/{project_id}",
            SCREENSHOTS / "evidently-dashboard.png",
            wait_for="text=Live recall",
            settle_ms=1500,
        )
    assert not seen.problems, seen.problems
    assert seen.screenshot is not None and seen.screenshot.stat().st_size > 10_000
