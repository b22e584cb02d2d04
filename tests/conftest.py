"""Fixtures shared by every test folder: an isolated state dir and a trained tiny model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.pop("MLFLOW_TRACKING_URI", None)  # tests use their own embedded store
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from config.settings import PipelineSettings
from training.run import TrainResult, train

pytest_plugins = ["tests.databases"]


@pytest.fixture(scope="session")
def session_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="session")
def pipeline_settings(session_state: Path) -> PipelineSettings:
    """Settings whose MLflow store and model repository live in a temporary folder."""
    return PipelineSettings(state_dir=session_state, mlflow_tracking_uri=None)


@pytest.fixture(scope="session")
def tiny_run(pipeline_settings: PipelineSettings) -> TrainResult:
    """One `--preset tiny` training run (random tiny BERT, seconds), registered in MLflow."""
    return train(pipeline_settings, "tiny")


@pytest.fixture(scope="session")
def tiny_model_dir(
    tiny_run: TrainResult, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The tiny run's model artifact folder (HF model + tokenizer + pipeline.json)."""
    import mlflow

    target = tmp_path_factory.mktemp("tiny_model")
    mlflow.artifacts.download_artifacts(
        run_id=tiny_run.run_id, artifact_path="model", dst_path=str(target)
    )
    yield target / "model"
