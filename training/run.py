"""`sentiment train`: data -> fine-tune -> evaluate -> MLflow run + registered version."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from tqdm import tqdm
from transformers import PreTrainedModel

from config.settings import PipelineSettings
from contract.layout import MODEL_ARTIFACT, PIPELINE_FILE, REFERENCE_ARTIFACT
from contract.pipeline import LABELS, Pipeline
from training import tracking
from training.data import load_sst2, take
from training.loop import (
    Checkpoint,
    classification_metrics,
    fit,
    predict_probabilities,
    resumable_run_id,
    seed_everything,
)
from training.model import build_model, load_tokenizer
from training.presets import PRESETS, TrainConfig
from training.reference import reference_statistics


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_name: str
    model_version: str
    metrics: dict[str, Any]


def train(
    settings: PipelineSettings, preset: str, fresh: bool = False, **overrides: Any
) -> TrainResult:
    """Train the preset (with overrides), track it in MLflow and register the model."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {sorted(PRESETS)}")
    config: TrainConfig = PRESETS[preset].with_overrides(**overrides)
    seed_everything(config.seed)
    splits = load_sst2(settings.data)
    train_split = take(splits["train"], config.train_examples, config.seed)
    dev_split = take(splits["dev"], config.dev_examples, config.seed)
    tokenizer = load_tokenizer()
    model = build_model(config.base_model, tokenizer.vocab_size, config.pooling)

    client = tracking.connect(settings)
    checkpoint = Checkpoint(settings.state_dir / "checkpoints" / f"{config.preset}.pt")
    if fresh:
        checkpoint.clear()
    resume_id = resumable_run_id(checkpoint, config)
    with mlflow.start_run(run_id=resume_id) as run:
        run_id = run.info.run_id
        if resume_id is None:
            mlflow.log_params({**config.as_params(), "data": settings.data})
            mlflow.set_tags({"train_size": len(train_split), "dev_size": len(dev_split)})
        dev_texts = list(dev_split["sentence"])
        dev_labels = np.array(dev_split["label"])

        by_epoch: dict[int, np.ndarray] = {}

        def evaluate_epoch(epoch: int, step: int, shipped: PreTrainedModel) -> None:
            # Dev accuracy after every pass: the learning curve, for choosing `epochs`.
            found = predict_probabilities(shipped, tokenizer, dev_texts, config.max_length)
            by_epoch[epoch] = found
            accuracy = classification_metrics(dev_labels, found.argmax(axis=1))["accuracy"]
            mlflow.log_metric("dev_accuracy_by_epoch", accuracy, step=epoch)
            tqdm.write(f"epoch {epoch} (step {step}): dev accuracy {accuracy:.4f}")

        steps = tracking.StepMetrics(client, run_id)
        summary = fit(
            model, tokenizer, train_split, config, checkpoint, steps, run_id, evaluate_epoch
        )
        steps.flush()

        # The last pass's evaluation already ran on the shipped weights.
        probabilities = by_epoch.get(config.epochs)
        if probabilities is None:
            probabilities = predict_probabilities(model, tokenizer, dev_texts, config.max_length)
        scores = classification_metrics(dev_labels, probabilities.argmax(axis=1))
        mlflow.log_metrics({"dev_accuracy": scores["accuracy"], "dev_f1": scores["f1"], **summary})
        mlflow.log_dict(
            {"labels": list(LABELS), "rows_are_true_labels": scores["confusion_matrix"]},
            "evaluation/confusion_matrix.json",
        )
        reference = reference_statistics(
            dev_texts, dev_labels, probabilities, np.array(train_split["label"]), tokenizer
        )
        mlflow.log_dict(reference, REFERENCE_ARTIFACT)

        with tempfile.TemporaryDirectory() as folder:
            model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            Pipeline(max_length=config.max_length, labels=LABELS).write(Path(folder, PIPELINE_FILE))
            mlflow.log_artifacts(folder, MODEL_ARTIFACT)
        version = tracking.register(client, settings.registered_model, run_id, MODEL_ARTIFACT)
        mlflow.set_tag("registered_model_version", version)
    checkpoint.clear()
    return TrainResult(
        run_id=run_id,
        model_name=settings.registered_model,
        model_version=version,
        metrics={
            "dev_accuracy": scores["accuracy"],
            "dev_f1": scores["f1"],
            "confusion_matrix": scores["confusion_matrix"],
            **summary,
        },
    )
