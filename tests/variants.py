"""Model variants the serving and rollout tests publish as new versions."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch


def shifted_model(model_dir: Path, target: Path, shift: float) -> Path:
    """A copy of the model whose positive-class bias is raised by `shift`."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    with torch.no_grad():
        model.classifier.bias[1] += shift
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(target)
    shutil.copy2(model_dir / "pipeline.json", target / "pipeline.json")
    return target
