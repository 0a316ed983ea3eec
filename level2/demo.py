"""``fraudops demo``: the whole maturity tour, offline, on embedded defaults.

The tour runs each level the way its users would: Level 0 by hand-run scripts, Level 1 through
DVC and the MLflow registry, Level 2 through the BentoML service, monitoring and retraining.
Each step prints what it does and how long it took; the tour ends with a summary table.

``--quick`` runs the same steps on small data in a scratch copy of the project, for the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fraudops.schema import FULL_FRAUD_RATE, FULL_ROWS

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Tour:
    """What the tour runs on and what it found, step by step."""

    workdir: Path
    rows: int
    fraud_rate: float
    quick: bool
    results: dict[str, Any] = field(default_factory=dict)
    timings: list[tuple[str, float]] = field(default_factory=list)

    @property
    def scratch(self) -> Path:
        return self.workdir / "var" / "demo"

    def step(self, title: str, fn: Callable[[Tour], None]) -> None:
        """Run one step with a banner and its wall time."""
        print(f"\n=== {title}", flush=True)
        start = time.perf_counter()
        fn(self)
        seconds = time.perf_counter() - start
        self.timings.append((title, seconds))
        print(f"--- {title}: {seconds:.1f}s", flush=True)

    def run(self, *cmd: str, env: dict[str, str] | None = None) -> str:
        """Run a command in the work directory, echoing its output; fail the tour on error."""
        print("$ " + " ".join(cmd), flush=True)
        proc = subprocess.run(
            cmd, cwd=self.workdir, env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
        )
        print(proc.stdout, end="", flush=True)
        if proc.returncode != 0:
            raise SystemExit(f"demo step failed: {' '.join(cmd)} (exit {proc.returncode})")
        return proc.stdout


def level0(tour: Tour) -> None:
    """Level 0: generate data, train by hand, hand the file over, score a batch with it."""
    data = tour.scratch / "transactions.csv"
    model = tour.scratch / "level0-model.joblib"
    tour.run(
        sys.executable, "-m", "fraudops.cli", "data", "generate", "--rows", str(tour.rows),
        "--seed", "0", "--fraud-rate", str(tour.fraud_rate), "--out", str(data),
    )
    tour.run(sys.executable, str(ROOT / "level0/train.py"), str(data), "--out", str(model))
    tour.run(
        sys.executable, str(ROOT / "level0/predict.py"), str(data),
        "--out", str(tour.scratch / "scored.csv"), "--model", str(model),
    )
    import joblib

    tour.results["level0"] = joblib.load(model)["metrics"]


STEPS: list[tuple[str, Callable[[Tour], None]]] = [
    ("Level 0: manual scripts and a model file handed over", level0),
]


def summary(tour: Tour) -> str:
    """The closing table: the headline metrics by level and the time each step took."""
    lines = ["", "=== Summary", f"{'level':<10}{'AP':>8}{'ROC-AUC':>9}{'precision':>11}{'recall':>8}"]
    for level, m in tour.results.items():
        lines.append(
            f"{level:<10}{m['average_precision']:>8.3f}{m['roc_auc']:>9.4f}"
            f"{m['precision']:>11.3f}{m['recall']:>8.3f}"
        )
    lines.append("")
    lines += [f"{seconds:7.1f}s  {title}" for title, seconds in tour.timings]
    lines.append(f"{sum(s for _, s in tour.timings):7.1f}s  in all")
    return "\n".join(lines)


def run_demo(workdir: Path, *, quick: bool) -> Tour:
    """Run every step of the tour in ``workdir`` and return what it found."""
    rows, fraud_rate = (20_000, 0.01) if quick else (FULL_ROWS, FULL_FRAUD_RATE)
    tour = Tour(workdir=workdir, rows=rows, fraud_rate=fraud_rate, quick=quick)
    tour.scratch.mkdir(parents=True, exist_ok=True)
    print(f"fraudops demo: {rows:,} transactions, {'quick' if quick else 'full size'}, in {workdir}")
    for title, fn in STEPS:
        tour.step(title, fn)
    print(summary(tour))
    (tour.scratch / "summary.json").write_text(
        json.dumps({"results": tour.results, "timings": tour.timings}, indent=2, default=float)
    )
    return tour


def _cmd(args: argparse.Namespace) -> int:
    run_demo(Path(args.workdir).resolve(), quick=args.quick)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fraudops demo`` to the command line."""
    p = subparsers.add_parser(
        "demo",
        help="run the whole maturity tour (Level 0 -> 1 -> 2), offline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="small data (seconds, for tests)")
    p.add_argument("--workdir", default=".", help="project folder to run in (default: here)")
    p.set_defaults(func=_cmd)
