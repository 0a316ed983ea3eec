"""``fraudops monitor``: judge the latest window of production traffic.

Reads the last N predictions (or the last S seconds) from the prediction log, compares them with
the champion's training data, and writes ``summary.json`` plus an HTML report under
``--out/<time>/`` (the decision and its reasons first, then Evidently's drift report), appending
the summary to ``--out/history.jsonl``.

Exit status: 0 when no retraining is needed, 3 when retraining is recommended (so a shell or a
workflow can branch on it), 1 on an error. When ``$GITHUB_OUTPUT`` is set, the decision is also
written there as ``retrain``, ``drift_detected`` and ``report_dir``.

Each run is also published where people look over time: its Evidently snapshot goes to the
workspace (``--workspace``: a folder, default ``<state dir>/evidently``, or the URL of a running
Evidently UI; ``fraudops dashboard`` serves the folder) and its figures to MLflow (experiment
``fraudops-monitoring``, tagged with the champion's version). Publishing comes after the
decision is written: a workspace or MLflow failure is reported (``error: publishing ...`` and
``published.json`` in the report folder) and never changes the decision or the exit status.
Progress of the long steps goes to standard error (``--quiet``: none).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from fraudops.cli import CommandError
from fraudops.params import ParamsError, from_section, load_params

EXIT_RETRAIN = 3


def _reference(path: Path, rows: int, seed: int):
    from fraudops.data import load

    if not path.is_file():
        raise CommandError(
            f"reference data {path} not found: run the Level 1 pipeline (dvc repro) first, "
            "or pass --reference"
        )
    df = load(path)
    return df.sample(n=min(rows, len(df)), random_state=seed).reset_index(drop=True)


def run(args: argparse.Namespace) -> int:
    from fraudops import monitoring, registry
    from fraudops.predlog import PredictionLog
    from fraudops.schema import FEATURES
    from fraudops.step_progress import Steps

    try:
        section = load_params(args.params).get("monitor") if Path(args.params).is_file() else None
        params = from_section(monitoring.MonitorParams, section, "monitor")
    except (ParamsError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    if args.window:
        params = monitoring.MonitorParams(**{**params.__dict__, "window": args.window})
    workspace = _workspace_target(args)
    steps = Steps(quiet=args.quiet)

    started = time.perf_counter()
    with steps.step("reading the prediction log"):
        log = PredictionLog(args.log_url or default_log_url())
        since = time.time() - args.since if args.since else None
        window = log.window(last_n=None if since else params.window, since=since)
        log.close()
    if not args.quiet:
        print(f"window: {len(window):,} predictions from {log.url}", flush=True)

    champion_version = registry.version_of(registry.CHAMPION)
    if champion_version is None:
        raise CommandError("no @champion in the registry: nothing is being served to monitor")
    info = registry.version_info(champion_version)
    with steps.step(f"scoring the reference with the champion (v{champion_version})"):
        reference = _reference(Path(args.reference), params.reference_rows, params.seed)
        reference["score"] = registry.load_model(champion_version).predict_proba(
            reference[list(FEATURES)]
        )[:, 1]

    out = Path(args.out)
    history = monitoring.read_history(out / "history.jsonl")
    with steps.step("Evidently: drift, live quality, latency"):
        summary, drift_snapshot = monitoring.summarize(
            window, reference, monitoring.champion_offline_metrics(info), history, params
        )
        summary["champion_version"] = champion_version
        snapshot, snapshot_error = _run_snapshot(summary, window, drift_snapshot, params)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    # The decision is on disk before anything is published: nothing below can lose it.
    report_snapshot = drift_snapshot if snapshot is None or drift_snapshot is None else snapshot
    folder = monitoring.write_outputs(summary, report_snapshot, out, out / "history.jsonl")
    published = _publish(summary, snapshot, snapshot_error, workspace, folder, steps, args)
    (folder / "published.json").write_text(json.dumps(published, indent=2) + "\n")

    perf = summary["performance"]
    print(f"drift detected: {summary['drift_detected']}   retrain: {summary['retrain']}")
    if perf["recall"] is not None:
        print(
            f"live recall {perf['recall']:.3f}  precision {perf['precision']:.3f}  "
            f"AP {perf['average_precision']:.3f} on {perf['n_labels']:,} labels"
        )
    for reason in summary["reasons"]:
        print(f"  - {reason}")
    print(f"report: {folder}")
    for where, outcome in published.items():
        if "error" in outcome:
            print(
                f"error: publishing to {where} failed (the decision above stands, exit status "
                f"unchanged): {outcome['error']}",
                file=sys.stderr,
            )
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a") as fh:
            fh.write(f"retrain={str(summary['retrain']).lower()}\n")
            fh.write(f"drift_detected={str(summary['drift_detected']).lower()}\n")
            fh.write(f"report_dir={folder}\n")
            fh.write(f"reasons={json.dumps(summary['reasons'])}\n")
    return EXIT_RETRAIN if summary["retrain"] else 0


def _workspace_target(args: argparse.Namespace) -> str | None:
    """The Evidently workspace to publish to (``None``: ``--no-workspace``), checked early so a
    bad setting is named before the long steps run."""
    from fraudops import monitoring_workspace

    if args.no_workspace:
        return None
    target = args.workspace or monitoring_workspace.default_target()
    if not monitoring_workspace.is_remote(target):
        try:
            monitoring_workspace.check_local(target)
        except monitoring_workspace.WorkspaceError as exc:
            raise CommandError(
                f"{exc} (--workspace or ${monitoring_workspace.WORKSPACE_ENV})"
            ) from exc
    return target


def _run_snapshot(summary, window, drift_snapshot, params) -> tuple[Any, str | None]:
    """The run's Evidently snapshot, or ``(None, why)``: a failure here must not stop the
    decision from being written (the report then shows the drift snapshot alone)."""
    from fraudops import monitoring_snapshot

    try:
        return monitoring_snapshot.build(summary, window, drift_snapshot, params), None
    except Exception as exc:
        return None, f"building the Evidently snapshot: {type(exc).__name__}: {exc}"


def _publish(
    summary, snapshot, snapshot_error, workspace, folder, steps, args
) -> dict[str, dict[str, str]]:
    """Add the snapshot to the workspace and log the run to MLflow; each outcome (ids, or
    ``error``) is returned, none raised."""
    from fraudops import monitoring_mlflow, monitoring_workspace

    published: dict[str, dict[str, str]] = {}
    if workspace is not None:
        name = "the Evidently workspace"
        try:
            with steps.step(f"adding the snapshot to {name}"):
                if snapshot is None:
                    raise RuntimeError(snapshot_error)
                published["evidently"] = monitoring_workspace.add_snapshot(workspace, snapshot)
        except Exception as exc:
            published["evidently"] = {"workspace": workspace, "error": _describe(exc)}
    if not args.no_mlflow:
        try:
            with steps.step(f"logging to MLflow ({monitoring_mlflow.EXPERIMENT})"):
                published["mlflow"] = monitoring_mlflow.log_run(summary, report_dir=str(folder))
        except Exception as exc:
            published["mlflow"] = {"error": _describe(exc)}
    return published


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def default_log_url() -> str:
    """The prediction log the service writes: ``$FRAUDOPS_PREDICTION_LOG``, else SQLite in the
    state directory (the same default as the service)."""
    from fraudops import tracking

    return os.environ.get(
        "FRAUDOPS_PREDICTION_LOG", f"sqlite:///{tracking.state_dir() / 'predictions.sqlite'}"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fraudops monitor`` to the command line."""
    p = subparsers.add_parser(
        "monitor",
        help="drift, live precision/recall and latency on recent traffic; decide on retraining",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--window", type=int, help="last N predictions (default: monitor.window)")
    p.add_argument("--since", type=float, help="instead: predictions of the last SECONDS")
    p.add_argument(
        "--out", default=None, help="report folder (default: <state dir>/reports/monitoring)"
    )
    p.add_argument(
        "--reference",
        default="data/split/train.parquet",
        help="the champion's training data (default: %(default)s)",
    )
    p.add_argument("--log-url", help="prediction log URL (default: $FRAUDOPS_PREDICTION_LOG)")
    p.add_argument("--params", default="params.yaml", help="parameter file (section 'monitor')")
    p.add_argument(
        "--workspace",
        help="Evidently workspace for the run's snapshot: a folder, or the URL of a running "
        "Evidently UI (default: $FRAUDOPS_EVIDENTLY_WORKSPACE, else <state dir>/evidently)",
    )
    p.add_argument("--no-workspace", action="store_true", help="do not add the snapshot")
    p.add_argument("--no-mlflow", action="store_true", help="do not log the run to MLflow")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_run_with_defaults)


def _run_with_defaults(args: argparse.Namespace) -> int:
    if args.out is None:
        from fraudops import tracking

        args.out = str(tracking.state_dir() / "reports" / "monitoring")
    return run(args)
