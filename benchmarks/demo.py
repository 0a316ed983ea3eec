"""``make demo`` on full-size data: the whole maturity tour's wall time, step by step.

The tour (``fraudops demo``, see ``level2/demo.py``) generates 284,807 transactions, trains by
hand (Level 0), runs the DVC pipeline and the registry (Level 1), then builds and serves the
Bento, replays traffic with a concept drift, monitors, retrains on the labeled traffic, promotes
and reloads (Level 2). Goals (issue #13): under 8 minutes on a quiet machine and under 12 beside
one busy process (a Python child spinning on one of the 2 cores, as in ``benchmarks/contention.py``),
with live recall recovered both times. The two runs follow each other in one benchmark run, with
the machine's generator figure measured first.

It runs in a scratch copy of the project (``fraudops.scratch.copy_project``), so the checkout's
data, DVC lock and registry are left alone. ``$DEMO_SUMMARY`` names the ``summary.json`` of a
finished full-size run to record instead (for example the one a fresh clone's ``make demo``
wrote to ``var/demo/summary.json``); its wall time is then the sum of the steps.

    flock /tmp/fraudops-cpu.lock .venv/bin/python -m benchmarks demo   # about 20 minutes

``FRAUDOPS_DEMO_LOADS=quiet`` (or ``busy``) runs one of the two.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._results import table, write
from benchmarks.contention import BUSY
from benchmarks.generator import generator_seconds

ROOT = Path(__file__).resolve().parents[1]
#: Wall-time goal of each load (issue #13).
GOAL_SECONDS = {"quiet": 480.0, "busy": 720.0}
LOAD_TITLES = {"quiet": "quiet machine", "busy": "beside 1 busy process"}


def run_tour(*, quick: bool = False) -> tuple[dict[str, Any], float]:
    """Run ``fraudops demo`` (``--quick`` or full size) away from the checkout.

    Returns:
        The tour's ``summary.json`` and its wall seconds.
    """
    from fraudops.scratch import copy_project

    with tempfile.TemporaryDirectory() as tmp:
        if quick:  # --quick makes its own scratch copy under the work directory
            workdir = Path(tmp)
            summary = workdir / "var/demo-quick/var/demo/summary.json"
        else:
            workdir = copy_project(ROOT, Path(tmp) / "project", message="benchmark: make demo")
            summary = workdir / "var/demo/summary.json"
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        env.pop("FRAUDOPS_STATE_DIR", None)
        cmd = [sys.executable, "-m", "fraudops.cli", "demo", "--workdir", str(workdir)]
        start = time.perf_counter()
        proc = subprocess.run(
            cmd + (["--quick"] if quick else []), cwd=ROOT, env=env, capture_output=True, text=True
        )
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(
                f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
            )
        return json.loads(summary.read_text()), seconds


def one_load(load: str) -> dict[str, Any]:
    """One full-size tour on ``load`` ("quiet", or "busy": beside a spinning child); its figures."""
    load_start = os.getloadavg()[0]
    reuse = os.environ.get("DEMO_SUMMARY") if load == "quiet" else None
    spinner = subprocess.Popen([sys.executable, "-c", BUSY]) if load == "busy" else None
    try:
        if reuse:
            summary = json.loads(Path(reuse).read_text())
            seconds = sum(s for _, s in summary["timings"])
            source = f"recorded from `{Path(reuse).name}` (wall time = sum of steps)"
        else:
            print(f"full-size tour, {LOAD_TITLES[load]}...", flush=True)
            summary, seconds = run_tour()
            source = "run in a scratch copy of the project"
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    r = summary["results"]
    goal = GOAL_SECONDS[load]
    return {
        "load": load,
        "title": LOAD_TITLES[load],
        "seconds": round(seconds, 1),
        "goal_seconds": goal,
        "met": seconds < goal and bool(r["recovered"]),
        "steps": [{"step": title, "seconds": round(s, 1)} for title, s in summary["timings"]],
        "live_recall": r["live_recall"],
        "recovered": r["recovered"],
        "retrain": r["retrain"],
        "served_before": r["served_before"],
        "level0": r.get("level0"),
        "level1": r.get("level1"),
        "load_average": [load_start, os.getloadavg()[0]],
        "source": source,
    }


def report(figures: dict[str, Any]) -> str:
    runs = figures["runs"]
    rows = [
        {
            "load": run["title"],
            "seconds": run["seconds"],
            "goal": f"< {run['goal_seconds']:.0f} s",
            "met": "yes" if run["met"] else "**no**",
            "recovered": run["recovered"],
            "load average (start, end)": "{:.1f}, {:.1f}".format(*run["load_average"]),
        }
        for run in runs
    ]
    steps = [
        {"step": step["step"], **{run["title"]: run["steps"][i]["seconds"] for run in runs}}
        for i, step in enumerate(runs[0]["steps"])
    ]
    recall = "\n".join(
        f"- {run['title']}: live recall {run['live_recall']['before_drift']:.3f} before the drift, "
        f"{run['live_recall']['drifted_before_retraining']:.3f} on drifted traffic before "
        f"retraining, {run['live_recall']['drifted_after_retraining']:.3f} after retraining and "
        f"reload (recovered: {run['recovered']}); champion v{run['served_before']} -> "
        f"v{run['retrain']['champion']}."
        for run in runs
    )
    return f"""# `make demo`, full size (284,807 transactions)

Each tour {runs[0]["source"]}; 2 CPUs. Generator figure of this run:
{figures["generator_seconds"]:.2f} s (`python -m benchmarks generator`, the fraudops row).
"Beside 1 busy process": a Python child spinning on one core for the whole tour.

{table(rows, list(rows[0]), floatfmt=".1f")}

## Seconds per step

{table(steps, list(steps[0]), floatfmt=".1f")}

{recall}
"""


def main() -> None:
    wanted = os.environ.get("FRAUDOPS_DEMO_LOADS", "quiet busy").split()
    unknown = set(wanted) - set(GOAL_SECONDS)
    if unknown or not wanted:
        raise SystemExit(f"FRAUDOPS_DEMO_LOADS: {' '.join(sorted(unknown))!r}; use quiet, busy")
    print("the machine's speed figure (python -m benchmarks generator)...", flush=True)
    figures: dict[str, Any] = {"generator_seconds": generator_seconds()}
    figures["runs"] = [one_load(load) for load in GOAL_SECONDS if load in wanted]
    path = write("demo", figures, report(figures))
    for run in figures["runs"]:
        verdict = "met" if run["met"] else "MISSED"
        print(f"demo, {run['title']}: {run['seconds']:.0f}s ({verdict})", flush=True)
    print(f"wrote {path}", flush=True)
