"""Small, testable helpers the workflows call: job outputs, step summaries and the quality gate.

    python scripts/ci/report.py pipeline METRICS REGISTRATION   outputs: average_precision, winner,
                                                                version, champion
    python scripts/ci/report.py gate AP [--params params.yaml]  exit 1 below quality_gate floor
    python scripts/ci/report.py champion                        outputs: version (of @champion)

Outputs go to ``$GITHUB_OUTPUT`` and a markdown table to ``$GITHUB_STEP_SUMMARY`` when set (and
to stdout always), so the same commands work by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml


def output(**values: Any) -> None:
    for key, value in values.items():
        print(f"{key}={value}")
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a") as fh:
            fh.writelines(f"{key}={value}\n" for key, value in values.items())


def summary(markdown: str) -> None:
    print(markdown)
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a") as fh:
            fh.write(markdown.rstrip() + "\n\n")


def pipeline(args: argparse.Namespace) -> int:
    metrics = json.loads(Path(args.metrics).read_text())
    registration = json.loads(Path(args.registration).read_text())
    winner = metrics["winner"]
    rows = [
        f"| {name}{' (winner)' if name == winner else ''} | {m['average_precision']:.4f} "
        f"| {m['roc_auc']:.4f} | {m['precision']:.3f} | {m['recall']:.3f} |"
        for name, m in metrics.items()
        if isinstance(m, dict) and "average_precision" in m
    ]
    decision = registration.get("decision") or {}
    summary(
        "### Pipeline smoke test (`dvc repro`, small data)\n\n"
        "| candidate | AP | ROC-AUC | precision | recall |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nregistered version {registration.get('version')}; @champion is now "
        f"v{registration.get('champion_after')} ({decision.get('reason', 'no reason given')})"
    )
    output(
        average_precision=f"{metrics[winner]['average_precision']:.6f}",
        winner=winner,
        version=registration.get("version"),
        champion=registration.get("champion_after"),
    )
    return 0


def gate(args: argparse.Namespace) -> int:
    params = yaml.safe_load(Path(args.params).read_text()) or {}
    floor = (params.get("quality_gate") or {}).get("min_average_precision")
    if floor is None:
        print(f"{args.params} has no quality_gate.min_average_precision: nothing to gate against")
        return 1
    ap = float(args.ap)
    passed = ap >= float(floor)
    summary(
        f"### Model quality gate: {'passed' if passed else 'FAILED'}\n\n"
        f"average precision on the holdout {ap:.4f} {'>=' if passed else '<'} floor {floor}"
    )
    return 0 if passed else 1


def champion(args: argparse.Namespace) -> int:
    from fraudops import registry

    version = registry.version_of(registry.CHAMPION)
    if version is None:
        print("no @champion in the registry: train and register a model first (dvc repro)")
        return 1
    output(version=version)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(required=True)
    p = sub.add_parser("pipeline")
    p.add_argument("metrics")
    p.add_argument("registration")
    p.set_defaults(func=pipeline)
    p = sub.add_parser("gate")
    p.add_argument("ap")
    p.add_argument("--params", default="params.yaml")
    p.set_defaults(func=gate)
    p = sub.add_parser("champion")
    p.set_defaults(func=champion)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
