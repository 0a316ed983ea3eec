#!/usr/bin/env bash
# Production traffic for the act chain: one production service (the newest Bento, serving the
# registry of $FRAUDOPS_STATE_DIR into its production prediction log) that stays up while
# `fraudops simulate` replays generated transactions through it (labels come back at once) and
# the monitor runs, as a service in production would.
#
#   scripts/ci/traffic.sh start                       serve, wait until /readyz answers
#   scripts/ci/traffic.sh send SCENARIO ROWS [SEED]   SCENARIO: none | covariate | concept | both
#                                                     (POST /predict_batch, 50 a request as
#                                                     columns; labels in bulk, /feedback_batch)
#   scripts/ci/traffic.sh stop                        SIGTERM (flushes the log), SIGKILL at 60 s
#
# The service answers on 127.0.0.1:$TRAFFIC_PORT (default 3140); its pid is kept in
# $FRAUDOPS_STATE_DIR/traffic-service.pid and its output in traffic-service.log.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
action="${1:?start | send SCENARIO ROWS [SEED] | stop}"
state="${FRAUDOPS_STATE_DIR:?}"
port="${TRAFFIC_PORT:-3140}"
pidfile="$state/traffic-service.pid"
log="$state/traffic-service.log"
export PATH="$root/.venv/bin:$PATH" PYTHONPATH="$root/shared:$root" BENTOML_HOME="${BENTOML_HOME:-$state/bentoml}" \
  BENTOML_DO_NOT_TRACK=true FRAUDOPS_ACCESS_LOG=false

alive() { [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "$action" in
  start)
    if alive; then echo "the production service is already running (pid $(cat "$pidfile"))" >&2; exit 1; fi
    tag="$(bentoml list fraud_detector -o json | python -c 'import json,sys; print(sorted(json.load(sys.stdin), key=lambda b: b["creation_time"])[-1]["tag"])')"
    setsid fraudops serve --bento "$tag" --port "$port" >"$log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 480); do # 240 s: a cold start takes about 12 s on 2 cores
      curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && { echo "serving $tag on :$port (pid $(cat "$pidfile"))"; exit 0; }
      alive || { echo "the production service exited while starting:" >&2; tail -20 "$log" >&2; exit 1; }
      sleep 0.5
    done
    echo "the production service was not ready after 240 s; see $log" >&2
    exit 1
    ;;
  send)
    scenario="${2:?scenario}" rows="${3:?rows}" seed="${4:-1}"
    alive || { echo "no production service: run 'scripts/ci/traffic.sh start' first" >&2; exit 1; }
    fraudops simulate --url "http://127.0.0.1:$port" --rows "$rows" --scenario "$scenario" \
      --drift-at 0 --label-delay 0 --fraud-rate 0.02 --seed "$seed" --concurrency 8 --batch-size 50
    ;;
  stop)
    alive || { rm -f "$pidfile"; exit 0; }
    pid="$(cat "$pidfile")"
    kill -TERM -- "-$pid" 2>/dev/null || true # the whole group: a graceful stop flushes the log
    for _ in $(seq 120); do kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; exit 0; }; sleep 0.5; done
    echo "the production service ignored SIGTERM for 60 s: killed" >&2
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$pidfile"
    exit 1
    ;;
  *) echo "unknown action '$action' (start | send | stop)" >&2; exit 2 ;;
esac
