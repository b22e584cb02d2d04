#!/usr/bin/env bash
# System packages the Python packages cannot bring: Debian's libb64 for perf_analyzer,
# prometheus (with promtool) for the monitoring tests.
set -euo pipefail
missing=()
ldconfig -p | grep -q 'libb64.so.0d' || missing+=(libb64-0d)
command -v promtool >/dev/null || missing+=(prometheus)  # prometheus + promtool: monitoring tests
command -v docker-compose >/dev/null || missing+=(docker-compose)  # `docker-compose config`: infra tests
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
  echo "install these Debian packages as root: ${missing[*]}" >&2
  exit 1
fi
SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
