#!/usr/bin/env bash
# Prepare a workflow job: the project's Python environment, offline settings, the state directory
# and (optionally) a parameter profile. Every job of .github/workflows/*.yml runs this first.
#
#   scripts/ci/setup.sh [PROFILE]      PROFILE: "full" (params.yaml as committed) or "small"
#                                      (scripts/ci/profile-small.yaml merged over it)
#
# Environment it reads:
#   FRAUDOPS_CI_VENV     an existing virtualenv to reuse (act on a developer machine or in
#                        .ci/run passes the project's .venv); otherwise `make install` builds one
#   FRAUDOPS_STATE_DIR   where the registry, prediction log, Bentos and DVC remote live; it must
#                        outlive the job (act passes one folder to every job; on GitHub the
#                        default under $RUNNER_TEMP is carried between jobs as an artifact)
# What it exports to later steps ($GITHUB_ENV / $GITHUB_PATH): the virtualenv's bin/, PYTHONPATH
# (this checkout's code wins over an installed copy), FRAUDOPS_STATE_DIR, BENTOML_HOME and the
# no-telemetry switches.
set -euo pipefail
cd "${GITHUB_WORKSPACE:-$(pwd)}"
profile="${1:-full}"

if [[ -n "${FRAUDOPS_CI_VENV:-}" ]]; then
  [[ -x "$FRAUDOPS_CI_VENV/bin/python" ]] || { echo "FRAUDOPS_CI_VENV=$FRAUDOPS_CI_VENV has no bin/python" >&2; exit 1; }
  [[ -e .venv ]] || ln -s "$FRAUDOPS_CI_VENV" .venv
else
  make install
fi

state="${FRAUDOPS_STATE_DIR:-${RUNNER_TEMP:-/tmp}/fraudops-state}"
mkdir -p "$state"
state="$(cd "$state" && pwd)"

env_out="${GITHUB_ENV:-/dev/null}"
{
  echo "FRAUDOPS_STATE_DIR=$state"
  echo "BENTOML_HOME=${BENTOML_HOME:-$state/bentoml}"
  echo "PYTHONPATH=$PWD/shared:$PWD"
  echo "BENTOML_DO_NOT_TRACK=true"
  echo "DO_NOT_TRACK=1"
  echo "DVC_NO_ANALYTICS=1"
  echo "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false"
  echo "PYTHONUNBUFFERED=1"
} >>"$env_out"
echo "$PWD/.venv/bin" >>"${GITHUB_PATH:-/dev/null}"

# DVC: a fresh checkout has no data/batches (git keeps no empty folder), and the default remote
# (../var/dvc-remote) would live and die with this job's workspace: point it at the state folder.
mkdir -p data/batches data/feedback
.venv/bin/dvc remote modify --local local url "$state/dvc-remote" >/dev/null

case "$profile" in
  full) ;;
  small) .venv/bin/python scripts/ci/apply_params.py scripts/ci/profile-small.yaml params.yaml ;;
  *) echo "unknown profile '$profile' (full|small)" >&2; exit 2 ;;
esac
echo "workspace $PWD, state $state, profile $profile"
