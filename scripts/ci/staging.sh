#!/usr/bin/env bash
# cd.yml "staging" job: deploy the Bento to a local staging service (its own port and prediction
# log, the registry's @champion), then a smoke test and a short load test against the targets in
# the workflow's env (P95_MS, MAX_ERROR_RATE, LOAD_*). The report is kept beside the registry
# ($FRAUDOPS_STATE_DIR/deployments/staging-<version>.json) for the production job to check.
set -euo pipefail
state="${FRAUDOPS_STATE_DIR:?}"
bentoml get "${BENTO_TAG:?}" >/dev/null 2>&1 || scripts/ci/bento.sh import "${BENTO_FILE:?}"
python scripts/ci/smoke.py --bento "$BENTO_TAG" --port "${STAGING_PORT:-3120}" --name staging \
  --expect-version "${MODEL_VERSION:?}" \
  --load-requests "${LOAD_REQUESTS:-300}" --load-seconds "${LOAD_SECONDS:-30}" \
  --concurrency "${LOAD_CONCURRENCY:-4}" --p95-ms "${P95_MS:-250}" \
  --max-error-rate "${MAX_ERROR_RATE:-0.01}" \
  --report "$state/deployments/staging-$MODEL_VERSION.json"
