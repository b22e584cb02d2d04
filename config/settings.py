"""Typed settings shared by the model pipeline commands.

Every field is read from the environment with the ``SENTIMENT_`` prefix (for example
``SENTIMENT_STATE_DIR``). The embedded defaults keep everything under one local state
directory so that a fresh clone works; each can point at a real service instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_data_dir() -> str:
    shared = PROJECT_ROOT.parent / "shared" / "data" / "sst2"
    return str(shared) if shared.is_dir() else "glue/sst2"


class PipelineSettings(BaseSettings):
    """Where the pipeline keeps its state and which services it talks to."""

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_", extra="ignore")

    state_dir: Path = PROJECT_ROOT / ".state"
    """Local state: MLflow store, model repository, Triton backends, logs."""

    data: str = Field(default_factory=_default_data_dir)
    """SST-2 source: a folder holding train.tsv/dev.tsv, or a hub dataset id (`glue/sst2`)."""

    mlflow_tracking_uri: str | None = None
    """MLflow tracking URI. Unset: `MLFLOW_TRACKING_URI`, else a SQLite store in state_dir."""

    registered_model: str = "sentiment-classifier"
    """Name of the registered MLflow model that training creates and export reads."""

    model_repository: str | None = None
    """Triton model repository (a path, or `s3://...` for the server). Default: state_dir."""

    triton_http_port: int = 8000
    """Triton HTTP/REST port."""

    triton_grpc_port: int = 8001
    """Triton gRPC port."""

    triton_metrics_port: int = 8002
    """Triton Prometheus metrics port."""

    triton_url: str | None = None
    """A running Triton's HTTP address (host:port) for `models`/`export`; default localhost."""

    def repository_path(self) -> str:
        return self.model_repository or str(self.state_dir / "model_repository")

    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        if os.environ.get("MLFLOW_TRACKING_URI"):
            return os.environ["MLFLOW_TRACKING_URI"]
        return f"sqlite:///{self.state_dir / 'mlflow' / 'mlflow.db'}"

    def artifact_root(self) -> str:
        return str(self.state_dir / "mlflow" / "artifacts")

    def http_url(self) -> str:
        return self.triton_url or f"127.0.0.1:{self.triton_http_port}"
