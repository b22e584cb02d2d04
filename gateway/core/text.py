"""The served model's tokenizer, seen from the gateway: token limits and drift features.

The gateway counts word pieces with the same `tokenizer.json` that Triton's tokenizer
step loads, so a text over the limit is refused with a field violation before it costs a
model call, and sampled texts get the features that `training.reference` computes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

from gateway.core.contracts import TextFeatures
from gateway.core.errors import ConfigurationError

TOKENIZER_MODEL = "sentiment_tokenizer"


@dataclass(frozen=True)
class AnalyzedText:
    """A text's model token count (special tokens included) and its drift features."""

    model_tokens: int
    features: TextFeatures


class TextAnalyzer:
    """Counts tokens and computes drift features with the served tokenizer."""

    def __init__(self, tokenizer: Tokenizer, max_length: int) -> None:
        self._tokenizer = tokenizer
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.max_length = max_length
        unk_token = getattr(tokenizer.model, "unk_token", None) or "[UNK]"
        self._unk_id = tokenizer.token_to_id(unk_token)

    @classmethod
    def from_dir(cls, folder: Path) -> TextAnalyzer:
        """`folder/tokenizer.json`; max_length from `folder/../pipeline.json` (else 128)."""
        file = folder / "tokenizer.json"
        if not file.is_file():
            raise ConfigurationError(f"SENTIMENT_TOKENIZER_DIR: no tokenizer.json in {folder}")
        pipeline = folder.parent / "pipeline.json"
        max_length = 128
        if pipeline.is_file():
            max_length = int(json.loads(pipeline.read_text()).get("max_length", max_length))
        return cls(Tokenizer.from_file(str(file)), max_length)

    @classmethod
    def from_repository(cls, repository: Path) -> TextAnalyzer:
        """The newest version of the tokenizer model in a local Triton repository."""
        model = repository / TOKENIZER_MODEL
        versions = sorted(
            (int(p.name) for p in model.iterdir() if p.name.isdigit()) if model.is_dir() else []
        )
        if not versions:
            raise ConfigurationError(
                f"SENTIMENT_TOKENIZER_DIR: unset and no {TOKENIZER_MODEL} version in "
                f"{repository}; publish a model or point the setting at a tokenizer folder"
            )
        return cls.from_dir(model / str(versions[-1]) / "tokenizer")

    def analyze(self, texts: list[str]) -> list[AnalyzedText]:
        results = []
        # encode_batch fans out to a thread pool: not worth it for the few texts of a call.
        encodings = [self._tokenizer.encode(text) for text in texts]
        for text, encoding in zip(texts, encodings, strict=True):
            ids = encoding.ids
            special = encoding.special_tokens_mask
            pieces = len(ids) - sum(special)
            unknown = (
                sum(1 for i, s in zip(ids, special, strict=True) if i == self._unk_id and not s)
                if self._unk_id in ids
                else 0
            )
            non_ascii = 0 if text.isascii() else sum(ord(c) > 127 for c in text)
            features = TextFeatures(
                text_length=len(text),
                token_count=pieces,
                unknown_token_rate=unknown / pieces if pieces else 0.0,
                non_ascii_share=non_ascii / len(text) if text else 0.0,
            )
            results.append(AnalyzedText(len(ids), features))
        return results
