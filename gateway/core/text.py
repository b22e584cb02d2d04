"""The served model's tokenizer, seen from the gateway: token limits, labels and drift
features.

The gateway counts word pieces with the same `tokenizer.json` that Triton's tokenizer
step loads, so a text over the limit is refused with a field violation before it costs a
model call, and sampled texts get the features that `training.reference` computes (both
through `contract.features`). The limit and the labels come from the version's
`pipeline.json`; an older file without labels gets the contract's. A text the request asks
to truncate is cut as Triton cuts it (`contract.pipeline.kept_ranges`): its model token
count and token features are those of what the model reads.

Tokenizing costs more than anything else the gateway does for a short text, so a request
that needs neither drift features nor truncation skips it when `tokens_at_most` proves
every text within the limit without tokenizing (Triton's tokenizer enforces the same
limit in any case).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from contract.features import TextFeatures, features_from_counts
from contract.layout import PIPELINE_FILE, TOKENIZER, latest_version_folder
from contract.pipeline import DEFAULT_MAX_LENGTH, Pipeline, PipelineError, kept_ranges
from gateway.core.errors import ConfigurationError

OFFLOAD_CHARS = 4096
"""Requests with more text than this are tokenized on a worker thread (the service's
choice), with the tokenizer call that releases the GIL (`analyze`): a long request must
not hold the event loop, and every other caller, while the tokenizer runs. Texts have no
character limit (the token limit decides), so up to the message size (1 MiB by default,
about a second of tokenizing) can arrive in one text."""


@dataclass(frozen=True)
class AnalyzedText:
    """A text's token counts (special tokens included) and its drift features."""

    model_tokens: int
    """Tokens the model reads: all of them, or what truncation keeps."""
    features: TextFeatures
    """Token count and unknown-token rate of what the model reads; length in characters
    and non-ASCII share of the text as sent."""
    tokens: int
    """Tokens of the whole text (model_tokens when not truncated)."""

    @property
    def truncated(self) -> bool:
        """Whether the model reads less than the whole text."""
        return self.tokens > self.model_tokens


class TextAnalyzer:
    """Counts tokens and computes drift features with the served tokenizer."""

    def __init__(self, tokenizer: Tokenizer, pipeline: Pipeline) -> None:
        self._tokenizer = tokenizer
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.pipeline = pipeline
        unk_token = getattr(tokenizer.model, "unk_token", None) or "[UNK]"
        self._unk_id = tokenizer.token_to_id(unk_token)
        self._specials = tokenizer.num_special_tokens_to_add(False)
        self._bounded = _one_token_per_ascii_char_at_most(tokenizer)

    @property
    def max_length(self) -> int:
        """The served model's token limit (special tokens included)."""
        return self.pipeline.max_length

    @property
    def labels(self) -> list[str]:
        """The served model's label names, in the order of its probabilities."""
        return list(self.pipeline.labels)

    @classmethod
    def from_dir(cls, folder: Path) -> TextAnalyzer:
        """`folder/tokenizer.json`, with the contract of `folder/../pipeline.json` (when
        there is none: the contract's labels and a limit of DEFAULT_MAX_LENGTH tokens)."""
        return cls._load(folder, _read_pipeline(folder.parent / PIPELINE_FILE))

    @classmethod
    def from_repository(cls, repository: Path) -> TextAnalyzer:
        """The newest version of the tokenizer model in a local Triton repository."""
        version = latest_version_folder(repository / TOKENIZER)
        if version is None:
            raise ConfigurationError(
                f"SENTIMENT_GATEWAY_TOKENIZER_DIR: unset and no {TOKENIZER} version in "
                f"{repository}; publish a model or point the setting at a tokenizer folder"
            )
        pipeline = _read_pipeline(version / PIPELINE_FILE)
        return cls._load(version / pipeline.tokenizer_dir, pipeline)

    @classmethod
    def _load(cls, folder: Path, pipeline: Pipeline) -> TextAnalyzer:
        file = folder / "tokenizer.json"
        if not file.is_file():
            raise ConfigurationError(
                f"SENTIMENT_GATEWAY_TOKENIZER_DIR: no tokenizer.json in {folder}"
            )
        return cls(Tokenizer.from_file(str(file)), pipeline)

    def tokens_at_most(self, text: str) -> int | None:
        """An upper bound on `text`'s token count (special tokens included) found without
        tokenizing it; None when there is none.

        With a BERT-style WordPiece tokenizer, every token of an ASCII text covers at least
        one of its characters: the normalizer only drops or lowercases ASCII characters,
        the pre-tokenizer splits on spaces and punctuation, and each word piece, or the one
        [UNK] of a word, covers one character or more. Outside ASCII there is no such
        bound (NFD and case mapping lengthen a text), nor for other tokenizers.
        """
        if not self._bounded or not text.isascii():
            return None
        return len(text) + self._specials

    def analyze(self, texts: list[str], truncation: str | None = None) -> list[AnalyzedText]:
        """Count and describe `texts`; `truncation` (`contract.pipeline.TRUNCATIONS`, None
        for none) cuts those over the model's max_length as Triton will."""
        results = []
        if sum(len(text) for text in texts) > OFFLOAD_CHARS:
            # Called on a worker thread: encode_batch releases the GIL while it tokenizes,
            # encode holds it throughout (measured: 920,000 characters, 1.2 s in which no
            # other thread, the event loop's included, ran once; encode_batch, 790 times).
            encodings = self._tokenizer.encode_batch(texts)
        else:
            # encode_batch fans out to a thread pool: not worth it for a few short texts.
            encodings = [self._tokenizer.encode(text) for text in texts]
        unk = self._unk_id
        limit = self.max_length
        for text, encoding in zip(texts, encodings, strict=True):
            ids = encoding.ids
            special = encoding.special_tokens_mask
            tokens = len(ids)
            if truncation is not None and tokens > limit:
                ranges = kept_ranges(special, limit, truncation)
                ids = [i for start, end in ranges for i in ids[start:end]]
                special = [s for start, end in ranges for s in special[start:end]]
            # Counted, not listed: this runs for every text on the event loop.
            unknown = (
                sum(1 for i, s in zip(ids, special, strict=True) if i == unk and not s)
                if unk is not None and unk in ids
                else 0
            )
            features = features_from_counts(text, len(ids) - sum(special), unknown)
            results.append(AnalyzedText(len(ids), features, tokens))
        return results


def _one_token_per_ascii_char_at_most(tokenizer: Tokenizer) -> bool:
    """Whether `tokenizer` is BERT-style WordPiece, the kind `tokens_at_most` bounds."""
    return (
        isinstance(tokenizer.model, models.WordPiece)
        and isinstance(tokenizer.normalizer, normalizers.BertNormalizer | None)
        and isinstance(tokenizer.pre_tokenizer, pre_tokenizers.BertPreTokenizer)
    )


def _read_pipeline(path: Path) -> Pipeline:
    """The served model's contract from `path`; the defaults when there is no such file."""
    if not path.is_file():
        return Pipeline(DEFAULT_MAX_LENGTH)
    try:
        return Pipeline.read(path)
    except PipelineError as error:
        raise ConfigurationError(f"the served model's {error}") from None
