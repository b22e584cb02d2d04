"""Reference statistics that drift detection compares live traffic against.

Saved at training time from the dev set: one row of features per sentence (what the
gateway will compute for sampled traffic) plus summaries of them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
from transformers import PreTrainedTokenizerBase

from contract.features import FEATURES, features_of
from contract.pipeline import LABELS


def text_features(texts: list[str], tokenizer: PreTrainedTokenizerBase) -> list[dict[str, Any]]:
    """Per-text drift features (`contract.features`: the gateway's), one dict per text."""
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    unknown_id = tokenizer.unk_token_id
    return [
        asdict(features_of(text, ids, unknown_id)) for text, ids in zip(texts, encoded, strict=True)
    ]


def _summary(values: np.ndarray) -> dict[str, float]:
    quantiles = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95]) if len(values) else [0.0] * 5
    return {
        "mean": float(values.mean()) if len(values) else 0.0,
        "std": float(values.std()) if len(values) else 0.0,
        "p05": float(quantiles[0]),
        "p25": float(quantiles[1]),
        "p50": float(quantiles[2]),
        "p75": float(quantiles[3]),
        "p95": float(quantiles[4]),
    }


def reference_statistics(
    texts: list[str],
    labels: np.ndarray,
    probabilities: np.ndarray,
    train_labels: np.ndarray,
    tokenizer: PreTrainedTokenizerBase,
) -> dict[str, Any]:
    """The reference document: per-sample rows and per-feature summaries."""
    rows = text_features(texts, tokenizer)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    for row, label, guess, conf in zip(rows, labels, predicted, confidence, strict=True):
        row.update({"label": int(label), "prediction": int(guess), "confidence": float(conf)})

    def shares(values: np.ndarray) -> dict[str, float]:
        counts = np.bincount(values.astype(int), minlength=len(LABELS))
        total = max(int(counts.sum()), 1)
        return {LABELS[i]: float(counts[i] / total) for i in range(len(LABELS))}

    summaries = {name: _summary(np.array([r[name] for r in rows])) for name in FEATURES}
    summaries["confidence"] = _summary(confidence)
    histogram, edges = np.histogram(confidence, bins=10, range=(0.5, 1.0))
    return {
        "source": "dev",
        "samples": len(rows),
        "features": list(FEATURES),
        "summaries": summaries,
        "label_shares": {
            "train": shares(train_labels),
            "dev": shares(labels),
            "dev_predicted": shares(predicted),
        },
        "confidence_histogram": {"edges": edges.tolist(), "counts": histogram.tolist()},
        "rows": rows,
    }
