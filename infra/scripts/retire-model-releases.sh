#!/usr/bin/env bash
# Retire old model releases: tag every object of the releases under the prefix that are
# neither served nor among the newest KEEP (by RELEASE.json published_at, default 3):
#   retire-model-releases.sh [--dry-run] [--keep N] s3://BUCKET/releases SERVED_ID [SERVED_ID...]
# The tag (sentiment-retention=expired) makes the models bucket's lifecycle rule expire the
# objects at its next daily run; they stay restorable as noncurrent versions for a week.
# SERVED_ID: the release Terraform serves (`terraform output -raw served_model_release`)
# and any other still in use (a rollout in progress). A served release that is missing
# stops the script before it tags anything; an object under a served release is never
# tagged, and a retirement tag found on one is removed. Releases without RELEASE.json
# (being published) are left alone.
set -euo pipefail
tag_key=sentiment-retention tag_value=expired
keep=3 dry_run=0
usage() { sed -n '4p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1; shift ;;
    --keep) [ $# -ge 2 ] || usage; keep="$2"; shift 2 ;;
    -*) usage ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || usage
[[ "$keep" =~ ^[0-9]+$ ]] || { echo "--keep takes a number, not $keep" >&2; exit 2; }
prefix="${1%/}"
shift
[[ "$prefix" =~ ^s3://([^/]+)/(.+)$ ]] || { echo "not s3://BUCKET/PREFIX: $prefix" >&2; exit 2; }
bucket="${BASH_REMATCH[1]}" key_prefix="${BASH_REMATCH[2]}"
served=("$@")

is_served() {
  local release
  for release in "${served[@]}"; do [ "$1" = "$release" ] && return 0; done
  return 1
}

# Object keys of one release, RELEASE.json last: an interrupted run leaves the release
# complete-looking, so the next run tags the rest.
release_keys() {
  aws s3api list-objects-v2 --bucket "$bucket" --prefix "$key_prefix/$1/" \
    --query 'Contents[].Key' --output text | tr '\t' '\n' | grep -v '^None$' \
    | awk '/\/RELEASE\.json$/ { marker = $0; next } { print } END { if (marker) print marker }'
}

for release in "${served[@]}"; do
  [[ "$release" =~ ^[A-Za-z0-9._-]+$ ]] || { echo "bad release id: $release" >&2; exit 2; }
  if ! aws s3 ls "$prefix/$release/RELEASE.json" >/dev/null 2>&1; then
    echo "served release $prefix/$release/ not found: nothing retired (check the id)" >&2
    exit 1
  fi
done

# A served release must not carry the tag (e.g. a rollback to a release retired earlier).
for release in "${served[@]}"; do
  while read -r key; do
    tags=$(aws s3api get-object-tagging --bucket "$bucket" --key "$key" \
      --query "TagSet[?Key=='$tag_key'].Value" --output text)
    if [ "$tags" = "$tag_value" ]; then
      if [ "$dry_run" = 1 ]; then
        echo "served release $release: $key is tagged for expiry; would remove the tag"
      else
        echo "served release $release: $key is tagged for expiry; removing the tag"
        aws s3api delete-object-tagging --bucket "$bucket" --key "$key" >/dev/null
      fi
    fi
  done < <(release_keys "$release")
done

# Releases with their publication time, newest first.
listing=""
while read -r release; do
  published=$(aws s3 cp "$prefix/$release/RELEASE.json" - 2>/dev/null \
    | grep -o '"published_at": *"[^"]*"' | head -n1 | cut -d'"' -f4 || true)
  if [ -z "$published" ]; then
    echo "left alone: $release (no RELEASE.json: being published or incomplete)"
    continue
  fi
  listing+="$published $release"$'\n'
done < <(aws s3 ls "$prefix/" | awk '$1 == "PRE" { sub(/\/$/, "", $2); print $2 }')

rank=0 retired=0
while read -r published release; do
  [ -n "$release" ] || continue
  rank=$((rank + 1))
  if is_served "$release"; then
    echo "kept: $release (served, published $published)"
    continue
  fi
  if [ "$rank" -le "$keep" ]; then
    echo "kept: $release (among the newest $keep, published $published)"
    continue
  fi
  count=0
  while read -r key; do
    for serving in "${served[@]}"; do
      if [[ "$key" == "$key_prefix/$serving/"* ]]; then
        echo "refusing to tag $key: it belongs to served release $serving" >&2
        exit 1
      fi
    done
    count=$((count + 1))
    [ "$dry_run" = 1 ] || aws s3api put-object-tagging --bucket "$bucket" --key "$key" \
      --tagging "TagSet=[{Key=$tag_key,Value=$tag_value}]"
  done < <(release_keys "$release")
  retired=$((retired + 1))
  if [ "$dry_run" = 1 ]; then
    echo "would retire: $release ($count objects, published $published)"
  else
    echo "retired: $release ($count objects tagged $tag_key=$tag_value, published $published)"
  fi
done < <(printf '%s' "$listing" | sort -r)
echo "$retired release(s) $([ "$dry_run" = 1 ] && echo "would be " || true)retired"
