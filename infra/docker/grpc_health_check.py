#!/usr/bin/env python3
"""Container health check of the gateway: grpc.health.v1 Check on the overall service.

Exit 0 when the gateway answers SERVING, 1 otherwise (NOT_SERVING, refused, timed out).
Plaintext by default; with SENTIMENT_GATEWAY_TLS_CERT_FILE set (or its name of the
earlier release, SENTIMENT_TLS_CERT_FILE) the gateway serves TLS, and the check verifies it
against SENTIMENT_HEALTHCHECK_CA_FILE (default: the server certificate itself, which works
for a self-signed certificate). Uses grpcio-health-checking, which the
image already holds, so no probe binary has to be downloaded at build time.
"""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def channel(target: str) -> grpc.Channel:
    cert = os.environ.get("SENTIMENT_GATEWAY_TLS_CERT_FILE") or os.environ.get(
        "SENTIMENT_TLS_CERT_FILE"
    )
    if not cert:
        return grpc.insecure_channel(target)
    with open(os.environ.get("SENTIMENT_HEALTHCHECK_CA_FILE", cert), "rb") as handle:
        credentials = grpc.ssl_channel_credentials(root_certificates=handle.read())
    name = os.environ.get("SENTIMENT_HEALTHCHECK_TLS_NAME", "localhost")
    return grpc.secure_channel(
        target, credentials, options=[("grpc.ssl_target_name_override", name)]
    )


def main() -> int:
    target = f"127.0.0.1:{os.environ.get('SENTIMENT_GATEWAY_PORT', '50051')}"
    try:
        with channel(target) as chan:
            reply = health_pb2_grpc.HealthStub(chan).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=3.0
            )
    except grpc.RpcError as error:
        print(f"unhealthy: {error.code().name}", file=sys.stderr)
        return 1
    serving = reply.status == health_pb2.HealthCheckResponse.SERVING
    print(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
    return 0 if serving else 1


if __name__ == "__main__":
    sys.exit(main())
