# syntax=docker/dockerfile:1
# The gRPC gateway (`sentiment gateway`): gRPC :50051, Prometheus metrics :9102.
# Build from the repository root:
#   docker build -f infra/docker/gateway.Dockerfile -t sentiment-gateway .
# Runs as a numeric non-root user on a read-only root filesystem: the only writable
# place it needs is the state volume (/var/lib/sentiment: audit spool) and /tmp.
# No secrets are baked in: SENTIMENT_DATABASE_URL, SENTIMENT_API_KEY_PEPPER and TLS files
# come from the environment (ECS: Secrets Manager) at run time.

FROM python:3.11.10-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
WORKDIR /src
RUN python -m venv /opt/venv
# Only the gateway's runtime dependencies: the training stack (torch, transformers) stays out.
# The lock (scripts/lock_requirements.py) names every package with its hashes: nothing else.
COPY infra/docker/gateway-requirements.txt ./
RUN pip install --no-cache-dir --require-hashes --no-deps -r gateway-requirements.txt
COPY pyproject.toml README.md ./
COPY config ./config
COPY contract ./contract
COPY store ./store
COPY api ./api
COPY telemetry ./telemetry
COPY client ./client
COPY training ./training
COPY export ./export
COPY serving ./serving
COPY gateway ./gateway
COPY monitoring ./monitoring
COPY retention ./retention
COPY sentiment ./sentiment
RUN pip install --no-cache-dir --no-deps . \
    && python -c "import gateway.server, sentiment.cli"

FROM python:3.11.10-slim-bookworm AS runtime
ARG UID=10001
# DL3064 flags the name TOKENIZERS_PARALLELISM (it contains "TOKEN"); it holds no secret.
# hadolint ignore=DL3064
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    SENTIMENT_STATE_DIR=/var/lib/sentiment \
    SENTIMENT_AUDIT_SPOOL_DIR=/var/lib/sentiment/audit-spool \
    SENTIMENT_MODEL_REPOSITORY=/var/lib/sentiment/model_repository \
    SENTIMENT_GATEWAY_HOST=0.0.0.0 \
    SENTIMENT_GATEWAY_PORT=50051 \
    SENTIMENT_GATEWAY_METRICS_PORT=9102
COPY --from=build /opt/venv /opt/venv
COPY --chmod=0755 infra/docker/grpc_health_check.py /usr/local/bin/grpc-health-check
COPY --chmod=0755 infra/docker/gateway_entrypoint.py /usr/local/bin/gateway-entrypoint
RUN mkdir -p /var/lib/sentiment/audit-spool /var/lib/sentiment/model_repository \
    && chown -R ${UID}:${UID} /var/lib/sentiment
USER ${UID}:${UID}
WORKDIR /var/lib/sentiment
VOLUME ["/var/lib/sentiment"]
EXPOSE 50051 9102
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/usr/local/bin/grpc-health-check"]
# SIGTERM drains in-flight calls (SENTIMENT_GATEWAY_DRAIN_SECONDS), flushes the audit spool.
STOPSIGNAL SIGTERM
# `sentiment ARGS`; builds SENTIMENT_DATABASE_URL from SENTIMENT_DB_* parts when unset.
ENTRYPOINT ["python", "/usr/local/bin/gateway-entrypoint"]
CMD ["gateway"]
