"""Settings of the model pipeline, shared by the commands that train, export and serve it.

Variables carry no component word: `SENTIMENT_DATA`, `SENTIMENT_MLFLOW_TRACKING_URI`,
`SENTIMENT_REGISTERED_MODEL`, `SENTIMENT_MODEL_REPOSITORY` (and the shared
`SENTIMENT_STATE_DIR`, `SENTIMENT_LOG_LEVEL`). The embedded defaults keep everything
under one local state directory so that a fresh clone works; each can point at a real
service instead. Triton's address is `triton` (`config.triton.TritonSettings`).
"""

from __future__ import annotations

import os

from pydantic import Field

from config.base import PROJECT_ROOT, ComponentSettings
from config.triton import TritonSettings

__all__ = ["PROJECT_ROOT", "PipelineSettings"]


def _default_data_dir() -> str:
    shared = PROJECT_ROOT.parent / "shared" / "data" / "sst2"
    return str(shared) if shared.is_dir() else "glue/sst2"


class PipelineSettings(ComponentSettings):
    """Where the pipeline keeps its state and which services it talks to."""

    data: str = Field(default_factory=_default_data_dir)
    """SST-2 source: a folder holding train.tsv/dev.tsv, or a hub dataset id (`glue/sst2`)."""

    mlflow_tracking_uri: str | None = None
    """MLflow tracking URI. Unset: `MLFLOW_TRACKING_URI`, else a SQLite store in state_dir."""

    registered_model: str = "sentiment-classifier"
    """Name of the registered MLflow model that training creates and export reads."""

    model_repository: str | None = None
    """Triton model repository (a path, or `s3://...` for the server). Default: state_dir."""

    triton: TritonSettings = Field(default_factory=TritonSettings)
    """The Triton that `triton`/`up` start and `models`/`export` call (`SENTIMENT_TRITON_*`)."""

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
