"""``fraudops monitor``: judge the latest window of production traffic.

Reads the last N predictions (or the last S seconds) from the prediction log, compares them with
the champion's training data, and writes ``summary.json`` plus an HTML report under
``--out/<time>/`` (the decision and its reasons first, then Evidently's drift report), appending
the summary to ``--out/history.jsonl``.

Exit status: 0 when no retraining is needed, 3 when retraining is recommended (so a shell or a
workflow can branch on it), 1 on an error. When ``$GITHUB_OUTPUT`` is set, the decision is also
written there as ``retrain``, ``drift_detected`` and ``report_dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

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

    try:
        section = load_params(args.params).get("monitor") if Path(args.params).is_file() else None
        params = from_section(monitoring.MonitorParams, section, "monitor")
    except (ParamsError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    if args.window:
        params = monitoring.MonitorParams(**{**params.__dict__, "window": args.window})

    started = time.perf_counter()
    log = PredictionLog(args.log_url or default_log_url())
    since = time.time() - args.since if args.since else None
    window = log.window(last_n=None if since else params.window, since=since)
    log.close()
    print(f"window: {len(window):,} predictions from {log.url}", flush=True)

    champion_version = registry.version_of(registry.CHAMPION)
    if champion_version is None:
        raise CommandError("no @champion in the registry: nothing is being served to monitor")
    info = registry.version_info(champion_version)
    reference = _reference(Path(args.reference), params.reference_rows, params.seed)
    reference["score"] = registry.load_model(champion_version).predict_proba(
        reference[list(FEATURES)]
    )[:, 1]

    out = Path(args.out)
    history = monitoring.read_history(out / "history.jsonl")
    summary, snapshot = monitoring.summarize(
        window, reference, monitoring.champion_offline_metrics(info), history, params
    )
    summary["champion_version"] = champion_version
    summary["seconds"] = round(time.perf_counter() - started, 2)
    folder = monitoring.write_outputs(summary, snapshot, out, out / "history.jsonl")

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
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a") as fh:
            fh.write(f"retrain={str(summary['retrain']).lower()}\n")
            fh.write(f"drift_detected={str(summary['drift_detected']).lower()}\n")
            fh.write(f"report_dir={folder}\n")
            fh.write(f"reasons={json.dumps(summary['reasons'])}\n")
    return EXIT_RETRAIN if summary["retrain"] else 0


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
    p.set_defaults(func=_run_with_defaults)


def _run_with_defaults(args: argparse.Namespace) -> int:
    if args.out is None:
        from fraudops import tracking

        args.out = str(tracking.state_dir() / "reports" / "monitoring")
    return run(args)
