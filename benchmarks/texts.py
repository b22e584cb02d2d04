"""The texts every path is measured with: SST-2 dev sentences, and long reviews made of them.

- `sentences(data, count)`: the golden set's SST-2 dev sentences (`export.golden`), cycled
  to `count`, so every path and every round sends the same texts in the same order.
- `labelled_dev(data)`: all 872 dev sentences with their labels (the accuracy check).
- `long_reviews(sentences, count_tokens, ...)`: reviews of about `target` tokens, each
  consecutive dev sentences joined with spaces (product reviews are often this long).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

LONG_REVIEW_TOKENS = 400
"""About how long the long reviews are (special tokens included)."""
MODEL_POSITIONS = 512
"""MiniLM's position embeddings: no review may be longer."""


def sentences(data: str, count: int) -> list[str]:
    """`count` SST-2 dev sentences from the golden set (cycled when it has fewer)."""
    from export.golden import golden_texts

    texts = golden_texts(data)
    return [texts[i % len(texts)] for i in range(count)]


def labelled_dev(data: str) -> tuple[list[str], list[int]]:
    """Every SST-2 dev sentence and its label (0 negative, 1 positive), in file order."""
    from training.data import load_sst2

    dev = load_sst2(data)["dev"]
    return list(dev["sentence"]), [int(label) for label in dev["label"]]


def long_reviews(
    source: Sequence[str],
    count_tokens: Callable[[str], int],
    count: int,
    target: int = LONG_REVIEW_TOKENS,
    limit: int = MODEL_POSITIONS,
) -> list[str]:
    """`count` reviews of `target` to `limit` tokens, joined from consecutive `source` texts.

    Each review starts where the previous one stopped (wrapping around), adds sentences
    while it is under `target` tokens and drops a sentence that would take it past `limit`.
    """
    if not source:
        raise ValueError("no sentences to build long reviews from")
    reviews: list[str] = []
    position = 0
    while len(reviews) < count:
        parts: list[str] = []
        tokens = 0
        tried = 0
        while tokens < target and tried < len(source):
            candidate = " ".join([*parts, source[position % len(source)]])
            position += 1
            tried += 1
            length = count_tokens(candidate)
            if length <= limit:
                parts.append(source[(position - 1) % len(source)])
                tokens = length
        if tokens < target // 2:
            raise ValueError(f"cannot build a review of {target} tokens from these sentences")
        reviews.append(" ".join(parts))
    return reviews
