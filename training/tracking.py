"""MLflow: experiment set-up, batched step metrics, and model registration."""

from __future__ import annotations

import time

import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from config.settings import PipelineSettings

EXPERIMENT = "sentiment"


def connect(settings: PipelineSettings) -> MlflowClient:
    """Point MLflow at the configured store and make sure the experiment exists."""
    uri = settings.tracking_uri()
    if uri.startswith("sqlite:///"):
        settings.state_dir.joinpath("mlflow").mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri)
    if client.get_experiment_by_name(EXPERIMENT) is None:
        # The embedded store keeps artifacts beside it; a remote server chooses its own.
        local = uri == PipelineSettings(state_dir=settings.state_dir).tracking_uri()
        client.create_experiment(
            EXPERIMENT, artifact_location=settings.artifact_root() if local else None
        )
    mlflow.set_experiment(EXPERIMENT)
    return client


class StepMetrics:
    """Collects per-step loss and writes it to MLflow in batches (one request per batch)."""

    def __init__(self, client: MlflowClient, run_id: str, every: int = 25) -> None:
        self._client = client
        self._run_id = run_id
        self._every = every
        self._pending: list[Metric] = []

    def __call__(self, step: int, loss: float) -> None:
        self._pending.append(Metric("train_loss", loss, int(time.time() * 1000), step))
        if len(self._pending) >= self._every:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._client.log_batch(self._run_id, metrics=self._pending)
            self._pending = []


def register(client: MlflowClient, name: str, run_id: str, artifact_path: str) -> str:
    """Register the run's model folder as a new version of `name`; returns the version."""
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(name, description="Binary sentiment classifier (SST-2).")
    source = f"{client.get_run(run_id).info.artifact_uri}/{artifact_path}"
    version = client.create_model_version(name, source=source, run_id=run_id)
    return str(version.version)
