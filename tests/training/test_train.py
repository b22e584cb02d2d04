from __future__ import annotations

import json
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from config.settings import PipelineSettings
from contract.features import FEATURES
from contract.layout import PIPELINE_FILE, REFERENCE_ARTIFACT
from contract.pipeline import LABELS, Pipeline
from training.run import TrainResult, train


def test_run_is_tracked_and_registered(
    pipeline_settings: PipelineSettings, tiny_run: TrainResult
) -> None:
    client = MlflowClient(pipeline_settings.tracking_uri())
    run = client.get_run(tiny_run.run_id)
    assert run.data.params["preset"] == "tiny"
    assert run.data.params["max_length"] == "128"
    assert 0.0 <= run.data.metrics["dev_accuracy"] <= 1.0
    history = client.get_metric_history(tiny_run.run_id, "train_loss")
    assert [m.step for m in history] == list(range(1, 9))  # 256 examples / batch 32
    by_epoch = client.get_metric_history(tiny_run.run_id, "dev_accuracy_by_epoch")
    assert [m.step for m in by_epoch] == [1]  # one pass; its value is the final accuracy
    assert by_epoch[0].value == run.data.metrics["dev_accuracy"]

    version = client.get_model_version(pipeline_settings.registered_model, tiny_run.model_version)
    assert version.run_id == tiny_run.run_id
    artifacts = {a.path for a in client.list_artifacts(tiny_run.run_id, "model")}
    assert f"model/{PIPELINE_FILE}" in artifacts
    assert "model/config.json" in artifacts and "model/tokenizer.json" in artifacts
    # Artifacts of the embedded store stay inside the state dir, not the working directory.
    assert str(pipeline_settings.state_dir) in run.info.artifact_uri


def test_trained_folder_carries_the_contract(tiny_model_dir: Path) -> None:
    pipeline = Pipeline.read(tiny_model_dir / PIPELINE_FILE)
    assert pipeline.is_current
    assert (pipeline.max_length, pipeline.labels) == (128, LABELS)
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(len(LABELS))] == list(LABELS)


def test_reference_statistics_describe_the_dev_set(tiny_run: TrainResult) -> None:
    reference = mlflow.artifacts.load_dict(f"runs:/{tiny_run.run_id}/{REFERENCE_ARTIFACT}")
    assert reference["samples"] == len(reference["rows"]) == 128
    row = reference["rows"][0]
    assert set(FEATURES) <= set(row) and {"label", "prediction", "confidence"} <= set(row)
    assert set(reference["label_shares"]["dev"]) == set(LABELS)
    assert all(0.5 <= r["confidence"] <= 1.0 for r in reference["rows"])
    assert sum(reference["label_shares"]["dev"].values()) == 1.0
    assert reference["summaries"]["token_count"]["mean"] > 1


def test_same_seed_gives_the_same_model(
    tmp_path, pipeline_settings: PipelineSettings, tiny_run: TrainResult
) -> None:
    other = PipelineSettings(state_dir=tmp_path)
    again = train(other, "tiny")

    def losses(settings: PipelineSettings, run_id: str) -> list[float]:
        history = MlflowClient(settings.tracking_uri()).get_metric_history(run_id, "train_loss")
        return [m.value for m in sorted(history, key=lambda m: m.step)]

    assert losses(other, again.run_id) == losses(pipeline_settings, tiny_run.run_id)
    assert again.metrics["confusion_matrix"] == tiny_run.metrics["confusion_matrix"]
