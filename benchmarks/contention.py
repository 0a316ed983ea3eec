"""``train_custom`` under contention: alone and beside one busy process, before and after idle
OpenMP threads were made to sleep (issue #13, item 7; ``shared/fraudops/__init__.py``).

Four cells, in the same run: the Level 1 stage ``train_custom`` (``dvc repro --force
--single-item train_custom``, the committed ``params.yaml``) alone and beside one busy process
(a Python child spinning on one core), each with

* **before**: libgomp's default wait, which every process had before this change: idle threads
  spin ``GOMP_SPINCOUNT`` = 300,000 turns before they sleep. It is run with an empty
  ``OMP_WAIT_POLICY``, which fraudops keeps as a value the user set and libgomp reads as unset
  (it prints "Invalid value for environment variable OMP_WAIT_POLICY" once per runtime);
* **after**: ``OMP_WAIT_POLICY=PASSIVE``, the default fraudops now sets.

Each cell's runtime settings are read back from libgomp itself (``OMP_DISPLAY_ENV``), so the
table shows the spin count that really applied. The cells are interleaved, one round at a time
in a rotating order, so a change in the machine's load falls on all of them; the figure is the
median of the rounds, with the CPU seconds the stage used (a spinning thread shows there), and
the ratios are taken within the run. The generator benchmark's figure (best of 3, 284,807 rows)
is measured in the same run, to place the machine's speed.

Runs in a scratch copy (``var/bench/contention``: its own git repository, DVC cache and MLflow
store); ingest, validate and split run once first, untimed.

    python -m benchmarks contention         # full size (284,807 rows), 3 rounds: about 20-40 min

``FRAUDOPS_CONTENTION_ROWS`` and ``FRAUDOPS_CONTENTION_ROUNDS`` make it small, to check the code
(for example 20000 and 1, about 3 minutes); a run at another size than the full one writes its
results under ``var/bench/contention/results/``, never over the committed ones.
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from fraudops.schema import FULL_ROWS

from benchmarks._results import RESULTS, table, write
from benchmarks.generator import generator_seconds

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORK = ROOT / "var/bench/contention"
ROWS = int(os.environ.get("FRAUDOPS_CONTENTION_ROWS", FULL_ROWS))
ROUNDS = int(os.environ.get("FRAUDOPS_CONTENTION_ROUNDS", "3"))
PREPARE = ("ingest", "validate", "split")
STAGE = "train_custom"
#: The wait policies compared: the value ``OMP_WAIT_POLICY`` has in the stage's environment.
POLICIES = {"before (libgomp default)": "", "after (PASSIVE)": "PASSIVE"}
LOADS = ("alone", "beside 1 busy process")
BUSY = "while True: pass"


def runtime_settings(env: dict[str, str]) -> str:
    """The spin count libgomp reports it runs with under ``env`` (every runtime loaded)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import fraudops, lightgbm, sklearn.ensemble"],
        env={**env, "OMP_DISPLAY_ENV": "VERBOSE"},
        capture_output=True,
        text=True,
        check=True,
    )
    # Only the spin count tells the two apart: libgomp names an unset policy PASSIVE as well.
    spins = {int(n) for n in re.findall(r"GOMP_SPINCOUNT = '(\d+)'", proc.stderr)}
    return " / ".join(f"{n:,}" for n in sorted(spins)) or "?"


