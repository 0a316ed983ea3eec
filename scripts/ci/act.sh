#!/usr/bin/env bash
# Run one workflow of .github/workflows locally with act, the way GitHub would, on this machine.
#
#   scripts/ci/act.sh WORKFLOW EVENT [act options...]
#   scripts/ci/act.sh ci pull_request
#   scripts/ci/act.sh monitor workflow_dispatch --input profile=small
#
# Jobs run on the host (-P ubuntu-latest=-self-hosted: no Docker engine needed), each in a fresh
# copy of the tracked tree; they reuse this project's .venv (FRAUDOPS_CI_VENV) and share one
# state folder, FRAUDOPS_STATE_DIR (default var/act), which holds what outlives a job: the MLflow
# registry, the prediction log, Bentos, the DVC remote, the release records. Remote actions other
# than checkout are skipped under act (`if: ${{ !env.ACT }}`) and mapped to a local stand-in
# (scripts/ci/act-offline-action), since act fetches an action even when its step is skipped.
# The full output goes to $FRAUDOPS_STATE_DIR/act-logs/WORKFLOW-EVENT[-N].log; exit status is act's
# (non-zero when any job failed).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
workflow="${1:?workflow name (ci, cd, monitor, retrain)}"
event="${2:?event (push, pull_request, workflow_dispatch...)}"
shift 2
state="${FRAUDOPS_STATE_DIR:-$root/var/act}"
mkdir -p "$state/act-logs"
state="$(cd "$state" && pwd)"
log="$state/act-logs/$workflow-$event.log"
n=1
while [[ -e "$log" ]]; do n=$((n + 1)); log="$state/act-logs/$workflow-$event-$n.log"; done
args=(
  "$event" -W "$root/.github/workflows/$workflow.yml"
  -P ubuntu-latest=-self-hosted
  --env "FRAUDOPS_CI_VENV=$(cd "$root/.venv" && pwd -P)"
  --env "FRAUDOPS_STATE_DIR=$state"
)
# Remote actions (other than checkout, which act copies from the local tree) cannot be fetched
# offline: map each pinned one to a stand-in that is never run (those steps are guarded).
while read -r action; do
  args+=(--local-repository "$action=$root/scripts/ci/act-offline-action")
done < <(grep -ho 'uses: [A-Za-z0-9_.-]*/[A-Za-z0-9_./-]*@[0-9a-f]\{40\}' "$root"/.github/workflows/*.yml \
  | sed 's/^uses: //' | grep -v '^actions/checkout@' | sort -u)
[[ -f "$root/scripts/ci/events/$event.json" ]] && args+=(-e "$root/scripts/ci/events/$event.json")
# act copies each job's workspace under $XDG_CACHE_HOME/act (default ~/.cache/act); BentoML
# refuses to build from a path with a hidden folder in it, so keep it under the state folder.
export XDG_CACHE_HOME="$state/act-cache"
# The jobs are a CI run of their own: a caller's pytest options (a --basetemp, say, when this
# runs inside pytest) must not reach the pytest of ci.yml's tests job, which runs on this host.
unset PYTEST_ADDOPTS
cd "$root"
start=$SECONDS
status=0
"$root/.venv/bin/act" "${args[@]}" "$@" >"$log" 2>&1 || status=$?
seconds=$((SECONDS - start))
# One line per job: its name and result, as act reports them.
grep -E '🏁  Job (succeeded|failed)|❌  Failure' "$log" | sed -E 's/^/  /' || true
echo "act $workflow.yml ($event): exit $status in ${seconds}s; log: $log"
exit "$status"
