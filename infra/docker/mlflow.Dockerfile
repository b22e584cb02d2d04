# syntax=docker/dockerfile:1
# MLflow tracking server at the same version as the project's client (pyproject.toml).
#   docker build -f infra/docker/mlflow.Dockerfile -t sentiment-mlflow .
# Backend store and artifact destination are arguments (local stack: SQLite + a volume;
# AWS: PostgreSQL + s3://<mlflow-artifacts-bucket>); nothing secret is baked in.
FROM python:3.11.10-slim-bookworm
ARG UID=10001
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
RUN pip install --no-cache-dir "mlflow==3.17.2" "psycopg2-binary==2.9.13" "boto3==1.44.8" \
    && mkdir -p /mlflow && chown ${UID}:${UID} /mlflow
USER ${UID}:${UID}
WORKDIR /mlflow
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:5000/health', timeout=4)"]
ENTRYPOINT ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000"]
CMD ["--backend-store-uri", "sqlite:////mlflow/mlflow.db", "--artifacts-destination", "/mlflow/artifacts"]
