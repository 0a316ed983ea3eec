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
# and its wall time to $FRAUDOPS_STATE_DIR/act-results.json (tests/workflows read it).
#   scripts/ci/act_chain.sh [ci|chain|all]      (default all)
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

record() { # name status seconds [json extra]
  printf '{"step": "%s", "status": %s, "seconds": %s, "extra": %s}\n' "$1" "$2" "$3" "${4:-null}" >>"$results"
}
run_step() { # name command...
  local name="$1" start=$SECONDS status=0
  shift
  echo "=== $name"
  "$@" || status=$?
  record "$name" "$status" "$((SECONDS - start))"
  [[ $status -eq 0 ]] || { failures=$((failures + 1)); echo "--- $name FAILED (exit $status)"; }
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

if [[ "$what" == ci || "$what" == all ]]; then
  run_step "ci.yml (pull_request)" "$root/scripts/ci/act.sh" ci pull_request
  v="$(champion)"
  check "ci made a champion" "$([[ "$v" == 1 ]]; echo $?)" "ci.yml's pipeline registered @champion v1 (got '${v}')"
fi

if [[ "$what" == chain || "$what" == all ]]; then
  before="$(champion)"
  run_step "traffic: clean" "$root/scripts/ci/traffic.sh" none 2000 11
  run_step "monitor.yml on a clean log" "$root/scripts/ci/act.sh" monitor workflow_dispatch --input profile=small
  after="$(champion)"
  decided="$(last_monitor)"
  check "clean: no retraining" "$([[ "$decided" == False && "$after" == "$before" && ! -f "$state/deployments/production.json" ]]; echo $?)" \
    "clean log: monitor decided retrain=$decided, @champion v$before -> v$after, no release"

  run_step "traffic: drifted" "$root/scripts/ci/traffic.sh" both 2000 12
  run_step "monitor.yml on a drifted log (-> retrain.yml -> cd.yml)" "$root/scripts/ci/act.sh" monitor workflow_dispatch --input profile=small
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
    print(f"  {'ok  ' if r['status'] == 0 else 'FAIL'} {r['seconds']:>5}s  {r['step']}")
PY
echo "$failures failed"
[[ $failures -eq 0 ]]
