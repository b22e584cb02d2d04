"""The golden set and serving-style batching that the parity check runs on."""

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
