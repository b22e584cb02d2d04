# syntax=docker/dockerfile:1
# The model pipeline job: `sentiment train` -> `sentiment export` -> publish a release of
# the Triton model repository to S3 (infra/scripts/publish-model-release.sh); also the
# image of the batch jobs (`sentiment drift`, the scheduled `sentiment retention apply`).
# Build from the repository root:
#   docker build -f infra/docker/pipeline.Dockerfile -t sentiment-pipeline .
# Run (ECS task or any Docker host with AWS credentials), e.g.
#   docker run --rm -e SENTIMENT_MLFLOW_TRACKING_URI=http://mlflow:5000 \
#     sentiment-pipeline release s3://<models-bucket>/releases <release-id>
# torch is the CPU wheel by default (the pinned version in pyproject.toml); pass
# --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 for GPU training.
#checkov:skip=CKV_DOCKER_2:a run-to-completion batch job serves nothing to health-check; its exit code is the signal
FROM python:3.11.10-slim-bookworm
ARG UID=10001
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    SENTIMENT_STATE_DIR=/work/state \
    SENTIMENT_MODEL_REPOSITORY=/work/state/model_repository
WORKDIR /opt/sentiment
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
COPY model_repository ./model_repository
COPY backends ./backends
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" --extra-index-url https://pypi.org/simple "torch==2.13.0" \
    && pip install --no-cache-dir . "awscli==1.46.3" "boto3==1.44.8"
COPY --chmod=0755 infra/scripts/publish-model-release.sh /usr/local/bin/publish-model-release
COPY --chmod=0755 infra/scripts/pipeline-job.sh /usr/local/bin/sentiment-pipeline-job
# The gateway image's entry point: `sentiment ARGS` with SENTIMENT_DATABASE_URL assembled
# from SENTIMENT_DB_* (ECS: the RDS-managed secret), e.g. for `sentiment retention apply`.
COPY --chmod=0755 infra/docker/gateway_entrypoint.py /usr/local/bin/sentiment-entrypoint
RUN mkdir -p /work/state && chown -R ${UID}:${UID} /work
USER ${UID}:${UID}
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/sentiment-pipeline-job"]
CMD ["--help"]
