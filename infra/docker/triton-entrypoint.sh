#!/usr/bin/env bash
# Start tritonserver on the project's model repository, the way `sentiment triton` does.
#   TRITON_MODEL_REPOSITORY   a mounted path (default /models) or s3://bucket/prefix
#   TRITON_MODEL_CONFIG_NAME  unset: each model's config.pbtxt (GPU); "cpu": configs/cpu.pbtxt
#   TRITON_EXIT_TIMEOUT_SECS  how long SIGTERM waits for in-flight requests (default 30)
#   TRITON_ADMIN_KEY          the value of the sentiment-admin-key header that the
#                             model-repository API (index, load, unload) requires; at least
#                             32 letters, digits, '-' or '_' (ECS: from Secrets Manager).
#                             Unset: a random key nobody holds, so nothing can be loaded or
#                             unloaded after start. Health, metadata, config, statistics and
#                             inference need no key.
# s3:// repositories use the AWS default credential chain (the ECS task role) and
# AWS_DEFAULT_REGION. Extra arguments are passed to tritonserver.
set -euo pipefail
repository="${TRITON_MODEL_REPOSITORY:-/models}"
admin_key="${TRITON_ADMIN_KEY:-}"
if [ -z "${admin_key}" ]; then
  admin_key="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
  echo "sentiment-triton: TRITON_ADMIN_KEY unset: the model-repository API is closed" >&2
elif ! [[ "${admin_key}" =~ ^[A-Za-z0-9_-]{32,}$ ]]; then
  echo "sentiment-triton: TRITON_ADMIN_KEY must be at least 32 letters, digits, '-' or '_'" >&2
  exit 64
fi
unset TRITON_ADMIN_KEY # the Python models' stub processes inherit the environment
# In the container Triton listens on every interface: the published ports (compose binds
# them to 127.0.0.1) and the security groups (ECS) decide who reaches them. Over gRPC the
# header is triton-grpc-protocol-sentiment-admin-key.
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
  "--http-restricted-api=model-repository:sentiment-admin-key=${admin_key}"
  "--grpc-restricted-protocol=model-repository:sentiment-admin-key=${admin_key}"
)
if [ -n "${TRITON_MODEL_CONFIG_NAME:-}" ]; then
  args+=("--model-config-name=${TRITON_MODEL_CONFIG_NAME}")
fi
exec tritonserver "${args[@]}" "$@"
