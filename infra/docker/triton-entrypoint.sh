#!/usr/bin/env bash
# Start tritonserver on the project's model repository, the way `sentiment triton` does.
#   TRITON_MODEL_REPOSITORY   a mounted path (default /models) or s3://bucket/prefix
#   TRITON_MODEL_CONFIG_NAME  unset: each model's config.pbtxt (GPU); "cpu": configs/cpu.pbtxt
#   TRITON_EXIT_TIMEOUT_SECS  how long SIGTERM waits for in-flight requests (default 30)
# s3:// repositories use the AWS default credential chain (the ECS task role) and
# AWS_DEFAULT_REGION. Extra arguments are passed to tritonserver.
set -euo pipefail
repository="${TRITON_MODEL_REPOSITORY:-/models}"
args=(
  "--model-repository=${repository}"
  --model-control-mode=explicit
  "--load-model=*"
  --strict-readiness=true
  "--exit-timeout-secs=${TRITON_EXIT_TIMEOUT_SECS:-30}"
  --http-port=8000
  --grpc-port=8001
  --metrics-port=8002
  --allow-metrics=true
)
if [ -n "${TRITON_MODEL_CONFIG_NAME:-}" ]; then
  args+=("--model-config-name=${TRITON_MODEL_CONFIG_NAME}")
fi
exec tritonserver "${args[@]}" "$@"
