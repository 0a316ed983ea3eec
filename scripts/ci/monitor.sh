#!/usr/bin/env bash
# monitor.yml: judge the latest window of production traffic with `fraudops monitor`.
# Its exit status 3 means "retrain" (a decision, not a failure); 0 means "all well"; anything
# else is an error and fails the job. fraudops writes retrain=, drift_detected=, report_dir= and
# reasons= to $GITHUB_OUTPUT itself.
#
# The reference data is the champion's training data: the checkout's data/split/train.parquet
# when this checkout ran the pipeline, else the copy published beside the registry
# ($FRAUDOPS_STATE_DIR/reference/train.parquet, scripts/ci/publish_reference.sh).
set -euo pipefail
state="${FRAUDOPS_STATE_DIR:?}"
reference="${REFERENCE:-}"
if [[ -z "$reference" ]]; then
  reference=data/split/train.parquet
  [[ -f "$reference" ]] || reference="$state/reference/train.parquet"
fi
args=(--reference "$reference" --out "$state/reports/monitoring")
[[ -z "${WINDOW:-}" ]] || args+=(--window "$WINDOW")
status=0
fraudops monitor "${args[@]}" || status=$?
case "$status" in
  0) decision="no retraining needed" ;;
  3) decision="retrain" ;;
  *) echo "fraudops monitor failed (exit $status)" >&2; exit "$status" ;;
esac
latest="$(ls -1d "$state"/reports/monitoring/*/ 2>/dev/null | sort | tail -n1)"
{
  echo "### Monitoring: $decision"
  echo
  if [[ -n "$latest" && -f "$latest/summary.json" ]]; then
    python - "$latest/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"window of {s.get('n_predictions')} predictions, champion v{s.get('champion_version')}, "
      f"drift detected: {s.get('drift_detected')}, retrain: {s.get('retrain')}\n")
for reason in s.get("reasons", []):
    print(f"- {reason}")
PY
  fi
} | tee -a "${GITHUB_STEP_SUMMARY:-/dev/null}"
