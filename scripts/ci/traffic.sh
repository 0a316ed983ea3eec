#!/usr/bin/env bash
# Production traffic for the act chain: serve the latest Bento against the registry of
# $FRAUDOPS_STATE_DIR (its production prediction log), replay generated transactions through it
# with `fraudops simulate` (labels come back at once), then stop the service.
#
#   scripts/ci/traffic.sh SCENARIO ROWS [SEED]     SCENARIO: none | covariate | concept | both
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
scenario="${1:?scenario}" rows="${2:?rows}" seed="${3:-1}"
state="${FRAUDOPS_STATE_DIR:?}"
port="${TRAFFIC_PORT:-3140}"
export PATH="$root/.venv/bin:$PATH" PYTHONPATH="$root/shared:$root" BENTOML_HOME="${BENTOML_HOME:-$state/bentoml}" \
  BENTOML_DO_NOT_TRACK=true FRAUDOPS_ACCESS_LOG=false
tag="$(bentoml list fraud_detector -o json | python -c 'import json,sys; print(sorted(json.load(sys.stdin), key=lambda b: b["creation_time"])[-1]["tag"])')"
setsid fraudops serve --bento "$tag" --port "$port" >"$state/traffic-service.log" 2>&1 &
pid=$!
trap 'kill -TERM -- -$pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 240); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { tail -20 "$state/traffic-service.log"; exit 1; }
  sleep 0.5
done
curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { echo "service not ready" >&2; exit 1; }
fraudops simulate --url "http://127.0.0.1:$port" --rows "$rows" --scenario "$scenario" \
  --drift-at 0 --label-delay 0 --fraud-rate 0.02 --seed "$seed" --concurrency 8
