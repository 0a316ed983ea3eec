"""The GitHub Actions workflows: what they promise, checked without running them.

What a maintainer relies on: each workflow fires on the events the README names; jobs depend on
each other in the documented order; monitor -> retrain -> cd are chained as reusable workflows;
the hygiene rules hold (read-only token, actions pinned to a commit, remote actions skipped under
act, no expression interpolated into a shell, no secrets, concurrency groups); act can plan every
workflow; actionlint finds nothing (when it is installed). The workflows are *run* under act by
test_act_chain.py and scripts/ci/act_chain.sh.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github/workflows"
NAMES = ("ci", "cd", "monitor", "retrain")
ACT = ROOT / ".venv/bin/act"
SHA = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / f"{name}.yml").read_text())


def triggers(wf: dict) -> dict:
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as True
    return {k: {} for k in on} if isinstance(on, list) else dict(on)


def steps(wf: dict):
    for job_id, job in wf["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def test_the_four_workflows_and_nothing_else():
    assert sorted(p.stem for p in WORKFLOWS.glob("*.y*ml")) == sorted(NAMES)


@pytest.mark.parametrize(
    ("name", "events"),
    [
        ("ci", {"push", "pull_request"}),
        ("cd", {"push", "workflow_call", "workflow_dispatch"}),
        ("monitor", {"schedule", "workflow_dispatch"}),
        ("retrain", {"workflow_dispatch", "workflow_call", "repository_dispatch"}),
    ],
)
def test_each_workflow_fires_on_its_events(name, events):
    assert set(triggers(load(name))) == events


def test_cd_fires_on_pushes_to_main_and_on_version_tags():
    push = triggers(load("cd"))["push"]
    assert push["branches"] == ["main"]
    assert push["tags"] == ["v*"]


def test_ci_jobs_run_in_the_documented_order():
    jobs = load("ci")["jobs"]
    order = ["lint", "tests", "pipeline", "quality-gate", "bento", "service-smoke"]
    assert list(jobs) == order
    for before, job in zip(order, order[1:], strict=False):
        needs = jobs[job]["needs"]
        assert before in ([needs] if isinstance(needs, str) else needs), job


def test_monitor_calls_retrain_only_on_a_retrain_decision_and_retrain_calls_cd():
    monitor = load("monitor")["jobs"]["retrain"]
    assert monitor["uses"] == "./.github/workflows/retrain.yml"
    assert "needs.monitor.outputs.retrain == 'true'" in monitor["if"]
    deploy = load("retrain")["jobs"]["deploy"]
    assert deploy["uses"] == "./.github/workflows/cd.yml"
    assert "needs.retrain.outputs.promoted == 'true'" in deploy["if"]
    assert deploy["with"]["model_version"] == "${{ needs.retrain.outputs.version }}"


def test_production_sits_behind_an_environment_after_staging():
    jobs = load("cd")["jobs"]
    assert jobs["production"]["environment"] == "production"
    assert "staging" in jobs["production"]["needs"]


@pytest.mark.parametrize("name", NAMES)
def test_the_token_is_read_only_everywhere(name):
    wf = load(name)
    assert wf["permissions"] == {"contents": "read"}
    for job in wf["jobs"].values():
        assert "write" not in str(job.get("permissions", {}))


@pytest.mark.parametrize("name", NAMES)
def test_no_secret_is_needed(name):
    assert "secrets." not in (WORKFLOWS / f"{name}.yml").read_text()


@pytest.mark.parametrize("name", NAMES)
def test_actions_are_pinned_to_a_commit_and_skipped_under_act_unless_checkout(name):
    for job_id, step in steps(load(name)):
        uses = step.get("uses")
        if not uses:
            continue
        assert SHA.match(uses), f"{name}/{job_id}: {uses} is not pinned to a commit SHA"
        if not uses.startswith("actions/checkout@"):
            assert "!env.ACT" in str(step.get("if", "")), f"{name}/{job_id}: {uses} runs under act"


@pytest.mark.parametrize("name", NAMES)
def test_no_expression_is_interpolated_into_a_shell_and_shell_logic_lives_in_scripts(name):
    for job_id, step in steps(load(name)):
        run = step.get("run")
        if run is None:
            continue
        assert "${{" not in run, f"{name}/{job_id}: pass values through env:, not into the script"
        assert len(run.strip().splitlines()) <= 3, f"{name}/{job_id}: move long logic to scripts/ci"
        for script in re.findall(r"scripts/ci/[\w.-]+", run):
            path = ROOT / script
            assert path.is_file(), f"{name}/{job_id}: {script} does not exist"
            if path.suffix == ".sh":
                assert os.access(path, os.X_OK), f"{script} is not executable"


def test_retrainings_and_deployments_never_overlap():
    for name, group in (("retrain", "fraudops-retrain"), ("cd", "fraudops-deploy")):
        concurrency = load(name)["concurrency"]
        assert concurrency == {"group": group, "cancel-in-progress": False}, name
    assert "concurrency" in load("ci") and "concurrency" in load("monitor")


@pytest.mark.parametrize("name", NAMES)
def test_every_job_has_a_timeout(name):
    for job_id, job in load(name)["jobs"].items():
        assert "uses" in job or job.get("timeout-minutes"), f"{name}/{job_id}"


@pytest.mark.skipif(not ACT.exists(), reason="act is not installed (make install)")
@pytest.mark.parametrize(
    ("name", "jobs"),
    [
        ("ci", ["lint", "tests", "pipeline", "quality-gate", "bento", "service-smoke"]),
        ("cd", ["build", "staging", "production"]),
        ("monitor", ["monitor", "retrain"]),
        ("retrain", ["retrain", "deploy"]),
    ],
)
def test_act_reads_every_workflow_and_stages_its_jobs_in_order(name, jobs):
    """`act --list` parses the workflow offline and stages the jobs in dependency order.

    (act's `--dryrun` is no dry run with host runners: it executes the steps, so the real runs
    are in test_act_chain.py.)
    """
    out = subprocess.run(
        [str(ACT), "--list", "-W", str(WORKFLOWS / f"{name}.yml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    staged = [line.split()[1] for line in out.stdout.splitlines() if re.match(r"^\d+\s", line)]
    assert staged == jobs


def _actionlint() -> str | None:
    here = Path(sys.executable).parent / "actionlint"
    return str(here) if here.exists() else shutil.which("actionlint")


@pytest.mark.skipif(
    _actionlint() is None,
    reason="actionlint is not installed (no registry package in requirements.lock yet)",
)
def test_actionlint_finds_nothing():
    out = subprocess.run(
        [_actionlint(), "-no-color"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
