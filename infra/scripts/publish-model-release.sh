#!/usr/bin/env bash
# Publish a parity-checked Triton model repository as an immutable release on S3:
#   publish-model-release.sh LOCAL_REPOSITORY s3://BUCKET/releases RELEASE_ID
# The release is written to s3://BUCKET/releases/RELEASE_ID/ (model files first, then the
# configs, then a RELEASE.json marker last); an existing release is never overwritten.
# Serving switches to it only when the Triton service's `model_release` variable is set to
# RELEASE_ID (terraform apply), so rolling back is setting the previous id again.
set -euo pipefail
[ $# -eq 3 ] || { sed -n '2,3p' "$0" >&2; exit 2; }
local_repo="${1%/}" prefix="${2%/}" release="$3"
[[ "$release" =~ ^[A-Za-z0-9._-]+$ ]] || { echo "bad release id: $release" >&2; exit 2; }
[ -f "$local_repo/sentiment/config.pbtxt" ] || {
  echo "$local_repo holds no exported repository (run sentiment export)" >&2; exit 1; }
target="$prefix/$release"
if aws s3 ls "$target/RELEASE.json" >/dev/null 2>&1; then
  echo "release $target exists; releases are immutable: choose a new id" >&2
  exit 1
fi
# Version folders (model files) first, so no config ever points at a missing file.
aws s3 sync "$local_repo" "$target" --only-show-errors --exclude "*" --include "*/[0-9]*/*"
aws s3 sync "$local_repo" "$target" --only-show-errors --exclude "*/[0-9]*/*"
sentiment models --json > /tmp/release-models.json 2>/dev/null || echo '{}' > /tmp/release-models.json
printf '{"release": "%s", "published_at": "%s", "inventory": %s}\n' \
  "$release" "$(date -u +%FT%TZ)" "$(cat /tmp/release-models.json)" > /tmp/RELEASE.json
aws s3 cp /tmp/RELEASE.json "$target/RELEASE.json" --only-show-errors
echo "published $target"
