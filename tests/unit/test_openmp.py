"""Idle OpenMP threads sleep in every process that trains or scores (issue #13, item 7).

libgomp reads ``OMP_WAIT_POLICY`` once, when scikit-learn or LightGBM loads it; importing
``fraudops`` sets the default (``shared/fraudops/__init__.py`` has the measured reason). What a
user relies on: whichever entry point they start, with nothing set in their environment, the
OpenMP runtimes in that process really run passive (libgomp's own report of its settings,
``OMP_DISPLAY_ENV``, shows a spin count of 0), and its idle worker threads use no CPU between
parallel regions; a value they set themselves is kept; ``fraudops serve`` and the Bento hand the
same setting to the BentoML workers.

Each case starts a fresh interpreter (about 1-2 s): the setting only counts before the runtime
loads, so it cannot be checked in this process, where the test session has long loaded it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

#: The entry points that train or score, as a user starts them: the console script's module,
#: the Level 0 scripts, Level 1 stages (``python -m level1.stages.NAME`` under DVC), the demo and
#: the BentoML service module its workers import. Every ``level1``/``level2`` module comes
#: through its package's ``__init__``, so one or two of each stand for the rest.
ENTRY_POINTS = (
    "fraudops.cli",
    "level0/train.py",
    "level0/predict.py",
    "level1.stages.train_custom",
    "level1.stages.train_automl",
    "level2.demo",
    "level2.retrain",
    "level2.service.service",
)

#: Runs in the child: import the entry point (a script's imports only, not its main), then load
#: both OpenMP users, then measure what the idle worker threads of LightGBM's runtime cost
#: between short parallel regions (``/proc/self/task/*/schedstat``: nanoseconds on a CPU per
#: thread; the main thread is left out, so its own work and sleeps do not count).
PROBE = r"""
import importlib, json, os, runpy, sys, time

entry = sys.argv[1]
if entry.endswith(".py"):
    runpy.run_path(entry, run_name="openmp_probe")
else:
    importlib.import_module(entry)
import lightgbm, numpy as np, sklearn.ensemble  # noqa: E401


def workers_cpu_ns():
    total = 0
    for tid in os.listdir("/proc/self/task"):
        if int(tid) != os.getpid():
            try:
                with open(f"/proc/self/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass
    return total


rng = np.random.default_rng(0)
X = rng.normal(size=(2_000, 8))
model = lightgbm.LGBMClassifier(n_estimators=3, n_jobs=2, verbose=-1).fit(X, X[:, 0] > 0)
gaps = 10
before = workers_cpu_ns()
for _ in range(gaps):
    model.predict_proba(X)  # one short parallel region, then 20 ms of nothing to do
    time.sleep(0.02)
idle_ms = (workers_cpu_ns() - before) / 1e6 / gaps
print(json.dumps({"environ": os.environ.get("OMP_WAIT_POLICY"), "idle_ms_per_gap": idle_ms}))
"""

BLOCK = re.compile(r"OPENMP DISPLAY ENVIRONMENT BEGIN(.*?)OPENMP DISPLAY ENVIRONMENT END", re.S)
#: An idle gap costs a sleeping worker its wake-up only (about 0.1 ms measured here); libgomp's
#: default spin costs about 4 ms, ACTIVE the whole 20 ms.
SLEEPS_MS = 1.0


def user_env(**set_: str) -> dict[str, str]:
    """This environment as a user's shell would have it: no OpenMP setting but ``set_``."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    return {**env, **set_}


def probe(entry: str, **set_: str) -> tuple[dict, list[dict[str, str]]]:
    """Run :data:`PROBE` for ``entry``; return its report and every OpenMP runtime's settings."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, entry],
        cwd=ROOT,
        env=user_env(OMP_DISPLAY_ENV="VERBOSE", **set_),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runtimes = [
        dict(re.findall(r"^\s*(OMP_WAIT_POLICY|GOMP_SPINCOUNT) = '([^']*)'", block, re.M))
        for block in BLOCK.findall(proc.stderr)
    ]
    assert runtimes, f"{entry}: no OpenMP runtime reported its settings:\n{proc.stderr[-2000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), runtimes


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_runs_openmp_passive_when_the_user_set_nothing(entry):
    report, runtimes = probe(entry)
    assert report["environ"] == "PASSIVE"
    # libgomp's default also reports OMP_WAIT_POLICY 'PASSIVE', but spins 300,000 turns: only a
    # spin count of 0 means the setting was in place when this runtime loaded.
    for runtime in runtimes:
        assert runtime == {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "0"}, (entry, runtimes)
    assert report["idle_ms_per_gap"] < SLEEPS_MS, report


def test_a_policy_the_user_set_is_kept():
    report, runtimes = probe("level1.stages.train_custom", OMP_WAIT_POLICY="ACTIVE")
    assert report["environ"] == "ACTIVE"
    assert all(r["OMP_WAIT_POLICY"] == "ACTIVE" for r in runtimes), runtimes
    # The probe can tell: spinning workers burn CPU through the idle gaps.
    assert report["idle_ms_per_gap"] > SLEEPS_MS, report


SERVE_ENV = r"""
import argparse, json
from level2.serve import command

args = argparse.Namespace(
    bento=None, host="127.0.0.1", port=3000, no_batching=False, reload_interval=None, workers=None
)
print(json.dumps(command(args)[1].get("OMP_WAIT_POLICY")))
"""


@pytest.mark.parametrize(
    ("set_", "expected"), [({}, "PASSIVE"), ({"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE")]
)
def test_fraudops_serve_hands_the_policy_to_bentoml(set_, expected):
    out = subprocess.run(
        [sys.executable, "-c", SERVE_ENV],
        cwd=ROOT,
        env=user_env(**set_),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert json.loads(out) == expected


def test_the_bento_sets_the_policy_for_its_workers():
    import fraudops

    envs = yaml.safe_load((ROOT / "level2/bentofile.yaml").read_text())["envs"]
    assert {"name": "OMP_WAIT_POLICY", "value": fraudops.OMP_WAIT_POLICY} in envs
