"""The workflows, really run under act on small data: ci.yml, then monitor -> retrain -> cd.

scripts/ci/act_chain.sh runs them (about five minutes on two cores, see level2/README.md) and
records each step's exit status; these tests read that record. They run when
``FRAUDOPS_ACT_TESTS=1`` (``.ci/run`` and ``make act`` set it); otherwise they skip, since the
rest of ``make test`` already covers the same code without act.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("FRAUDOPS_ACT_TESTS") != "1",
        reason="set FRAUDOPS_ACT_TESTS=1 to run the workflows under act (make act, .ci/run)",
    ),
]


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> dict[str, dict]:
    state = tmp_path_factory.mktemp("act") / "state"
    env = {**os.environ, "FRAUDOPS_STATE_DIR": str(state)}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run(
        [str(ROOT / "scripts/ci/act_chain.sh"), "all"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
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


def test_pull_request_summary_carries_the_metrics_diff(chain):
    assert "dvc metrics diff main" in _log(chain, "ci-pull_request.log")


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
