#!/usr/bin/env bash
# perf_analyzer (tritonclient 2.51 wheel) against the running `sentiment` ensemble, fed
# with the 872 SST-2 dev sentences. Extra arguments go to perf_analyzer, for example:
#   scripts/perf-analyzer.sh --concurrency-range 1:8:2 --measurement-interval 5000
# (The maintained perf-analyzer package needs glibc 2.38: serving/perf.py says why not.)
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/sentiment perf "$@"
