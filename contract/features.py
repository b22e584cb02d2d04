"""The drift features of a text: what training saves as the reference and the gateway
samples from traffic (the drift job compares the two, column by column)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class TextFeatures:
    """What drift detection needs of a text (stored per sample, one column each)."""

    text_length: int
    """Characters."""
    token_count: int
    """Word pieces, special tokens ([CLS], [SEP]) not counted."""
    unknown_token_rate: float
    """Share of the word pieces that are the unknown token ([UNK])."""
    non_ascii_share: float
    """Share of the characters outside ASCII."""


FEATURES: tuple[str, ...] = tuple(f.name for f in fields(TextFeatures))
"""The feature names, in column order."""


def features_of(text: str, pieces: Sequence[int], unknown_id: int | None) -> TextFeatures:
    """The features of `text`, given its word-piece ids without special tokens.

    `unknown_id` is the tokenizer's unknown-token id (None if it has none).
    """
    count = len(pieces)
    unknown = pieces.count(unknown_id) if unknown_id is not None and count else 0
    return features_from_counts(text, count, unknown)


def features_from_counts(text: str, token_count: int, unknown_count: int) -> TextFeatures:
    """The features of `text` from its word-piece count and how many are unknown (for a
    caller that counts them without building the list of pieces)."""
    non_ascii = 0 if text.isascii() else sum(ord(c) > 127 for c in text)
    return TextFeatures(
        text_length=len(text),
        token_count=token_count,
        unknown_token_rate=unknown_count / token_count if token_count else 0.0,
        non_ascii_share=non_ascii / len(text) if text else 0.0,
    )
