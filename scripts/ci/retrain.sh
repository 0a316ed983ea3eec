#!/usr/bin/env bash
# retrain.yml: feedback-driven retraining with `fraudops retrain` (level2/retrain.py), which
# turns the labeled production data into a new data version, runs the Level 1 pipeline, gates the
# challenger against @champion on the same holdout and promotes it when it wins. It exits 0 when
# it is done (promoted or not) and writes promoted=true|false and version=N to $GITHUB_OUTPUT.
set -euo pipefail
fraudops retrain
out="${GITHUB_OUTPUT:-/dev/null}"
promoted="$(grep -E '^promoted=' "$out" 2>/dev/null | tail -n1 | cut -d= -f2 || true)"
version="$(grep -E '^version=' "$out" 2>/dev/null | tail -n1 | cut -d= -f2 || true)"
# The monitor of the new champion needs its training data: publish it beside the registry.
[[ "$promoted" != true ]] || scripts/ci/publish_reference.sh reports/registration.json
champion="$(python scripts/ci/report.py champion | sed -n 's/^version=//p' || true)"
{
  echo "### Retraining: $([[ "$promoted" == true ]] && echo "promoted v$version" || echo "champion kept")"
  echo
  echo "new version: ${version:-none}; @champion is v${champion:-?}"
  [[ -z "${REASON:-}" ]] || printf '\nwhy: %s\n' "$REASON"
} | tee -a "${GITHUB_STEP_SUMMARY:-/dev/null}"
