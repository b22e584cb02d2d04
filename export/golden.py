"""The golden set and serving-style batching that the parity check runs on.

The golden set is SST-2 dev sentences (`golden_texts`, 60 tokens at most) and, added by
the parity check where the model's tokenizer is at hand, a few long texts made of them
(`long_texts`): served texts go up to the model's 512 tokens, and the padding lengths
256 and 512 must be checked as much as the short ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from transformers import PreTrainedTokenizerBase

from contract.pipeline import padding_length, padding_lengths
from training.data import load_sst2

GOLDEN_SIZE = 256


def golden_texts(data_source: str, size: int = GOLDEN_SIZE) -> list[str]:
    """The first `size` distinct SST-2 dev sentences in sorted order (deterministic).

    `data_source` is what `PipelineSettings.data` holds (a folder with `dev.tsv`, or a hub
    id). Sorting makes the set independent of file order; it still spans all lengths.
    """
    sentences = sorted({s for s in load_sst2(data_source)["dev"]["sentence"] if s.strip()})
    if len(sentences) < size:
        raise ValueError(f"SST-2 dev has {len(sentences)} usable sentences, need {size}")
    return sentences[:size]


def long_texts(
    sentences: Sequence[str],
    tokenizer: PreTrainedTokenizerBase,
    targets: Sequence[int],
    max_length: int,
) -> list[str]:
    """One text per target length: `sentences` joined with spaces, in order from a point
    that differs per target (so the texts differ), wrapping round, while the text stays
    within the target in tokens (special tokens included). Targets over `max_length`
    count as `max_length`; equal targets give one text. Deterministic for a given
    tokenizer: the parity gate's long texts are reproducible.
    """
    if not sentences:
        return []
    texts: list[str] = []
    limits = sorted({min(int(t), max_length) for t in targets if int(t) > 0})
    for number, limit in enumerate(limits):
        start = number * len(sentences) // max(len(limits), 1)
        chosen: list[str] = []
        for step in range(len(sentences)):
            candidate = [*chosen, sentences[(start + step) % len(sentences)]]
            if len(tokenizer(" ".join(candidate))["input_ids"]) > limit:
                break
            chosen = candidate
        if len(chosen) > 1:
            texts.append(" ".join(chosen))
    return texts


@dataclass(frozen=True)
class Batch:
    """One batch as Triton would form it: texts whose requests share one padded length."""

    indices: np.ndarray
    """Positions of the batch's texts in the golden set."""
    input_ids: np.ndarray
    attention_mask: np.ndarray


def serving_batches(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    buckets: Sequence[int],
    max_length: int,
    batch_size: int,
) -> Iterator[Batch]:
    """Encode `texts` one per request, padded to the smallest bucket that holds each, and
    group equal lengths into batches of at most `batch_size` (Triton batches equal shapes).

    The padding lengths are the serving tokenizer's: `contract.pipeline.padding_lengths`
    of `buckets` and `max_length`. Raises ValueError for a text longer than `max_length`
    tokens (serving rejects it).
    """
    sizes = padding_lengths(max_length, buckets)
    lengths = [len(ids) for ids in tokenizer(list(texts))["input_ids"]]
    by_bucket: dict[int, list[int]] = {}
    for index, length in enumerate(lengths):
        if length > max_length:
            raise ValueError(f"golden text {index} has {length} tokens > max_length {max_length}")
        bucket = padding_length(length, sizes)
        by_bucket.setdefault(bucket, []).append(index)
    for bucket, members in sorted(by_bucket.items()):
        for start in range(0, len(members), batch_size):
            chunk = members[start : start + batch_size]
            encoded = tokenizer(
                [texts[i] for i in chunk],
                padding="max_length",
                max_length=bucket,
                return_tensors="np",
            )
            yield Batch(
                indices=np.array(chunk),
                input_ids=encoded["input_ids"].astype(np.int64),
                attention_mask=encoded["attention_mask"].astype(np.int64),
            )
