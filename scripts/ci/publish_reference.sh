#!/usr/bin/env bash
# Keep the current champion's training data beside the registry ($FRAUDOPS_STATE_DIR/reference),
# where `fraudops monitor` in a later job (in another checkout) finds it. Run after a pipeline
# run or a retraining in the same checkout; does nothing when the champion did not change.
set -euo pipefail
state="${FRAUDOPS_STATE_DIR:?}"
registration="${1:-reports/registration.json}"
[[ -f "$registration" && -f data/split/train.parquet ]] || { echo "no registration/train split: nothing to publish"; exit 0; }
promoted="$(python - "$registration" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("true" if str(r.get("champion_after")) == str(r.get("version")) else "false")
PY
)"
if [[ "$promoted" == true ]]; then
  mkdir -p "$state/reference"
  cp data/split/train.parquet "$state/reference/train.parquet.tmp"
  mv "$state/reference/train.parquet.tmp" "$state/reference/train.parquet"
  echo "published the champion's training data to $state/reference/train.parquet"
else
  echo "champion unchanged: reference data left as it is"
fi
