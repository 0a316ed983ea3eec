"""The workflows, really run under act on small data: ci.yml, then monitor -> retrain -> cd.

scripts/ci/act_chain.sh runs them (about four minutes on two cores beside the other pytest
worker, benchmarks/results/test_suite.md) and records each step's exit status, wall time and
time limit; these tests read that record. They run when ``FRAUDOPS_ACT_TESTS=1`` (``.ci/run``
sets it); otherwise they skip, since the rest of ``make test`` already covers the same code
without act.

ci.yml's ``tests`` job runs pytest for real, on :data:`CI_TESTS` only: the ``make test`` that
runs this module runs the whole unit, data and model tiers in the same checkout already.
``make act`` runs the job's full selection.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.steps import run_steps

ROOT = Path(__file__).resolve().parents[2]
#: What ci.yml's ``tests`` job runs here: the CLI as installed in the job's checkout and the
#: promotion gate's properties (about 10 s, against 40 s for the three tiers).
CI_TESTS = "tests/unit/test_cli.py tests/unit/test_gate.py"
#: The chain's own step limits (scripts/ci/act_chain.sh) add up to 1,740 s; this is the last
#: resort if act_chain.sh itself hangs, and pytest-timeout's limit for this module is above it.
CHAIN_TIMEOUT = 1_900

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(CHAIN_TIMEOUT + 120),
    pytest.mark.skipif(
        os.environ.get("FRAUDOPS_ACT_TESTS") != "1",
        reason="set FRAUDOPS_ACT_TESTS=1 to run the workflows under act (make act, .ci/run)",
    ),
]


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> dict[str, dict]:
    state = tmp_path_factory.mktemp("act") / "state"
    env = {**os.environ, "FRAUDOPS_STATE_DIR": str(state), "FRAUDOPS_CI_TESTS": CI_TESTS}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = run_steps(
        [str(ROOT / "scripts/ci/act_chain.sh"), "all"], cwd=ROOT, env=env, timeout=CHAIN_TIMEOUT
    )
    print(proc.stdout[-6000:], proc.stderr[-3000:])
    results = state / "act-results.jsonl"
    assert results.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    steps = {}
    for line in results.read_text().splitlines():
        r = json.loads(line)
        steps[r["step"]] = r
    steps["_exit"] = {"status": proc.returncode, "state": str(state)}
    return steps


def _log(chain: dict, name: str) -> str:
    logs = Path(chain["_exit"]["state"]) / "act-logs"
    return (logs / name).read_text() if (logs / name).is_file() else ""


def test_ci_workflow_passes_every_job_under_act(chain):
    assert chain["ci.yml (pull_request)"]["status"] == 0, _log(chain, "ci-pull_request.log")[-4000:]
    log = _log(chain, "ci-pull_request.log")
    for job in ("lint", "tests", "pipeline", "quality-gate", "bento", "service-smoke"):
        assert f"[ci/{job}" in log and "Job failed" not in log, job
    assert chain["ci made a champion"]["status"] == 0


def test_the_tests_job_ran_pytest_on_its_selection_and_it_passed(chain):
    """The job ran real tests (the selection it was given) and nothing failed or errored."""
    log = re.sub(r"\x1b\[[0-9;]*m", "", _log(chain, "ci-pull_request.log"))  # act's colours
    tests_job = "\n".join(line for line in log.splitlines() if "[ci/tests]" in line)
    summary = re.search(r"=+ (\d+) passed(.*?) in [\d.]+s", tests_job)
    assert summary, tests_job[-3000:]
    assert int(summary.group(1)) >= 20
    assert "failed" not in summary.group(2) and "error" not in summary.group(2)


def test_every_step_finished_within_its_time_limit(chain):
    steps = {name: r for name, r in chain.items() if r.get("limit")}
    assert len(steps) == 7, sorted(steps)  # every workflow run, replay and service start/stop
    late = {name: (r["seconds"], r["limit"]) for name, r in steps.items() if r["timed_out"]}
    assert not late, f"steps stopped at their limit (seconds, limit): {late}"


def test_pull_request_summary_carries_the_metrics_diff(chain):
    assert "dvc metrics diff main" in _log(chain, "ci-pull_request.log")


def test_one_production_service_serves_both_replays_and_stops_cleanly(chain):
    for step in ("production service: start", "traffic: clean", "traffic: drifted"):
        assert chain[step]["status"] == 0, step
    assert chain["production service: stop"]["status"] == 0  # stopped by SIGTERM, not SIGKILL
    service_log = (Path(chain["_exit"]["state"]) / "traffic-service.log").read_text()
    assert "Completed cleanup hook: close" in service_log  # the prediction log was flushed


def test_clean_traffic_leads_to_no_retraining(chain):
    assert chain["monitor.yml on a clean log"]["status"] == 0
    assert "retrain/retrain" not in _log(chain, "monitor-workflow_dispatch.log")
    assert chain["clean: no retraining"]["status"] == 0


def test_drifted_traffic_ends_with_a_new_champion_in_production(chain):
    step = "monitor.yml on a drifted log (-> retrain.yml -> cd.yml)"
    assert chain[step]["status"] == 0, _log(chain, "monitor-workflow_dispatch-2.log")[-4000:]
    log = _log(chain, "monitor-workflow_dispatch-2.log")
    for job in ("monitor/monitor", "retrain/retrain", "cd/build", "cd/staging", "cd/production"):
        assert job in log, job
    assert chain["drift: new champion in production"]["status"] == 0


def test_the_whole_chain_exits_zero(chain):
    assert chain["_exit"]["status"] == 0
