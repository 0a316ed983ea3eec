#!/usr/bin/env bash
# cd.yml: which @champion this delivery is for. Fails when the registry has none, or when the
# caller (retrain.yml) expected another version than the one @champion holds now.
set -euo pipefail
python scripts/ci/report.py champion
version="$(python scripts/ci/report.py champion | sed -n 's/^version=//p')"
if [[ -n "${EXPECTED:-}" && "$EXPECTED" != "$version" ]]; then
  echo "@champion is v$version, but this delivery was started for v$EXPECTED" >&2
  exit 1
fi
echo "### Delivery of @champion v$version" >>"${GITHUB_STEP_SUMMARY:-/dev/null}"
