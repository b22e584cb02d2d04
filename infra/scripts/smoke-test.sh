#!/usr/bin/env bash
# Smoke test of a deployed gateway through its load balancer (TLS, public CA):
#   SENTIMENT_API_KEY=... infra/scripts/smoke-test.sh gateway.example.com:443
# 1. grpc.health.v1 reports SERVING (Triton ready, audit path accepting);
# 2. one prediction of an unambiguous sentence comes back "positive" with a model version.
set -euo pipefail
target="${1:?usage: smoke-test.sh HOST:PORT}"
ca="${SMOKE_CA_FILE:-/etc/ssl/certs/ca-certificates.crt}"
python - "$target" "$ca" <<'PY'
import sys, time
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
target, ca = sys.argv[1], sys.argv[2]
credentials = grpc.ssl_channel_credentials(open(ca, "rb").read())
deadline = time.monotonic() + 300
while True:
    try:
        with grpc.secure_channel(target, credentials) as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status
        if status == health_pb2.HealthCheckResponse.SERVING:
            print("health: SERVING")
            break
    except grpc.RpcError as error:
        status = error.code().name
    if time.monotonic() > deadline:
        sys.exit(f"gateway not SERVING after 300 s (last: {status})")
    time.sleep(10)
PY
out="$(sentiment predict --target "$target" --ca-file "$ca" "a gorgeous, witty, seductive movie.")"
echo "$out"
python -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["label"]=="positive" and r["model_version"], r' "$out"
echo "smoke test passed"
