#!/usr/bin/env bash
# Pull requests: `dvc metrics diff` of this run's metrics against the base branch, as markdown in
# the job's summary. The base branch name comes from the event (BASE_REF), never from the text
# of the workflow, and is checked as a ref name before use.
set -euo pipefail
base="${BASE_REF:-main}"
git check-ref-format --branch "$base" >/dev/null || { echo "not a branch name: $base" >&2; exit 1; }
if ! git rev-parse --verify --quiet "$base^{commit}" >/dev/null; then
  git rev-parse --verify --quiet "origin/$base^{commit}" >/dev/null && base="origin/$base"
fi
{
  echo "### \`dvc metrics diff $base\` (small-data smoke run against the committed metrics)"
  echo
  dvc metrics diff --md --all "$base" || echo "(no metrics to compare on $base)"
} | tee -a "${GITHUB_STEP_SUMMARY:-/dev/null}"
