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
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fraudops.schema import FULL_FRAUD_RATE, FULL_ROWS

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: What ``--quick`` changes in params.yaml: small data and budgets, same pipeline.
QUICK_PARAMS = {
    "ingest": {"rows": 20_000, "fraud_rate": 0.01},
    "train_custom": {"n_iter": 2, "cv_folds": 3},
    "train_automl": {"time_budget": 8, "cv_folds": 3},
}


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

    @property
    def env(self) -> dict[str, str]:
        """The tools' environment: this project's state folder and virtualenv, offline."""
        env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "FRAUDOPS_STATE_DIR": str(self.workdir / "var"),
            "DVC_NO_ANALYTICS": "1",
            "BENTOML_DO_NOT_TRACK": "true",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        }
        env.pop("MLFLOW_TRACKING_URI", None)  # the state folder's SQLite store
        return env

    def run(self, *cmd: str, ok: tuple[int, ...] = (0,)) -> str:
        """Run a command in the work directory, streaming its output; fail the tour on error."""
        print("$ " + " ".join(str(c) for c in cmd), flush=True)
        proc = subprocess.Popen(
            [str(c) for c in cmd],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            print("  " + line, end="", flush=True)
            lines.append(line)
        if proc.wait() not in ok:
            raise SystemExit(
                f"demo step failed: {' '.join(map(str, cmd))} (exit {proc.returncode})"
            )
        return "".join(lines)

    def json(self, relative: str) -> Any:
        return json.loads((self.workdir / relative).read_text())


def level0(tour: Tour) -> None:
    """Level 0: generate data, train by hand, hand the file over, score a batch with it."""
    data = tour.scratch / "transactions.csv"
    model = tour.scratch / "level0-model.joblib"
    tour.run(
        BIN / "fraudops",
        "data",
        "generate",
        "--rows",
        str(tour.rows),
        "--seed",
        "0",
        "--fraud-rate",
        str(tour.fraud_rate),
        "--out",
        data,
    )
    tour.run(sys.executable, str(ROOT / "level0/train.py"), str(data), "--out", str(model))
    tour.run(
        sys.executable,
        str(ROOT / "level0/predict.py"),
        str(data),
        "--out",
        str(tour.scratch / "scored.csv"),
        "--model",
        str(model),
    )
    import joblib

    tour.results["level0"] = joblib.load(model)["metrics"]


def level1(tour: Tour) -> None:
    """Level 1: the DVC pipeline trains, compares custom ML with AutoML, and registers."""
    # Accepted batches live here; DVC versions the folder, but a fresh clone has no empty one.
    (tour.workdir / "data/batches").mkdir(parents=True, exist_ok=True)
    tour.run(BIN / "dvc", "repro")
    tour.run(BIN / "dvc", "metrics", "show")
    tour.run(BIN / "fraudops", "registry", "list")
    metrics = tour.json("reports/metrics.json")
    tour.results["level1"] = metrics[metrics["winner"]]
    tour.results["level1_champion"] = tour.json("reports/registration.json")["champion_after"]


def level1_ct(tour: Tour) -> None:
    """Level 1: new data arrives; the continuous-training trigger retrains by itself."""
    incoming = tour.workdir / "data/incoming"
    rows = max(5_000, tour.rows // 10)
    tour.run(
        BIN / "fraudops",
        "data",
        "generate",
        "--rows",
        str(rows),
        "--seed",
        "1",
        "--fraud-rate",
        str(tour.fraud_rate),
        "--start-time",
        "172800",
        "--out",
        incoming / "batch-0001.csv",
    )
    tour.run(BIN / "fraudops", "ct", "--once")
    tour.run(BIN / "fraudops", "registry", "log")
    registration = tour.json("reports/registration.json")
    tour.results["level1_ct"] = {
        "new_version": registration["version"],
        "champion": registration["champion_after"],
        "decision": registration["decision"]["action"],
        "reason": registration["decision"]["reason"],
    }


STEPS: list[tuple[str, Callable[[Tour], None]]] = [
    ("Level 0: manual scripts and a model file handed over", level0),
    ("Level 1: dvc repro, MLflow tracking and the model registry", level1),
    ("Level 1: a new batch of data triggers retraining (fraudops ct)", level1_ct),
]


def summary(tour: Tour) -> str:
    """The closing table: the headline metrics by level and the time each step took."""
    lines = [
        "",
        "=== Summary",
        f"{'level':<10}{'AP':>8}{'ROC-AUC':>9}{'precision':>11}{'recall':>8}",
    ]
    for level in ("level0", "level1"):
        if level not in tour.results:
            continue
        m = tour.results[level]
        lines.append(
            f"{level:<10}{m['average_precision']:>8.3f}{m['roc_auc']:>9.4f}"
            f"{m['precision']:>11.3f}{m['recall']:>8.3f}"
        )
    if "level1_ct" in tour.results:
        ct = tour.results["level1_ct"]
        lines.append(
            f"continuous training: version {ct['new_version']} -> {ct['decision']} "
            f"(champion v{ct['champion']}): {ct['reason']}"
        )
    lines.append("")
    lines += [f"{seconds:7.1f}s  {title}" for title, seconds in tour.timings]
    lines.append(f"{sum(s for _, s in tour.timings):7.1f}s  in all")
    return "\n".join(lines)


def scratch_project(dest: Path, params: dict[str, dict[str, Any]]) -> Path:
    """Copy the project's files (as git sees them) to ``dest`` as a fresh git repo.

    ``--quick`` runs there, so small-data runs never touch the real checkout's data, DVC lock
    or registry.
    """
    import yaml

    if dest.exists():
        shutil.rmtree(dest)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    values = yaml.safe_load((dest / "params.yaml").read_text())
    for section, overrides in params.items():
        values[section].update(overrides)
    (dest / "params.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    for cmd in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        [
            "git",
            "-c",
            "user.name=fraudops demo",
            "-c",
            "user.email=demo@example.com",
            "commit",
            "-q",
            "-m",
            "scratch copy for fraudops demo --quick",
        ],
    ):
        subprocess.run(cmd, cwd=dest, check=True, capture_output=True)
    return dest


def run_demo(workdir: Path, *, quick: bool) -> Tour:
    """Run every step of the tour in ``workdir`` and return what it found."""
    rows, fraud_rate = (20_000, 0.01) if quick else (FULL_ROWS, FULL_FRAUD_RATE)
    tour = Tour(workdir=workdir, rows=rows, fraud_rate=fraud_rate, quick=quick)
    tour.scratch.mkdir(parents=True, exist_ok=True)
    print(
        f"fraudops demo: {rows:,} transactions, {'quick' if quick else 'full size'}, in {workdir}"
    )
    for title, fn in STEPS:
        tour.step(title, fn)
    print(summary(tour))
    (tour.scratch / "summary.json").write_text(
        json.dumps({"results": tour.results, "timings": tour.timings}, indent=2, default=float)
    )
    return tour


def _cmd(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    if args.quick:
        workdir = scratch_project(workdir / "var" / "demo-quick", QUICK_PARAMS)
    run_demo(workdir, quick=args.quick)
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
    p.add_argument(
        "--workdir",
        default=str(ROOT),
        help="project folder to run in (default: this checkout; --quick copies it to "
        "WORKDIR/var/demo-quick first)",
    )
    p.set_defaults(func=_cmd)
