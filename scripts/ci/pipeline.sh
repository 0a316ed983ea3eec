#!/usr/bin/env bash
# ci.yml "pipeline" job: the Level 1 pipeline end to end (`dvc repro`), then what later jobs need.
# Outputs ($GITHUB_OUTPUT): average_precision and winner (the test-set AP of the winning
# candidate), version and champion (the registration's result).
set -euo pipefail
dvc repro
dvc metrics show
python scripts/ci/report.py pipeline reports/metrics.json reports/registration.json
# The monitor compares production traffic with the champion's training data: keep that data
# beside the registry when this run made a new champion.
scripts/ci/publish_reference.sh
