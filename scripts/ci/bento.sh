#!/usr/bin/env bash
# Build the Level 2 Bento and export it as a file; containerize it when a Docker engine answers.
#
#   scripts/ci/bento.sh build [OUT_DIR]     build from level2/bentofile.yaml, export to
#                                           OUT_DIR/fraud_detector-<version>.bento (default
#                                           $FRAUDOPS_STATE_DIR/bentos); outputs tag, file
#   scripts/ci/bento.sh import FILE         import an exported Bento (another runner's build)
#
# The Bento holds code and the locked environment, not a model: the service loads the registry's
# @champion when it starts, so building "from @champion" means checking one exists and recording
# which version the build was made for (`model_version` output).
set -euo pipefail
cmd="${1:?build|import}"
out() { echo "$1=$2"; [[ -z "${GITHUB_OUTPUT:-}" ]] || echo "$1=$2" >>"$GITHUB_OUTPUT"; }

case "$cmd" in
  build)
    dir="${2:-${FRAUDOPS_STATE_DIR:?}/bentos}"
    mkdir -p "$dir"
    labels=()
    [[ -z "${BENTO_MODEL_VERSION:-}" ]] || labels=(--label "model_version=$BENTO_MODEL_VERSION")
    bentoml build -f level2/bentofile.yaml . "${labels[@]}" --output tag | tee /tmp/bento-build.$$ >/dev/null
    tag="$(grep -Eo 'fraud_detector:[A-Za-z0-9._-]+' /tmp/bento-build.$$ | tail -n1)"
    rm -f /tmp/bento-build.$$
    [[ -n "$tag" ]] || { echo "bentoml build printed no tag" >&2; exit 1; }
    file="$dir/${tag/:/-}.bento"
    bentoml export "$tag" "$file" >/dev/null
    echo "built $tag, exported to $file ($(du -h "$file" | cut -f1))"
    out tag "$tag"
    out file "$file"
    if docker info >/dev/null 2>&1; then
      bentoml containerize "$tag"
      out image "$tag"
    else
      echo "no Docker engine here: skipping containerize (the exported Bento is the artifact)"
      out image ""
    fi
    ;;
  import)
    file="${2:?exported .bento file}"
    bentoml import "$file" || true   # already in this store when the build ran on this machine
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
