#!/usr/bin/env bash
# Entry point of the pipeline image.
#   release S3_PREFIX RELEASE_ID [PRESET]  train (default preset quick), export, publish
#   publish S3_PREFIX RELEASE_ID            publish the export already in the state dir
#   local [PRESET]                          train + export into the local repository and
#                                           load it into the Triton at SENTIMENT_TRITON_HOST
#   sentiment ARGS...                       any `sentiment` command (train, export, drift,
#                                           retention); SENTIMENT_DATABASE_URL is built from
#                                           SENTIMENT_DB_* when unset (sentiment-entrypoint)
set -euo pipefail
repository="${SENTIMENT_MODEL_REPOSITORY:-/work/state/model_repository}"
case "${1:---help}" in
  release)
    [ $# -ge 3 ] || { echo "usage: release S3_PREFIX RELEASE_ID [PRESET]" >&2; exit 2; }
    sentiment train --preset "${4:-quick}"
    sentiment export --no-load
    exec publish-model-release "$repository" "$2" "$3"
    ;;
  publish)
    [ $# -eq 3 ] || { echo "usage: publish S3_PREFIX RELEASE_ID" >&2; exit 2; }
    exec publish-model-release "$repository" "$2" "$3"
    ;;
  local)
    sentiment train --preset "${2:-quick}"
    exec sentiment export
    ;;
  sentiment)
    shift
    exec sentiment-entrypoint "$@"
    ;;
  *)
    sed -n '2,9p' "$0"
    ;;
esac
