"""The model's serving contract: labels, token limit, padding lengths and how a text over
the limit is truncated on request, and the `pipeline.json` document that carries the
numbers inside every exported artifact.

Training writes `pipeline.json` into the trained folder; export writes the served form
(this module's current format) into the version folders of Triton's Python models, which
cannot import this package and read it instead; the gateway reads the tokenizer's copy.
A document without `format_version` is format 1 (an earlier release: `max_length` and
`labels` only); readers fill what it lacks from the defaults here, so start-up never
breaks on an old state directory, and `sentiment models` reports it as not current.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from contract.layout import TOKENIZER_DIR

LABELS: tuple[str, ...] = ("negative", "positive")
"""Class index -> label name (SST-2's 0 and 1); the logits' order."""

LENGTH_BUCKETS: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
"""Padding lengths the serving tokenizer chooses from (those below `max_length`, then
`max_length` itself): Triton batches only equal shapes, and padding every text to one
fixed length costs 4x on CPU (docs/DESIGN: measured)."""

DEFAULT_MAX_LENGTH = 128
"""Token limit assumed when no `pipeline.json` says otherwise (a model exported by an
earlier release; export now writes the model's position limit, `position_limit`)."""

TRUNCATION_PARAMETER = "truncation"
"""Triton inference request parameter (string) asking the text models to truncate a text
over `max_length` instead of refusing it; absent (or `none`) refuses it."""

TRUNCATE_HEAD = "head"
"""Keep the first `max_length - specials` content tokens."""

TRUNCATE_HEAD_TAIL = "head_tail"
"""Keep the first quarter of the content budget (rounded down) and the rest from the end."""

TRUNCATIONS: tuple[str, ...] = (TRUNCATE_HEAD, TRUNCATE_HEAD_TAIL)
"""The values of TRUNCATION_PARAMETER that cut a long text (Triton's models also take
`none`, the same as no parameter)."""

PIPELINE_FORMAT_VERSION = 2
"""Format of the `pipeline.json` this release writes: 2 adds `format_version`,
`length_buckets` and `tokenizer_dir` to format 1's `max_length` and `labels`."""

LEGACY_FORMAT_VERSION = 1
"""The format of a document without `format_version` (written by earlier releases)."""


class PipelineError(ValueError):
    """A pipeline.json (or the values for one) that breaks the contract."""


def padding_lengths(max_length: int, buckets: Iterable[int] = LENGTH_BUCKETS) -> tuple[int, ...]:
    """The padding lengths in use for `max_length`: the buckets below it, then max_length.

    Every text of at most `max_length` tokens has one (the last is max_length itself).
    """
    if max_length < 1:
        raise PipelineError(f"max_length must be positive, not {max_length}")
    return (*sorted({int(b) for b in buckets if 0 < int(b) < max_length}), max_length)


def padding_length(tokens: int, lengths: Sequence[int]) -> int:
    """The smallest of `lengths` (ascending, from `padding_lengths`) holding `tokens`.

    Raises ValueError when `tokens` is over the largest (over `max_length`).
    """
    for length in lengths:
        if length >= tokens:
            return length
    raise ValueError(f"{tokens} tokens are over the limit of {lengths[-1]}")


def kept_ranges(
    special: Sequence[int], max_length: int, truncation: str
) -> tuple[tuple[int, int], ...]:
    """The [start, end) ranges of a too-long encoding that truncation keeps.

    `special` is the encoding's special-tokens mask ([CLS] ... [SEP]: 1 0 ... 0 1). The
    special tokens at both ends stay; the content between them is cut to the budget B =
    `max_length` - their count: `head` keeps its first B tokens, `head_tail` its first
    B // 4 and its last B - B // 4 (127 + 383 for 512; Sun et al. 2019 used 128 + 382).
    An encoding within `max_length` is kept whole. Triton's text models (which cannot
    import this) cut the same way: the gateway's token counts and drift features are of
    what the model reads.
    """
    length = len(special)
    if length <= max_length:
        return ((0, length),)
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation must be one of {TRUNCATIONS}, not {truncation!r}")
    lead = next((i for i, s in enumerate(special) if not s), length)
    trail = next((i for i, s in enumerate(reversed(special)) if not s), 0)
    budget = max(max_length - lead - trail, 0)
    head = budget if truncation == TRUNCATE_HEAD else budget // 4
    tail = budget - head
    return ((0, lead + head), (length - trail - tail, length))


@dataclass(frozen=True)
class Pipeline:
    """What a served model promises: its labels, token limit and padding lengths."""

    max_length: int
    """Longest tokenized input (special tokens included); longer texts are refused unless
    the request asks to truncate them (TRUNCATION_PARAMETER). In a trained folder it is
    the training max_length; in a served version the model's position limit."""
    labels: tuple[str, ...] = LABELS
    """Class index -> label name, in the classifier's logit order."""
    length_buckets: tuple[int, ...] = field(default=())
    """Padding lengths, ascending, ending at max_length; () means `padding_lengths`."""
    format_version: int = PIPELINE_FORMAT_VERSION
    """The document format this was read from (or is written in)."""
    tokenizer_dir: str = TOKENIZER_DIR
    """Folder, next to pipeline.json in the tokenizer's version, holding tokenizer.json."""

    def __post_init__(self) -> None:
        if not self.length_buckets and isinstance(self.max_length, int):
            object.__setattr__(self, "length_buckets", padding_lengths(self.max_length))
        problem = _problem(self)
        if problem:
            raise PipelineError(problem)

    @property
    def is_current(self) -> bool:
        """Whether the document is in this release's format (else: re-export it)."""
        return self.format_version == PIPELINE_FORMAT_VERSION

    def served(
        self, buckets: Iterable[int] = LENGTH_BUCKETS, max_length: int | None = None
    ) -> Pipeline:
        """The document export writes into a version: current format, these buckets, and
        `max_length` (the served token limit: export passes the model's position limit;
        None keeps this document's, the training max_length)."""
        limit = self.max_length if max_length is None else max_length
        return Pipeline(
            max_length=limit,
            labels=self.labels,
            length_buckets=padding_lengths(limit, buckets),
            tokenizer_dir=self.tokenizer_dir,
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON document (every field, so Triton's models need no defaults)."""
        return {
            "format_version": self.format_version,
            "max_length": self.max_length,
            "labels": list(self.labels),
            "length_buckets": list(self.length_buckets),
            "tokenizer_dir": self.tokenizer_dir,
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Pipeline:
        """Read a document of any format; what an older one lacks comes from the defaults."""
        if not isinstance(document, Mapping):
            raise PipelineError(f"pipeline.json must hold an object, not {type(document).__name__}")
        if "max_length" not in document:
            raise PipelineError("pipeline.json has no max_length")
        max_length = _integer(document["max_length"], "max_length")
        buckets = _sequence(document.get("length_buckets", ()), "length_buckets")
        return cls(
            max_length=max_length,
            labels=tuple(_strings(document.get("labels", LABELS))),
            length_buckets=tuple(_integer(b, "length_buckets") for b in buckets),
            format_version=_integer(
                document.get("format_version", LEGACY_FORMAT_VERSION), "format_version"
            ),
            tokenizer_dir=str(document.get("tokenizer_dir", TOKENIZER_DIR)),
        )

    @classmethod
    def read(cls, path: Path) -> Pipeline:
        """Read `path`; raises PipelineError (naming the file) when missing or invalid."""
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise PipelineError(f"cannot read {path}: {error}") from None
        try:
            return cls.from_dict(document)
        except PipelineError as error:
            raise PipelineError(f"{path}: {error}") from None

    def write(self, path: Path) -> Path:
        """Write the document to `path` (indented JSON); returns `path`."""
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        return path


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PipelineError(f"{name} must be an integer, not {value!r}")
    return value


def _sequence(value: Any, name: str) -> Sequence[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise PipelineError(f"{name} must be a list, not {value!r}")
    return value


def _strings(value: Any) -> list[str]:
    items = _sequence(value, "labels")
    if not all(isinstance(item, str) for item in items):
        raise PipelineError(f"labels must be strings, not {list(items)!r}")
    return list(items)


def _problem(pipeline: Pipeline) -> str | None:
    """Why `pipeline` breaks the contract, or None (the Triton models check the same)."""
    max_length, labels, buckets = pipeline.max_length, pipeline.labels, pipeline.length_buckets
    if not isinstance(max_length, int) or max_length < 2:
        return f"max_length must be an integer of at least 2, not {max_length!r}"
    if len(labels) < 2 or len(set(labels)) != len(labels):
        return f"labels must be at least two distinct names, not {list(labels)!r}"
    if any(not label or label.split() != [label] for label in labels):
        return f"labels must be non-empty names without whitespace, not {list(labels)!r}"
    ascending = all(a < b for a, b in pairwise(buckets))
    if not buckets or buckets[0] < 1 or not ascending or buckets[-1] != max_length:
        return (
            f"length_buckets must ascend from a positive length to max_length {max_length}, "
            f"not {list(buckets)!r}"
        )
    if pipeline.format_version < LEGACY_FORMAT_VERSION:
        return f"format_version must be at least {LEGACY_FORMAT_VERSION}"
    if not pipeline.tokenizer_dir or "/" in pipeline.tokenizer_dir:
        return f"tokenizer_dir must be a folder name, not {pipeline.tokenizer_dir!r}"
    return None
