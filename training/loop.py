"""A seeded, resumable fine-tuning loop with a progress bar, and dev-set evaluation."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from datasets import Dataset
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader
from tqdm import tqdm
from transformers import (
    DataCollatorWithPadding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    get_linear_schedule_with_warmup,
)

from training.presets import TrainConfig

StepCallback = Callable[[int, float], None]
EpochCallback = Callable[[int, int, PreTrainedModel], None]
"""Called after each pass over the training data with (epochs done, steps done, the model
as it would ship now: the moving average when the run keeps one)."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def tokenize(split: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Dataset:
    def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
        return tokenizer(batch["sentence"], truncation=True, max_length=max_length)

    return split.map(encode, batched=True, remove_columns=["sentence"]).rename_column(
        "label", "labels"
    )


def length_grouped_batches(
    lengths: list[int], batch_size: int, seed: int, group: int = 50
) -> list[list[int]]:
    """Seeded batches of similar-length examples, in random order.

    Indices are shuffled, cut into groups of `group` batches, sorted by length inside each
    group, then batched; the batches are shuffled again. Padding to each batch's longest
    example then wastes little compute (SST-2 phrases run from 1 to ~50 tokens), while the
    order stays random. The same seed always gives the same batches, so a resumed run
    skips exactly the batches it had trained on.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    span = batch_size * group
    batches: list[list[int]] = []
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lambda i: lengths[i], reverse=True)
        batches.extend(
            [int(i) for i in chunk[b : b + batch_size]] for b in range(0, len(chunk), batch_size)
        )
    return [batches[i] for i in rng.permutation(len(batches))]


def _loader(
    encoded: Dataset, tokenizer: PreTrainedTokenizerBase, batches: list[list[int]]
) -> DataLoader:
    return DataLoader(
        encoded.with_format("torch"),
        batch_sampler=batches,
        collate_fn=DataCollatorWithPadding(tokenizer),  # pads each batch to its own longest
        # Its own generator: a DataLoader draws a base seed when iterated, and drawing it
        # from the global RNG would shift dropout after a resume.
        generator=torch.Generator().manual_seed(0),
    )


@dataclass
class Checkpoint:
    """Training state saved every `checkpoint_every` steps; a run resumes from it."""

    path: Path

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        torch.save(state, partial)
        os.replace(partial, self.path)  # never leave a half-written checkpoint behind

    def load(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        return torch.load(self.path, weights_only=False)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def parameter_groups(model: PreTrainedModel, config: TrainConfig) -> list[dict[str, Any]]:
    """AdamW parameter groups: learning-rate scale by depth, and where weight decay applies.

    Biases and LayerNorm weights take no weight decay. With `layer_lr_decay` < 1 the
    classifier (and pooler) learn at the full rate, the top encoder layer at `decay` times
    it, the one below at `decay`**2, and so on down to the embeddings: the lower layers,
    which hold the most general features, move least.
    """
    layers = model.config.num_hidden_layers
    no_decay = ("bias", "LayerNorm.weight")
    groups: dict[tuple[int, bool], list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if ".embeddings." in f".{name}":
            depth = 0
        elif ".encoder.layer." in name:
            depth = int(name.split(".encoder.layer.")[1].split(".")[0]) + 1
        else:
            depth = layers + 1
        groups.setdefault((depth, name.endswith(no_decay)), []).append(parameter)
    return [
        {
            "params": parameters,
            "lr": config.learning_rate * config.layer_lr_decay ** (layers + 1 - depth),
            "weight_decay": 0.0 if exempt else config.weight_decay,
        }
        for (depth, exempt), parameters in sorted(groups.items())
    ]


def fit(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train: Dataset,
    config: TrainConfig,
    checkpoint: Checkpoint,
    on_step: StepCallback,
    run_id: str,
    on_epoch: EpochCallback | None = None,
) -> dict[str, float]:
    """Fine-tune `model` in place; returns summary numbers (steps, seconds, examples/s).

    Resumes from `checkpoint` when it holds a state of the same configuration (one of
    another configuration is ignored, and overwritten at the next save). `on_epoch`
    may evaluate the model (it is put back in training mode afterwards).
    """
    encoded = tokenize(train, tokenizer, config.max_length)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    steps_per_epoch = -(-len(encoded) // config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    groups = parameter_groups(model, config)
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(config.warmup_ratio * total_steps), total_steps
    )
    averaged = None
    if config.ema_decay is not None:
        averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay))

    step = 0
    saved = checkpoint.load()
    if saved is not None and saved["config"] == config.as_params():
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        if averaged is not None:
            averaged.load_state_dict(saved["averaged"])
        torch.set_rng_state(saved["torch_rng"])
        step = saved["step"]

    model.train()
    started = time.perf_counter()
    examples = 0
    progress = tqdm(total=total_steps, initial=step, desc=f"train[{config.preset}]", unit="step")
    for epoch in range(step // steps_per_epoch, config.epochs):
        batches = length_grouped_batches(lengths, config.batch_size, config.seed + epoch)
        done = step - epoch * steps_per_epoch  # batches of this epoch trained before a resume
        for batch in _loader(encoded, tokenizer, batches[done:]):
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            if averaged is not None:
                averaged.update_parameters(model)
            optimizer.zero_grad(set_to_none=True)
            step += 1
            examples += len(batch["labels"])
            rate = examples / (time.perf_counter() - started)
            progress.set_postfix(loss=f"{loss.item():.4f}", ex_per_s=f"{rate:.0f}")
            progress.update()
            on_step(step, loss.item())
            if step % config.checkpoint_every == 0 and step < total_steps:
                checkpoint.save(
                    {
                        "config": config.as_params(),
                        "step": step,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "torch_rng": torch.get_rng_state(),
                        "averaged": None if averaged is None else averaged.state_dict(),
                        "run_id": run_id,
                    }
                )
        if on_epoch is not None:
            shipped = model if averaged is None else cast(PreTrainedModel, averaged.module)
            on_epoch(epoch + 1, step, shipped)
            model.train()
    progress.close()
    if averaged is not None:
        with torch.no_grad():
            for weight, average in zip(
                model.parameters(), averaged.module.parameters(), strict=True
            ):
                weight.copy_(average)
    seconds = time.perf_counter() - started
    return {
        "train_steps": float(step),
        "train_seconds": seconds,
        "train_examples_per_s": examples / seconds if seconds else 0.0,
    }


@torch.inference_mode()
def predict_probabilities(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    max_length: int,
    batch_size: int = 64,
) -> np.ndarray:
    """Class probabilities, shape (len(texts), num_labels), eager PyTorch."""
    model.eval()
    chunks = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[start : start + batch_size],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        chunks.append(torch.softmax(model(**batch).logits, dim=-1).numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, model.config.num_labels))


def classification_metrics(labels: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Accuracy, F1 of the positive class, and the confusion matrix (rows: true label)."""
    confusion = np.zeros((2, 2), dtype=int)
    for truth, guess in zip(labels, predicted, strict=True):
        confusion[truth, guess] += 1
    tp, fp, fn = confusion[1, 1], confusion[0, 1], confusion[1, 0]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": float((labels == predicted).mean()) if len(labels) else 0.0,
        "f1": float(f1),
        "confusion_matrix": confusion.tolist(),
    }


def resumable_run_id(checkpoint: Checkpoint, config: TrainConfig) -> str | None:
    """The MLflow run a checkpoint belongs to, when it was made with this configuration."""
    saved = checkpoint.load()
    if saved is None or saved["config"] != config.as_params():
        return None
    return str(saved["run_id"])
