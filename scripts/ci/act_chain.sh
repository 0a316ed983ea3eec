#!/usr/bin/env bash
# The workflows under act, end to end, on small data (what `make act` and .ci/run run):
#
#   1. ci.yml (pull_request): lint, tests, pipeline (dvc repro) -> a first @champion, quality
#      gate, bentoml build, service smoke test, `dvc metrics diff` summary;
#   2. clean production traffic, then monitor.yml: no drift, so no retraining;
#   3. drifted production traffic (new fraud pattern and shifted inputs), then monitor.yml:
#      retrain.yml (called by monitor) retrains and promotes a new @champion, and cd.yml (called
#      by retrain) builds, deploys to staging, load-tests and promotes it to production.
#
# Exits non-zero when any workflow fails or an outcome is wrong; writes the outcome of each step
# and its wall time to $FRAUDOPS_STATE_DIR/act-results.jsonl (tests/workflows read it).
#   scripts/ci/act_chain.sh [ci|chain|all]      (default all)
#
# Each step has a time limit, at least five times what it took inside .ci/run on a quiet 2-core
# machine (LIMIT_* below), so a machine twice as slow still has 2.5x headroom. A step that hits
# its limit is stopped and reported by name ("TIMED OUT"), and the chain goes on to report the
# rest.
#
# FRAUDOPS_CI_TESTS, when set, is passed to ci.yml's `tests` job as the pytest selection instead
# of the whole unit, data and model tiers: .ci/run sets it, since its own `make test` runs those
# very tests in the same checkout (tests/workflows/test_act_chain.py).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
what="${1:-all}"
export FRAUDOPS_STATE_DIR="${FRAUDOPS_STATE_DIR:-$root/var/act}"
state="$FRAUDOPS_STATE_DIR"
# Start from an empty state folder, but only ever delete one this script made.
if [[ -d "$state" && ! -f "$state/.fraudops-act-state" && -n "$(ls -A "$state")" ]]; then
  echo "$state exists and was not made by act_chain.sh: refusing to empty it" >&2
  exit 2
fi
rm -rf "$state"
mkdir -p "$state"
touch "$state/.fraudops-act-state"
state="$(cd "$state" && pwd)"
export FRAUDOPS_STATE_DIR="$state" BENTOML_HOME="$state/bentoml" BENTOML_DO_NOT_TRACK=true
results="$state/act-results.jsonl"
py="$root/.venv/bin/python"
failures=0

# Time limits (seconds), at least 5x each step's time inside .ci/run, beside the other pytest
# worker, on a machine whose generator benchmark gave 1.71 s (`python -m benchmarks test_suite`,
# benchmarks/results/test_suite.md): ci.yml 72 s (its tests job on two modules; the full tiers,
# as `make act` runs them, are `make test-fast`'s ~40 s more), the service start 9 s, each
# 2,000-transaction replay 6 s, a monitor run 11 s, monitor -> retrain -> cd 80 s.
LIMIT_CI=600 LIMIT_SERVICE=120 LIMIT_TRAFFIC=120 LIMIT_MONITOR=120 LIMIT_CHAIN=540

record() { # name status seconds [limit]
  printf '{"step": "%s", "status": %s, "seconds": %s, "limit": %s, "timed_out": %s}\n' \
    "$1" "$2" "$3" "${4:-null}" "$([[ "$2" == 124 ]] && echo true || echo false)" >>"$results"
}
run_step() { # name limit command...
  local name="$1" limit="$2" start=$SECONDS status=0
  shift 2
  echo "=== $name (limit ${limit}s)"
  timeout --kill-after=30 "$limit" "$@" || status=$?
  record "$name" "$status" "$((SECONDS - start))" "$limit"
  if [[ $status -eq 124 ]]; then
    failures=$((failures + 1))
    echo "--- $name TIMED OUT after ${limit}s (stopped)"
  elif [[ $status -ne 0 ]]; then
    failures=$((failures + 1))
    echo "--- $name FAILED (exit $status)"
  fi
  return 0
}
champion() {
  (cd "$root" && PYTHONPATH="$root/shared:$root" "$py" scripts/ci/report.py champion 2>/dev/null | sed -n 's/^version=//p') || true
}
last_monitor() { # the newest monitoring summary's "retrain"
  "$py" - "$state/reports/monitoring" <<'PY'
import json, pathlib, sys
runs = sorted(p for p in pathlib.Path(sys.argv[1]).glob("*/summary.json"))
print(json.loads(runs[-1].read_text())["retrain"] if runs else "none")
PY
  true
}
check() { # name condition-status message
  if [[ "$2" == 0 ]]; then echo "  ok: $3"; record "$1" 0 0; else echo "  FAILED: $3"; record "$1" 1 0; failures=$((failures + 1)); fi
}

ci_env=()
[[ -n "${FRAUDOPS_CI_TESTS:-}" ]] && ci_env=(--env "FRAUDOPS_CI_TESTS=$FRAUDOPS_CI_TESTS")

if [[ "$what" == ci || "$what" == all ]]; then
  run_step "ci.yml (pull_request)" "$LIMIT_CI" "$root/scripts/ci/act.sh" ci pull_request "${ci_env[@]}"
  v="$(champion)"
  check "ci made a champion" "$([[ "$v" == 1 ]]; echo $?)" "ci.yml's pipeline registered @champion v1 (got '${v}')"
fi

if [[ "$what" == chain || "$what" == all ]]; then
  before="$(champion)"
  # One production service for both replays (it stays up while the monitor runs, as in
  # production); it is stopped before retraining, whose cd.yml deploys its own staging service.
  trap '"$root/scripts/ci/traffic.sh" stop || true' EXIT
  run_step "production service: start" "$LIMIT_SERVICE" "$root/scripts/ci/traffic.sh" start
  run_step "traffic: clean" "$LIMIT_TRAFFIC" "$root/scripts/ci/traffic.sh" send none 2000 11
  run_step "monitor.yml on a clean log" "$LIMIT_MONITOR" "$root/scripts/ci/act.sh" monitor workflow_dispatch --input profile=small
  after="$(champion)"
  decided="$(last_monitor)"
  check "clean: no retraining" "$([[ "$decided" == False && "$after" == "$before" && ! -f "$state/deployments/production.json" ]]; echo $?)" \
    "clean log: monitor decided retrain=$decided, @champion v$before -> v$after, no release"

  run_step "traffic: drifted" "$LIMIT_TRAFFIC" "$root/scripts/ci/traffic.sh" send both 2000 12
  run_step "production service: stop" "$LIMIT_SERVICE" "$root/scripts/ci/traffic.sh" stop
  run_step "monitor.yml on a drifted log (-> retrain.yml -> cd.yml)" "$LIMIT_CHAIN" "$root/scripts/ci/act.sh" monitor workflow_dispatch --input profile=small
  after="$(champion)"
  decided="$(last_monitor)"
  released="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["model_version"])' "$state/deployments/production.json" 2>/dev/null || echo none)"
  check "drift: new champion in production" "$([[ "$decided" == True && -n "$after" && "$after" != "$before" && "$released" == "$after" ]]; echo $?)" \
    "drifted log: monitor decided retrain=$decided, @champion v$before -> v$after, production serves v$released"
fi

echo
echo "=== act runs (wall time)"
"$py" - "$results" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    verdict = "ok  " if r["status"] == 0 else "TIME" if r.get("timed_out") else "FAIL"
    limit = f" (limit {r['limit']}s)" if r.get("limit") else ""
    print(f"  {verdict} {r['seconds']:>5}s  {r['step']}{limit}")
PY
echo "$failures failed"
[[ $failures -eq 0 ]]