def run_stage(env: dict[str, str], busy: bool) -> tuple[float, float]:
    """Run ``train_custom`` once (beside a spinning child if ``busy``); wall and CPU seconds."""
    spinner = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
    try:
        if spinner is not None:
            time.sleep(0.5)  # let it start spinning
        cmd = [str(BIN / "dvc"), "repro", "--force", "--single-item", STAGE]
        print("$ " + " ".join(cmd) + (" (beside a busy process)" if busy else ""), flush=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, cwd=WORK, env=env, check=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the spinner is not reaped yet
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    return wall, cpu


def main() -> None:
    from level2.demo import scratch_project

    small = ROWS != FULL_ROWS
    # Small data keeps enough frauds in every split (as `fraudops demo --quick` does).
    params = {"ingest": {"rows": ROWS, **({"fraud_rate": 0.02} if small else {})}}
    scratch_project(WORK, params)
    base = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "FRAUDOPS_STATE_DIR": str(WORK / "var"),
        "DVC_NO_ANALYTICS": "1",
    }
    base.pop("MLFLOW_TRACKING_URI", None)
    base.pop("GOMP_SPINCOUNT", None)

    generator = generator_seconds()
    for stage in PREPARE:
        subprocess.run(
            [str(BIN / "dvc"), "repro", "--single-item", stage], cwd=WORK, env=base, check=True
        )

    cells = [(policy, load) for load in LOADS for policy in POLICIES]
    envs = {policy: {**base, "OMP_WAIT_POLICY": value} for policy, value in POLICIES.items()}
    settings = {policy: runtime_settings(env) for policy, env in envs.items()}
    times: dict[tuple[str, str], list[tuple[float, float]]] = {cell: [] for cell in cells}
    load_before = os.getloadavg()[0]
    for r in range(ROUNDS):
        for policy, load in cells[r % len(cells) :] + cells[: r % len(cells)]:
            times[policy, load].append(run_stage(envs[policy], busy=load != LOADS[0]))
    load_after = os.getloadavg()[0]

    def median(cell: tuple[str, str], i: int = 0) -> float:
        return statistics.median(t[i] for t in times[cell])

    reference = median((next(iter(POLICIES)), LOADS[0]))
    rows = [
        {
            "policy": policy,
            "libgomp spin count": settings[policy],
            "load": load,
            "seconds (median)": median((policy, load)),
            "range": f"{min(t[0] for t in times[policy, load]):.1f}-"
            f"{max(t[0] for t in times[policy, load]):.1f}",
            "CPU s": median((policy, load), 1),
            "x alone, before": median((policy, load)) / reference,
        }
        for policy, load in cells
    ]
    before, after = POLICIES
    ratios = {
        "busy / alone, before": median((before, LOADS[1])) / median((before, LOADS[0])),
        "busy / alone, after": median((after, LOADS[1])) / median((after, LOADS[0])),
        "after / before, alone": median((after, LOADS[0])) / median((before, LOADS[0])),
        "after / before, busy": median((after, LOADS[1])) / median((before, LOADS[1])),
    }
    note = f"**Small run ({ROWS:,} rows): checks the code; not a result.**\n\n" if small else ""
    markdown = "\n".join(
        [
            "# `train_custom` under contention: OpenMP threads that spin or sleep",
            "",
            note
            + f"`dvc repro --force --single-item {STAGE}` on {ROWS:,} generated rows, committed "
            f"`params.yaml`; median of {ROUNDS} interleaved round(s). Busy process: one Python "
            f"child spinning on one core. Generator benchmark in the same run: {generator:.2f} s "
            f"(284,807 rows, best of 3). 1-minute load average {load_before:.1f} before, "
            f"{load_after:.1f} after ({os.cpu_count()} CPUs).",
            "",
            table(rows, list(rows[0]), floatfmt=".2f"),
            "",
            table(
                [{"ratio": k, "x": v} for k, v in ratios.items()], ["ratio", "x"], floatfmt=".2f"
            ),
        ]
    )
    figures = {
        "rows": ROWS,
        "rounds": ROUNDS,
        "generator_seconds": round(generator, 3),
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "runtime": settings,
        "cells": [
            {
                "policy": policy,
                "load": load,
                "seconds": [round(t[0], 2) for t in times[policy, load]],
                "cpu_seconds": [round(t[1], 2) for t in times[policy, load]],
                "median_seconds": round(median((policy, load)), 2),
            }
            for policy, load in cells
        ],
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
    }
    md = write("contention", figures, markdown, where=WORK / "results" if small else RESULTS)
    print(markdown, flush=True)
    print(f"written to {md}", flush=True)


if __name__ == "__main__":
    main()
