"""Request validation: everything a client can send is checked here, nothing elsewhere.

The transport decodes request bytes (`gateway.transport.decoding`) into a `RawRequest`,
or an `UndecodableRequest` carrying the violation; `validate_request` checks a decoded
request against the configured limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from contract.pipeline import TRUNCATIONS
from gateway.core.errors import FieldViolation, ValidationError
from gateway.core.text import AnalyzedText, TextAnalyzer

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
VISIBLE = re.compile(
    r"[^\s\x00-\x1f\x7f-\x9f\u00ad\u115f\u1160\u180e\u200b-\u200f\u2028-\u202f"
    r"\u205f-\u206f\u3164\ufeff\ufff0-\ufffb\U000e0000-\U000e007f]"
)
"""A character that is not whitespace, a control or an invisible format character: a text
without one (NULs, zero-width spaces, BOMs) says nothing to classify."""
REFUSE = ("", "none")
"""RawRequest.truncation values that refuse a text over the token limit (unset, NONE)."""
TRUNCATION_HINT = "set truncation to TRUNCATION_HEAD or TRUNCATION_HEAD_TAIL to cut it instead"


@dataclass(frozen=True)
class UndecodableRequest:
    """Request bytes that could not be accepted; validation raises `error`."""

    error: ValidationError


@dataclass(frozen=True)
class RawRequest:
    """A decoded request, before validation (what every RPC's message comes down to)."""

    texts: list[str]
    request_id: str
    model: str
    batch: bool
    """True for PredictBatch: violations name `texts[i]`, otherwise `text`."""
    truncation: str = ""
    """The request's choice for texts over the token limit: "" (unset) or "none" refuse
    them, "head" and "head_tail" (`contract.pipeline.TRUNCATIONS`) cut them; the transport
    passes anything else (an enum number this release does not know) as it came."""


@dataclass(frozen=True)
class ValidRequest:
    """A request that passed validation."""

    texts: list[str]
    request_id: str
    model: str
    analyzed: list[AnalyzedText] | None
    """Each text's token counts and drift features; None when the texts were not
    tokenized (validation asked for no features, and every text is provably within the
    token limit)."""
    truncation: str | None = None
    """How Triton is to cut texts over the token limit (`head`, `head_tail`); None refuses
    them (and validation has left none)."""
    features: bool = True
    """Whether validation was asked for the drift features (then `analyzed` has them)."""

    @property
    def truncated(self) -> list[bool]:
        """Whether the model reads less than each whole text."""
        if self.analyzed is None:
            return [False] * len(self.texts)
        return [analyzed.truncated for analyzed in self.analyzed]


@dataclass(frozen=True)
class Limits:
    """The limits a request is checked against (from GatewaySettings)."""

    max_text_chars: int | None
    """None: no limit in characters, the token count decides (a character limit cannot
    follow it: WordPiece reads any word over 100 characters as one [UNK])."""
    max_tokens: int
    max_batch_texts: int
    models: tuple[str, ...]


def validate_request(
    raw: RawRequest,
    limits: Limits,
    analyzer: TextAnalyzer,
    request_id: str,
    features: bool = True,
) -> ValidRequest:
    """Check a decoded request; raise ValidationError listing every bad field.

    `request_id` is the call's id as the service chose it (the client's when valid). A
    text's length is checked in tokens: over `max_tokens` it is refused, unless the request
    asks to truncate it (then what the model reads must be within `max_tokens`).
    `features`: whether the caller needs each text's drift features; without them, texts
    that `TextAnalyzer.tokens_at_most` proves within the limit are not tokenized.
    """
    violations: list[FieldViolation] = []
    truncation = None if raw.truncation in REFUSE else raw.truncation
    if truncation is not None and truncation not in TRUNCATIONS:
        violations.append(
            FieldViolation(
                "truncation",
                f"unknown value {truncation}; choose TRUNCATION_NONE, TRUNCATION_HEAD "
                "or TRUNCATION_HEAD_TAIL",
            )
        )
        truncation = None
    if raw.request_id and not REQUEST_ID.fullmatch(raw.request_id):
        violations.append(
            FieldViolation("request_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : -")
        )
    if raw.model and raw.model not in limits.models:
        violations.append(
            FieldViolation("model", f"unknown model; choose one of {', '.join(limits.models)}")
        )
    if raw.batch and not raw.texts:
        violations.append(FieldViolation("texts", "at least one text is required"))
    if len(raw.texts) > limits.max_batch_texts:
        violations.append(
            FieldViolation(
                "texts", f"{len(raw.texts)} texts is over the limit of {limits.max_batch_texts}"
            )
        )
        raise ValidationError(violations)  # do not tokenize an oversized batch
    checked: list[tuple[int, str]] = []
    for index, text in enumerate(raw.texts):
        path = f"texts[{index}]" if raw.batch else "text"
        if "\x00" in text:
            violations.append(FieldViolation(path, "must not contain NUL characters"))
        elif not VISIBLE.search(text):
            violations.append(
                FieldViolation(
                    path, "must contain visible characters (not only whitespace or controls)"
                )
            )
        elif limits.max_text_chars is not None and len(text) > limits.max_text_chars:
            violations.append(
                FieldViolation(
                    path, f"{len(text)} characters is over the limit of {limits.max_text_chars}"
                )
            )
        else:
            checked.append((index, text))
    texts = [text for _, text in checked]
    analyzed = None
    if features or truncation is not None or not _within(texts, limits, analyzer):
        analyzed = analyzer.analyze(texts, truncation) if checked else []
        for (index, _), result in zip(checked, analyzed, strict=True):
            if result.model_tokens > limits.max_tokens:
                path = f"texts[{index}]" if raw.batch else "text"
                problem = f"{result.tokens} tokens is over the limit of {limits.max_tokens}"
                if truncation is None:
                    problem += f"; {TRUNCATION_HINT}"
                else:  # a gateway limit below the model's, which is where truncation cuts
                    problem += f" (truncation cuts texts to the model's {analyzer.max_length})"
                violations.append(FieldViolation(path, problem))
    if violations:
        raise ValidationError(violations)
    return ValidRequest(
        texts=raw.texts,
        request_id=request_id,
        model=raw.model or limits.models[0],
        analyzed=analyzed,
        truncation=truncation,
        features=features,
    )


def _within(texts: list[str], limits: Limits, analyzer: TextAnalyzer) -> bool:
    """Whether every text is provably within the gateway's and the model's token limit."""
    limit = min(limits.max_tokens, analyzer.max_length)
    for text in texts:
        bound = analyzer.tokens_at_most(text)
        if bound is None or bound > limit:
            return False
    return True
